// ss's filter language (ss(8) FILTER, iproute2 misc/ssfilter.y and misc/ss.c): the values a
// parsed filter is made of, and their evaluation on a record.
//
// ss runs a filter twice: the kernel runs the compiled program (inet_diag_bc_run), and ss runs
// the tree again on each socket it receives (run_ssfilter), so a socket is shown when both say
// yes. The two disagree on some conditions, and swstat reproduces what ss shows:
//  - An address prefix. The kernel compares addresses of the same family only (an IPv4 prefix
//    also matches ::ffff:a.b.c.d). ss's second pass compares the leading bits of the 16-byte
//    address whatever its family (lib/utils.c inet_addr_match), so `not dst 0.0.0.0` hides every
//    IPv6 socket whose peer address starts with 32 zero bits, and `dst 0.0.0.0/0` is "any".
//  - `autobound`. The kernel tests that the port was not bound explicitly (SOCK_BINDPORT_LOCK);
//    ss's second pass tests that it lies in ip_local_port_range.
//  - `dev`. ss compiles no program at all when the expression holds `dev` (ssfilter_bytecompile
//    returns 0), so only its second pass filters.
// `ExpressionFilter.plan` says which passes decide; the bytecode compiler emits the same.
// One disagreement is left out: for a TIME_WAIT socket ss's second pass sees mark 0 (the kernel
// sends no INET_DIAG_MARK for it) where the kernel tests tw_mark; swstat keeps the kernel's
// answer, which differs only for TIME_WAIT sockets of marked connections.

/// Which end of a socket a condition tests: ss's `src`/`sport` name the local end, `dst`/`dport`
/// the remote one.
public enum SocketEnd: Hashable, Sendable {
  /// The local address and port (ss's `src`, `sport`).
  case source
  /// The remote address and port (ss's `dst`, `dport`).
  case destination
}

/// A port comparison, as `sport`/`dport` take it.
public enum PortComparison: String, Hashable, Sendable, CaseIterable {
  /// `=`, `==`, `eq` (also no operator at all).
  case equal = "="
  /// `!=`, `ne`, `neq`.
  case notEqual = "!="
  /// `<`, `lt`.
  case less = "<"
  /// `>`, `gt`.
  case greater = ">"
  /// `<=`, `le`, `leq`.
  case lessOrEqual = "<="
  /// `>=`, `ge`, `geq`.
  case greaterOrEqual = ">="

  /// Whether `port` compares true against `operand`.
  @inline(__always)
  public func holds(_ port: UInt16, _ operand: UInt16) -> Bool {
    switch self {
    case .equal: port == operand
    case .notEqual: port != operand
    case .less: port < operand
    case .greater: port > operand
    case .lessOrEqual: port <= operand
    case .greaterOrEqual: port >= operand
    }
  }
}

/// What `src`/`dst` take: addresses (any of them) and a port, either one may be a wildcard.
public struct HostPattern: Hashable, Sendable {
  /// The addresses to match, any one of them (several when a host name resolved to several);
  /// empty for any address (`*`, `any`, or only a port).
  public var prefixes: [AddressPrefix]
  /// The port, nil for any.
  public var port: UInt16?
  /// The host name as typed, when `prefixes` came from looking it up.
  public var name: String?

  /// A pattern from its parts.
  public init(prefixes: [AddressPrefix] = [], port: UInt16? = nil, name: String? = nil) {
    self.prefixes = prefixes
    self.port = port
    self.name = name
  }

  /// Whether ss's two passes can disagree on this pattern (see the file's comment): a first
  /// prefix of length 0 (any address for ss, one family for the kernel), or some prefix whose
  /// leading bits can equal those of an address of the other family.
  var passesDiffer: Bool {
    guard let first = prefixes.first else { return false }
    if first.length == 0 { return true }
    return prefixes.contains { p in
      switch p.address.family {
      case .inet: true
      case .inet6: p.ipv6CanMatchIPv4InSS
      }
    }
  }
}

/// One condition of an expression: the leaves of the tree.
public enum FilterCondition: Hashable, Sendable {
  /// `src`/`dst HOST[:PORT]`.
  case host(SocketEnd, HostPattern)
  /// `sport`/`dport OP PORT`.
  case port(SocketEnd, PortComparison, UInt16)
  /// `dev NAME|INDEX`: the interface the socket is bound to (SO_BINDTODEVICE), by index.
  case device(index: UInt32)
  /// `fwmark MARK[/MASK]`: the socket's mark, masked, equals `value`.
  case mark(UInt32, mask: UInt32)
  /// `cgroup PATH`: the cgroup v2 the socket was created in, by id, and the path as typed.
  case cgroup(id: UInt64, path: String)
  /// `autobound`: the local port was chosen by the kernel. `ephemeralPorts` is
  /// ip_local_port_range when the filter was parsed (ss's user-space test; see the file's comment).
  case autobound(ephemeralPorts: ClosedRange<UInt16>)

  /// The condition's keyword as ss spells it.
  public var keyword: String {
    switch self {
    case .host(let end, _): end == .source ? "src" : "dst"
    case .port(let end, _, _): end == .source ? "sport" : "dport"
    case .device: "dev"
    case .mark: "fwmark"
    case .cgroup: "cgroup"
    case .autobound: "autobound"
    }
  }

  /// Whether only the kernel knows what the condition tests: a record carries no interface,
  /// mark, cgroup or bind lock, and /proc/net has none of them either.
  public var needsKernel: Bool {
    switch self {
    case .host, .port: false
    case .device, .mark, .cgroup, .autobound: true
    }
  }
}

/// An expression tree: conditions joined by `and`, `or` and `not`.
public indirect enum FilterExpression: Hashable, Sendable {
  /// One condition.
  case condition(FilterCondition)
  /// `not`/`!`.
  case not(FilterExpression)
  /// `and`/`&`/`&&`, or two expressions side by side.
  case and(FilterExpression, FilterExpression)
  /// `or`/`|`/`||`.
  case or(FilterExpression, FilterExpression)

  /// Every condition, left to right, with whether an odd number of `not`s is above it.
  func forEachCondition(negated: Bool = false, _ body: (FilterCondition, Bool) -> Void) {
    switch self {
    case .condition(let c): body(c, negated)
    case .not(let e): e.forEachCondition(negated: !negated, body)
    case .and(let a, let b), .or(let a, let b):
      a.forEachCondition(negated: negated, body)
      b.forEachCondition(negated: negated, body)
    }
  }
}

/// What the kernel knows of a socket beyond a `SocketRecord`. Records carry none of it, so the
/// conditions on it are answered by the kernel alone; tests and the fuzz harness supply it to
/// check the compiled program against the Swift evaluation.
@_spi(Testing)
public struct KernelSocketFacts: Hashable, Sendable {
  /// sk_bound_dev_if: the interface index the socket is bound to, 0 for none.
  public var interfaceIndex: UInt32
  /// sk_mark (tw_mark, ir_mark for TIME_WAIT and request sockets).
  public var mark: UInt32
  /// The id of the cgroup v2 the socket was created in; 0 for TIME_WAIT and request sockets.
  public var cgroupID: UInt64
  /// Whether sk_userlocks has SOCK_BINDPORT_LOCK (bind() with a port); false for TIME_WAIT
  /// and request sockets.
  public var portLocked: Bool

  /// Facts from their parts.
  public init(
    interfaceIndex: UInt32 = 0, mark: UInt32 = 0, cgroupID: UInt64 = 0, portLocked: Bool = false
  ) {
    self.interfaceIndex = interfaceIndex
    self.mark = mark
    self.cgroupID = cgroupID
    self.portLocked = portLocked
  }
}

/// ss's filter as trailing command-line words (`[state S ...] [exclude S ...] EXPRESSION`),
/// parsed once (`ExpressionFilter.parse`) and then evaluated per record (`matches`) and compiled
/// to inet_diag bytecode (`bytecode`), both with what ss shows for the same words.
public struct ExpressionFilter: Hashable, Sendable {
  /// Which of ss's two passes decide (see FilterExpression.swift's comment).
  enum Plan: Hashable, Sendable {
    /// The kernel's meaning of each condition alone (ss's second pass can only agree).
    case kernel
    /// ss's user-space meaning alone (the expression has `dev`, or the kernel's pass can only
    /// agree).
    case userSpace
    /// Both, and a socket must pass both.
    case both
  }

  /// The states from `state` and `exclude` words, nil when none were given. Sockets in other
  /// states are left out; `idiag_states` takes it as is.
  public let states: StateMask?
  /// The expression after the state words, nil when there is none.
  public let expression: FilterExpression?
  /// Which passes decide, from the expression's conditions.
  let plan: Plan
  /// The expression as inet_diag bytecode for INET_DIAG_REQ_BYTECODE, filtering as `matches`
  /// with every condition known (ss's two passes, as `plan` says); empty when there is nothing
  /// for the kernel to test, or when the program would be longer than its 16-bit jumps allow.
  /// The states go into `idiag_states` instead (`states`).
  public let bytecode: [UInt8]

  /// A filter from its parts; compiles the expression.
  public init(states: StateMask? = nil, expression: FilterExpression? = nil) {
    self.states = states
    self.expression = expression
    plan = expression.map(Self.plan(for:)) ?? .kernel
    bytecode = Self.program(expression, plan)
  }

  /// Whether the filter keeps every socket (no state words, no expression).
  public var isEmpty: Bool { states == nil && expression == nil }

  /// The first condition only the kernel can answer (`dev`, `fwmark`, `cgroup`, `autobound`), by
  /// its keyword; nil when Swift alone can evaluate the filter, as for /proc/net.
  public var kernelOnlyKeyword: String? {
    var found: String?
    expression?.forEachCondition { c, _ in
      if found == nil && c.needsKernel { found = c.keyword }
    }
    return found
  }

  /// The one line to print when the filter cannot run on /proc/net (`--source proc`), nil when
  /// it can.
  public var procRefusal: String? {
    kernelOnlyKeyword.map {
      "filter: \"\($0)\" needs netlink: /proc/net has no interface, mark, cgroup or bind data"
    }
  }

  /// Whether `record` passes, as far as the record tells: false only when it certainly fails.
  /// Conditions only the kernel answers count as passing (the kernel's program has run on the
  /// record before this re-check); /proc/net must not be used for them (`procRefusal`).
  @inline(__always)
  public func matches(_ record: borrowing SocketRecord) -> Bool {
    evaluate(record, facts: nil) != false
  }

  /// What ss shows for `record`: true, false, or nil when the answer depends on `facts` that
  /// were not given (dev, fwmark, cgroup, the bind lock).
  @_spi(Testing)
  public func evaluate(_ record: borrowing SocketRecord, facts: KernelSocketFacts?) -> Bool? {
    if let states, !states.contains(code: record.stateCode) { return false }
    guard let expression else { return true }
    switch plan {
    case .kernel: return Self.evaluate(expression, record, facts, .kernel)
    case .userSpace: return Self.evaluate(expression, record, facts, .userSpace)
    case .both:
      return Tri.and(
        Self.evaluate(expression, record, facts, .kernel),
        Self.evaluate(expression, record, facts, .userSpace))
    }
  }

  /// The plan for `expression`: ss without a program when it has `dev`; both passes for
  /// `autobound`; for prefixes the kernel's meaning implies ss's (K ⊆ U per condition), so
  /// under no `not` the kernel's pass decides, under `not` only ss's, and both when mixed.
  static func plan(for expression: FilterExpression) -> Plan {
    var device = false
    var autobound = false
    var positive = false
    var negative = false
    expression.forEachCondition { c, negated in
      switch c {
      case .device: device = true
      case .autobound: autobound = true
      case .host(_, let p) where p.passesDiffer:
        if negated { negative = true } else { positive = true }
      default: break
      }
    }
    if device { return .userSpace }
    if autobound || (positive && negative) { return .both }
    return negative ? .userSpace : .kernel
  }

  /// Which meaning a condition has: the kernel's program or ss's second pass.
  enum Pass { case kernel, userSpace }

  static func evaluate(
    _ e: FilterExpression, _ r: borrowing SocketRecord, _ facts: KernelSocketFacts?, _ pass: Pass
  ) -> Bool? {
    switch e {
    case .condition(let c): return evaluate(c, r, facts, pass)
    case .not(let a): return evaluate(a, r, facts, pass).map { !$0 }
    case .and(let a, let b):
      let left = evaluate(a, r, facts, pass)
      if left == false { return false }
      return Tri.and(left, evaluate(b, r, facts, pass))
    case .or(let a, let b):
      let left = evaluate(a, r, facts, pass)
      if left == true { return true }
      return Tri.or(left, evaluate(b, r, facts, pass))
    }
  }

  static func evaluate(
    _ c: FilterCondition, _ r: borrowing SocketRecord, _ facts: KernelSocketFacts?, _ pass: Pass
  ) -> Bool? {
    switch c {
    case .host(let end, let p):
      let endpoint = end == .source ? r.local : r.remote
      if let port = p.port, port != endpoint.port { return false }
      guard let first = p.prefixes.first else { return true }
      switch pass {
      case .kernel: return p.prefixes.contains { $0.contains(endpoint.address) }
      case .userSpace:
        // run_ssfilter tests the first prefix's length only (`if (a->addr.bitlen)`).
        if first.length == 0 { return true }
        return p.prefixes.contains { $0.containsAsSS(endpoint.address) }
      }
    case .port(let end, let op, let port):
      return op.holds(end == .source ? r.local.port : r.remote.port, port)
    case .device(let index): return facts.map { $0.interfaceIndex == index }
    case .mark(let value, let mask): return facts.map { $0.mark & mask == value }
    case .cgroup(let id, _): return facts.map { $0.cgroupID == id }
    case .autobound(let ephemeral):
      switch pass {
      case .kernel: return facts.map { !$0.portLocked }
      case .userSpace: return ephemeral.contains(r.local.port)
      }
    }
  }
}

/// Kleene's three-valued logic on `Bool?` (nil: unknown).
enum Tri {
  @inline(__always)
  static func and(_ a: Bool?, _ b: Bool?) -> Bool? {
    if a == false || b == false { return false }
    if a == true && b == true { return true }
    return nil
  }

  @inline(__always)
  static func or(_ a: Bool?, _ b: Bool?) -> Bool? {
    if a == true || b == true { return true }
    if a == false && b == false { return false }
    return nil
  }
}

extension AddressPrefix {
  /// ss's user-space prefix test (misc/ss.c inet2_addr_match): the leading `length` bits of the
  /// 16-byte address, whatever its family (an IPv4 address is its 4 bytes then 12 zero bytes,
  /// as IPAddress holds it), then for an IPv4 prefix the last 4 bytes of a v4-mapped address.
  func containsAsSS(_ candidate: IPAddress) -> Bool {
    if Self.leadingBitsEqual(address, candidate, length) { return true }
    return address.family == .inet && candidate.isIPv4Mapped
      && contains(
        IPAddress(family: .inet, high: (candidate.low & 0xffff_ffff) << 32, low: 0))
  }

  /// Whether ss's user-space test lets this IPv6 prefix match an IPv4 address: its bits from 32
  /// up to its length are all zero (an IPv4 address has only zero bits there).
  var ipv6CanMatchIPv4InSS: Bool {
    let n = Int(length)
    guard n > 32 else { return true }
    let high =
      n >= 64
      ? address.high & 0xffff_ffff : address.high & (0xffff_ffff << UInt64(64 - n)) & 0xffff_ffff
    let lowMask: UInt64 = n <= 64 ? 0 : n >= 128 ? ~0 : ~0 << UInt64(128 - n)
    return high == 0 && address.low & lowMask == 0
  }

  static func leadingBitsEqual(_ a: IPAddress, _ b: IPAddress, _ length: UInt8) -> Bool {
    let n = Int(length)
    let highMask: UInt64 = n >= 64 ? ~0 : n == 0 ? 0 : ~0 << UInt64(64 - n)
    let lowMask: UInt64 = n <= 64 ? 0 : n >= 128 ? ~0 : ~0 << UInt64(128 - n)
    return (a.high ^ b.high) & highMask == 0 && (a.low ^ b.low) & lowMask == 0
  }
}
