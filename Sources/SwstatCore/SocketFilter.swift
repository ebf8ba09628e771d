/// An address and how many of its leading bits must match, as in `127.0.0.0/8` or `fe80::/10`.
///
/// An IPv4 prefix also matches IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), as the kernel's
/// INET_DIAG_BC_S_COND/D_COND do; an IPv6 prefix never matches an IPv4 address.
public struct AddressPrefix: Hashable, Sendable {
  /// The address; bits past `length` are ignored.
  public var address: IPAddress
  /// The prefix length in bits: 0-32 for IPv4, 0-128 for IPv6.
  public var length: UInt8

  /// A prefix; `length` must fit the family (a programmer error otherwise).
  public init(_ address: IPAddress, length: UInt8) {
    precondition(length <= address.family.bitCount, "prefix /\(length) too long for its family")
    self.address = address
    self.length = length
  }

  /// The whole address: /32 for IPv4, /128 for IPv6.
  public init(_ address: IPAddress) {
    self.init(address, length: address.family.bitCount)
  }

  /// Whether `candidate` lies inside the prefix (the kernel's bitstring_match).
  @inline(__always)
  public func contains(_ candidate: IPAddress) -> Bool {
    switch (address.family, candidate.family) {
    case (.inet, .inet):
      return Self.equal(address.ipv4, candidate.ipv4, bits: length)
    case (.inet, .inet6):
      return candidate.isIPv4Mapped
        && Self.equal(address.ipv4, UInt32(truncatingIfNeeded: candidate.low), bits: length)
    case (.inet6, .inet6):
      let n = Int(length)
      let highMask: UInt64 = n >= 64 ? ~0 : n == 0 ? 0 : ~0 << UInt64(64 - n)
      let lowMask: UInt64 = n <= 64 ? 0 : n >= 128 ? ~0 : ~0 << UInt64(128 - n)
      return (address.high ^ candidate.high) & highMask == 0
        && (address.low ^ candidate.low) & lowMask == 0
    case (.inet6, .inet):
      return false
    }
  }

  @inline(__always)
  private static func equal(_ a: UInt32, _ b: UInt32, bits: UInt8) -> Bool {
    let mask: UInt32 = bits == 0 ? 0 : bits >= 32 ? ~0 : ~0 << UInt32(32 - bits)
    return (a ^ b) & mask == 0
  }
}

extension AddressFamily {
  /// Bits in an address of this family: 32 or 128.
  public var bitCount: UInt8 { self == .inet ? 32 : 128 }
}

/// Which sockets to keep, beyond `SocketQuery`'s tables and netstat's scope: every condition
/// set must hold. "Source" and "sport" name the local end, "destination" and "dport" the remote
/// end, as ss uses the words.
///
/// `matches` is the exact test and every source applies it. `NetlinkSource` also hands the
/// kernel what sock_diag can evaluate (the states into `idiag_states`, ports and addresses as
/// inet_diag bytecode), so unwanted sockets never cross into user space.
public struct SocketFilter: Hashable, Sendable {
  /// States wanted, by the kernel's number, for every transport: a UDP socket is `established`
  /// when connected and `close` when not (as ss filters UDP). Nil: any state.
  public var states: StateMask?
  /// The local port must lie in this range (`--sport`).
  public var sourcePorts: ClosedRange<UInt16>?
  /// The remote port must lie in this range (`--dport`).
  public var destinationPorts: ClosedRange<UInt16>?
  /// The local or the remote port must lie in this range (`--port`).
  public var eitherPort: ClosedRange<UInt16>?
  /// The local address must lie in this prefix (`--src`).
  public var source: AddressPrefix?
  /// The remote address must lie in this prefix (`--dst`).
  public var destination: AddressPrefix?
  /// ss's filter words (states and an expression) must hold too. Its states go into
  /// `idiag_states` with `states`, its program after the options' one (`kernelBytecode`).
  public var expression: ExpressionFilter?

  /// A filter; with no arguments, one that keeps every socket.
  public init(
    states: StateMask? = nil, sourcePorts: ClosedRange<UInt16>? = nil,
    destinationPorts: ClosedRange<UInt16>? = nil, eitherPort: ClosedRange<UInt16>? = nil,
    source: AddressPrefix? = nil, destination: AddressPrefix? = nil,
    expression: ExpressionFilter? = nil
  ) {
    self.states = states
    self.sourcePorts = sourcePorts
    self.destinationPorts = destinationPorts
    self.eitherPort = eitherPort
    self.source = source
    self.destination = destination
    self.expression = expression
  }

  /// Whether no condition is set.
  public var isEmpty: Bool { self == SocketFilter() }

  /// Whether `record` passes every condition set.
  @inline(__always)
  public func matches(_ record: borrowing SocketRecord) -> Bool {
    if let states, !states.contains(code: record.stateCode) { return false }
    if let sourcePorts, !sourcePorts.contains(record.local.port) { return false }
    if let destinationPorts, !destinationPorts.contains(record.remote.port) { return false }
    if let eitherPort, !eitherPort.contains(record.local.port),
      !eitherPort.contains(record.remote.port)
    {
      return false
    }
    if let source, !source.contains(record.local.address) { return false }
    if let destination, !destination.contains(record.remote.address) { return false }
    if let expression, !expression.matches(record) { return false }
    return true
  }
}
