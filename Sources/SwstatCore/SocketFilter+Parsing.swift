import Glibc

/// A filter argument that does not parse: the option, then what is wrong with its value.
public struct FilterParseError: Error, Equatable, CustomStringConvertible {
  /// The option as typed on the command line ("--sport").
  public var option: String
  /// What is wrong, quoting the value (`bad port range "9-3"`).
  public var reason: String

  /// An error for `option`.
  public init(option: String, reason: String) {
    self.option = option
    self.reason = reason
  }

  /// One line: `--sport: bad port range "9-3"`.
  public var description: String { "\(option): \(reason)" }
}

extension SocketFilter {
  /// Builds a filter from the command line's option values (nil: option not given), naming
  /// the option in any error: `--state`, `--sport`, `--dport`, `--port`, `--src`, `--dst`.
  public static func parse(
    state: String? = nil, sport: String? = nil, dport: String? = nil, port: String? = nil,
    src: String? = nil, dst: String? = nil
  ) throws(FilterParseError) -> SocketFilter {
    var f = SocketFilter()
    if let state { f.states = try StateMask(parsing: state, option: "--state") }
    if let sport { f.sourcePorts = try parsePorts(sport, option: "--sport") }
    if let dport { f.destinationPorts = try parsePorts(dport, option: "--dport") }
    if let port { f.eitherPort = try parsePorts(port, option: "--port") }
    if let src { f.source = try AddressPrefix(parsing: src, option: "--src") }
    if let dst { f.destination = try AddressPrefix(parsing: dst, option: "--dst") }
    return f
  }

  /// Parses `PORT` or `PORT-PORT` (decimal, 0-65535, first <= last) into a range.
  public static func parsePorts(
    _ text: String, option: String
  ) throws(FilterParseError) -> ClosedRange<UInt16> {
    let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
    // "-1" is not a range with an empty start: it is a negative port.
    let isRange = parts.count == 2 && !parts[0].isEmpty
    guard let lo = port(parts[0]), let hi = isRange ? port(parts[1]) : lo,
      parts.count == 1 || isRange
    else {
      throw FilterParseError(
        option: option,
        reason: isRange
          ? "bad port range \"\(text)\": expected PORT-PORT, each 0 to 65535"
          : "bad port \"\(text)\": expected a number from 0 to 65535")
    }
    guard lo <= hi else {
      throw FilterParseError(option: option, reason: "bad port range \"\(text)\"")
    }
    return lo...hi
  }

  /// 1 to 5 ASCII digits, at most 65535.
  private static func port(_ s: Substring) -> UInt16? {
    guard (1...5).contains(s.utf8.count), s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let v = UInt32(s), v <= UInt32(UInt16.max)
    else { return nil }
    return UInt16(v)
  }
}

extension StateMask {
  /// Parses a comma-separated list of states and groups, case-insensitively; `-` and `_` are
  /// ignored, so netstat's `TIME_WAIT` and ss's `time-wait` both parse.
  ///
  /// States: established, syn_sent, syn_recv (also syn-rcv, new_syn_recv), fin_wait1, fin_wait2,
  /// time_wait, close (also closed, unconnected), close_wait, last_ack, listen (also listening),
  /// closing.
  /// Groups, as ss(8) defines them: `all`; `connected` (all but listen and close);
  /// `synchronized` (connected but syn_sent); `bucket` (syn_recv, time_wait); `big` (all but
  /// syn_recv and time_wait). `closing` is the one CLOSING state, as in ss.
  public init(parsing text: String, option: String = "--state") throws(FilterParseError) {
    var mask: UInt32 = 0
    for item in text.split(separator: ",", omittingEmptySubsequences: false) {
      let key = String(item.lowercased().filter { $0 != "-" && $0 != "_" })
      guard let bits = Self.names[key] else {
        throw FilterParseError(
          option: option,
          reason: item.isEmpty ? "empty state in \"\(text)\"" : "unknown state \"\(item)\"")
      }
      mask |= bits
    }
    self.init(rawValue: mask)
  }

  /// Normalised name (lowercase, no `-` or `_`) → mask: each counted state's own name (a
  /// request socket's NEW_SYN_RECV counts as SYN_RECV), ss's and netstat's other spellings,
  /// and ss's groups.
  private static let names: [String: UInt32] = {
    func key(_ s: String) -> String { s.filter { $0 != "_" } }
    let synReceived = SocketState.synReceived.maskBit | SocketState.newSynReceived.maskBit
    let all = StateMask.all.rawValue
    let connected = all & ~(SocketState.listen.maskBit | SocketState.close.maskBit)
    let bucket = synReceived | SocketState.timeWait.maskBit
    var names: [String: UInt32] = [:]
    for state in SocketState.counted {
      names[key(state.lowerName)] = state == .synReceived ? synReceived : state.maskBit
    }
    let aliases: [String: UInt32] = [
      "synrcv": synReceived, "newsynrecv": synReceived,
      "closed": SocketState.close.maskBit, "unconnected": SocketState.close.maskBit,
      "listening": SocketState.listen.maskBit,
      "all": all, "connected": connected, "synchronized": connected & ~SocketState.synSent.maskBit,
      "bucket": bucket, "big": all & ~bucket,
    ]
    names.merge(aliases) { a, _ in a }
    return names
  }()
}

extension AddressPrefix {
  /// Parses `ADDR` or `ADDR/PREFIX`, IPv4 or IPv6 (an IPv6 address may be in brackets); no
  /// prefix means the whole address.
  public init(parsing text: String, option: String) throws(FilterParseError) {
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    var host = parts[0]
    if host.hasPrefix("["), host.hasSuffix("]"), host.count >= 2 {
      host = host.dropFirst().dropLast()
    }
    guard let address = Self.address(String(host)) else {
      throw FilterParseError(option: option, reason: "bad address \"\(text)\"")
    }
    let bits = address.family.bitCount
    guard parts.count == 2 else {
      self.init(address)
      return
    }
    let p = parts[1]
    guard (1...3).contains(p.utf8.count), p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let length = UInt8(p), length <= bits
    else {
      let family = address.family == .inet ? "IPv4" : "IPv6"
      throw FilterParseError(
        option: option,
        reason: "bad prefix length \"\(p)\" in \"\(text)\": \(family) allows 0 to \(bits)")
    }
    self.init(address, length: length)
  }

  /// inet_pton, IPv4 first.
  private static func address(_ text: String) -> IPAddress? {
    // inet_pton would stop at a NUL and accept "127.0.0.1\0junk" as 127.0.0.1 (found by
    // Tests/Fuzz/FuzzParsers.swift).
    guard !text.utf8.contains(0) else { return nil }
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
      return withUnsafeBytes(of: &v4) { IPAddress(family: .inet, bytes: $0) }
    }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 {
      return withUnsafeBytes(of: &v6) { IPAddress(family: .inet6, bytes: $0) }
    }
    return nil
  }
}
