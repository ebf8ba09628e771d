// Filters written back as ss's words, one token per blank-separated word: `ExpressionFilter.parse`
// reads the text back to an equal value (a host name and a cgroup path are looked up again).

extension ExpressionFilter: CustomStringConvertible {
  /// The state words, then the expression: `state established ( dport = :22 or sport = :22 )`.
  public var description: String {
    var parts: [String] = []
    if let states { parts.append(Self.stateWords(states)) }
    if let expression { parts.append(expression.description) }
    return parts.joined(separator: " ")
  }

  /// `state` words that rebuild `mask` (`state all`, `exclude all` for none).
  static func stateWords(_ mask: StateMask) -> String {
    if mask == .all { return "state all" }
    if mask.rawValue == 0 { return "exclude all" }
    let names: [(UInt8, String)] = [
      (0, "unknown"), (1, "established"), (2, "syn-sent"), (3, "syn-recv"), (4, "fin-wait-1"),
      (5, "fin-wait-2"), (6, "time-wait"), (7, "closed"), (8, "close-wait"), (9, "last-ack"),
      (10, "listening"), (11, "closing"),
    ]
    return names.filter { mask.contains(code: $0.0) }.map { "state " + $0.1 }.joined(
      separator: " ")
  }
}

extension FilterExpression: CustomStringConvertible {
  /// ss's words; `and` and `or` have one precedence and group to the left, so a right operand
  /// that is itself `and`/`or` gets parentheses.
  public var description: String {
    switch self {
    case .condition(let c): c.description
    case .not(let e): "not " + e.operand
    case .and(let a, let b): a.description + " and " + b.operand
    case .or(let a, let b): a.description + " or " + b.operand
    }
  }

  private var operand: String {
    switch self {
    case .and, .or: "( " + description + " )"
    case .condition, .not: description
    }
  }
}

extension FilterCondition: CustomStringConvertible {
  /// One condition as ss's words: `dst 10.0.0.0/8:443`, `sport >= :1024`, `fwmark 0x1/0xff`.
  public var description: String {
    switch self {
    case .host(_, let p): keyword + " " + p.description
    case .port(_, let op, let port): "\(keyword) \(op.rawValue) :\(port)"
    case .device(let index): "dev \(index)"
    case .mark(let value, let mask):
      "fwmark 0x\(String(value, radix: 16))/0x\(String(mask, radix: 16))"
    case .cgroup(_, let path): "cgroup " + escapedFilterWord(path)
    case .autobound: "autobound"
    }
  }
}

extension HostPattern: CustomStringConvertible {
  /// ss's HOST[:PORT]: `*`, `:22`, `10.0.0.0/8:22`, `[fe80::/10]:22`, a host name. Several
  /// prefixes without a name have no one-word form; they print as the first.
  public var description: String {
    let port = self.port.map { ":\($0)" } ?? ""
    if let name { return escapedFilterWord(name) + port }
    guard let p = prefixes.first else { return port.isEmpty ? "*" : port }
    let text = formatAddress(p.address) + "/\(p.length)"
    return p.address.family == .inet ? text + port : "[" + text + "]" + port
  }
}

/// An address as inet_ntop writes it.
func formatAddress(_ address: IPAddress) -> String {
  if address.family == .inet {
    let v = address.ipv4
    return (0..<4).map { String((v >> UInt32(24 - 8 * $0)) & 0xff) }.joined(separator: ".")
  }
  // RFC 5952: the longest run of two or more zero groups becomes "::" (the first such run).
  let groups = (0..<8).map { i -> UInt16 in
    let word = i < 4 ? address.high : address.low
    return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (i % 4)))
  }
  var best = (start: -1, count: 0)
  var i = 0
  while i < 8 {
    if groups[i] == 0 {
      var j = i
      while j < 8 && groups[j] == 0 { j += 1 }
      if j - i > best.count && j - i >= 2 { best = (i, j - i) }
      i = j
    } else {
      i += 1
    }
  }
  let hex = groups.map { String($0, radix: 16) }
  if address.isIPv4Mapped {
    let v = UInt32(truncatingIfNeeded: address.low)
    return "::ffff:"
      + (0..<4).map { String((v >> UInt32(24 - 8 * $0)) & 0xff) }.joined(separator: ".")
  }
  guard best.start >= 0 else { return hex.joined(separator: ":") }
  let head = hex[..<best.start].joined(separator: ":")
  let tail = hex[(best.start + best.count)...].joined(separator: ":")
  return head + "::" + tail
}

/// A value written so the tokenizer reads it back as one token: blanks and backslashes get a
/// backslash, as do a leading "(" and a trailing ")".
func escapedFilterWord(_ text: String) -> String {
  let bytes = Array(text.utf8)
  var out: [UInt8] = []
  for (i, b) in bytes.enumerated() {
    let blank = b == 0x20 || (0x09...0x0d).contains(b)
    if blank || b == 0x5c || (i == 0 && b == 0x28) || (i == bytes.count - 1 && b == 0x29) {
      out.append(0x5c)
    }
    out.append(b)
  }
  return String(decoding: out, as: UTF8.self)
}
