import Glibc

// The parser for ss's filter words, following what ss 6.1 (iproute2 misc/ssfilter.y, misc/ss.c
// main and parse_hostcond) accepts:
//  - `state S` / `exclude S` (`excl`) words come first; `state` starts from no state, `exclude`
//    from all, and each word adds or removes in order. State names as ss's scan_state knows them,
//    in any case.
//  - Conditions, `not`/`!`, parentheses, and `and`/`or` (`&`, `&&`, `|`, `||`, or nothing for
//    `and`) with equal precedence, left to right: `a or b and c` is `(a or b) and c`, as ss's
//    grammar builds it (its man page claims `and` binds tighter; ss 6.1 does not).
//  - Each word is split again at blanks (a backslash keeps the next character), so one word may
//    hold the whole expression. Keywords are case-sensitive, as in ss.
// Where swstat accepts more than ss, nothing ss accepts changes meaning: a "(" at the start or
// a ")" at the end of a word is split off (ss needs them apart), `state` words may sit in the
// same word as the expression, and `cgroup /` is the root cgroup.
// Where swstat refuses what ss takes, ss's answer has no use: ports below 0 or above 65535 (ss
// reads -1 as "any port" and cuts the others to 16 bits in its program but not in its second
// pass), `*` as the port of < > <= >=, a mark with text after its number (sscanf's), family
// prefixes (`unix:`, `inet:` ...; swstat's filter is for tcp and udp sockets, -4/-6 choose the
// family), more than 256 levels of "(" and `not` or more than 4096 conditions. Service names
// come from getservbyname only (ss also asks the portmapper for RPC names).
// A host name stands for all its addresses (getaddrinfo) in both of ss's passes; ss 6.1's
// program tests its first address once per address (ssfilter_bytecompile copies `a`, not `b`),
// so where a name has several, swstat keeps the sockets of the others too.

/// A filter that does not parse: the offending token, where it is, and why, in one line.
public struct FilterSyntaxError: Error, Equatable, CustomStringConvertible {
  /// What is wrong with the token: `unexpected ")"`, `bad port "sshx"`.
  public var message: String
  /// Where: `word 4`, `word 2 ("( dport = :ssh")`, `line 3`.
  public var location: String
  /// Why, or what was expected; nil when the message says it all.
  public var detail: String?
  /// The 0-based index of the word (or line) that holds the token.
  public var wordIndex: Int

  /// An error from its parts.
  public init(message: String, location: String, detail: String? = nil, wordIndex: Int) {
    self.message = message
    self.location = location
    self.detail = detail
    self.wordIndex = wordIndex
  }

  /// One line: `filter: unexpected ")" at word 4: no "(" is open`.
  public var description: String {
    "filter: \(message) at \(location)" + (detail.map { ": \($0)" } ?? "")
  }
}

/// What parsing looks up outside the words: service names, host names, interfaces, cgroups and
/// the ephemeral port range. `system` asks the running system; tests pass their own.
public struct FilterEnvironment: Sendable {
  /// The transports a service name is looked up for (ss: the tables being listed); a name that
  /// means different ports for them is refused as ambiguous.
  public var transports: [TransportProtocol]
  /// The port of a service name for one transport (getservbyname), nil when unknown.
  public var servicePort: @Sendable (_ name: String, _ transport: TransportProtocol) -> UInt16?
  /// The addresses of a host name (getaddrinfo), empty when it has none.
  public var hostAddresses: @Sendable (_ name: String) -> [IPAddress]
  /// The index of an interface name (if_nametoindex), nil when there is none.
  public var interfaceIndex: @Sendable (_ name: String) -> UInt32?
  /// The id of a cgroup v2 given by its path, absolute or under the cgroup2 mount; nil when
  /// there is no such cgroup.
  public var cgroupID: @Sendable (_ path: String) -> UInt64?
  /// ip_local_port_range, read when `autobound` is parsed.
  public var ephemeralPorts: @Sendable () -> ClosedRange<UInt16>

  /// An environment from its parts.
  public init(
    transports: [TransportProtocol] = [.tcp, .udp],
    servicePort: @escaping @Sendable (String, TransportProtocol) -> UInt16?,
    hostAddresses: @escaping @Sendable (String) -> [IPAddress],
    interfaceIndex: @escaping @Sendable (String) -> UInt32?,
    cgroupID: @escaping @Sendable (String) -> UInt64?,
    ephemeralPorts: @escaping @Sendable () -> ClosedRange<UInt16>
  ) {
    self.transports = transports
    self.servicePort = servicePort
    self.hostAddresses = hostAddresses
    self.interfaceIndex = interfaceIndex
    self.cgroupID = cgroupID
    self.ephemeralPorts = ephemeralPorts
  }
}

extension ExpressionFilter {
  /// Parses the filter words that follow the options (`state established '( dport = :ssh or
  /// sport = :ssh )'`); an empty list keeps every socket. Errors name the word by its 1-based
  /// position in `words`.
  public static func parse(
    _ words: [String], environment: FilterEnvironment = .system
  ) throws(FilterSyntaxError) -> ExpressionFilter {
    var parser = FilterParser(words: words, unit: "word", environment: environment)
    return try parser.filter()
  }

  /// Parses a filter file's text (ss -F): its lines are the words, a line starting with `#` is
  /// a comment. Errors name the line.
  public static func parse(
    text: String, environment: FilterEnvironment = .system
  ) throws(FilterSyntaxError) -> ExpressionFilter {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
      $0.hasPrefix("#") ? "" : String($0)
    }
    var parser = FilterParser(words: lines, unit: "line", environment: environment)
    return try parser.filter()
  }
}

/// One token of the filter and the word it came from.
struct FilterToken {
  var text: String
  var word: Int
}

/// ss's keywords, by what they do.
enum FilterKeyword {
  case open, close, not, and, or
  case condition
  case comparison(PortComparison)
  case state

  init?(_ text: String) {
    switch text {
    case "(": self = .open
    case ")": self = .close
    case "!", "not": self = .not
    case "&", "&&", "and": self = .and
    case "|", "||", "or": self = .or
    case "src", "dst", "sport", "dport", "dev", "fwmark", "cgroup", "autobound": self = .condition
    case "=", "==", "eq": self = .comparison(.equal)
    case "!=", "ne", "neq": self = .comparison(.notEqual)
    case "<", "lt": self = .comparison(.less)
    case ">", "gt": self = .comparison(.greater)
    case "<=", "le", "leq": self = .comparison(.lessOrEqual)
    case ">=", "ge", "geq": self = .comparison(.greaterOrEqual)
    case "state", "exclude", "excl": self = .state
    default: return nil
    }
  }
}

/// Splits filter words into tokens: at blanks, a backslash keeping the next byte as is (ss's
/// get_token_from_line), and a "(" at the start or a ")" at the end of a token split off.
func filterTokens(_ words: [String]) -> [FilterToken] {
  var tokens: [FilterToken] = []
  for (index, word) in words.enumerated() {
    let bytes = Array(word.utf8)
    var i = 0
    while i < bytes.count {
      var text: [UInt8] = []
      var escaped: [Bool] = []
      while i < bytes.count {
        let b = bytes[i]
        if b == 0x5c {  // backslash: the next byte is literal; a trailing one is dropped
          if i + 1 < bytes.count {
            text.append(bytes[i + 1])
            escaped.append(true)
          }
          i += 2
          continue
        }
        if b == 0x20 || (0x09...0x0d).contains(b) {
          if text.isEmpty {
            i += 1
            continue
          }
          break
        }
        text.append(b)
        escaped.append(false)
        i += 1
      }
      if text.isEmpty { continue }
      var start = 0
      var end = text.count
      while end - start > 1 && text[start] == 0x28 && !escaped[start] {
        tokens.append(FilterToken(text: "(", word: index))
        start += 1
      }
      var closing = 0
      while end - start > 1 && text[end - 1] == 0x29 && !escaped[end - 1] {
        end -= 1
        closing += 1
      }
      tokens.append(
        FilterToken(text: String(decoding: text[start..<end], as: UTF8.self), word: index))
      for _ in 0..<closing { tokens.append(FilterToken(text: ")", word: index)) }
    }
  }
  return tokens
}

/// Recursive descent over the tokens, in ss's grammar (see the file's comment).
struct FilterParser {
  let words: [String]
  let unit: String
  let environment: FilterEnvironment
  let tokens: [FilterToken]
  var at = 0
  /// "(" and `not` open around the token being parsed.
  var depth = 0
  /// Conditions so far.
  var conditions = 0

  /// How deep "(" and `not` may nest, and how many conditions a filter may have: the tree is
  /// walked recursively (an `and`/`or` chain is as deep as it is long), so both bound the stack.
  static let maximumDepth = 256
  static let maximumConditions = 4096

  init(words: [String], unit: String, environment: FilterEnvironment) {
    self.words = words
    self.unit = unit
    self.environment = environment
    tokens = filterTokens(words)
  }

  var peek: FilterToken? { at < tokens.count ? tokens[at] : nil }

  mutating func next() -> FilterToken? {
    defer { at += 1 }
    return peek
  }

  mutating func filter() throws(FilterSyntaxError) -> ExpressionFilter {
    var states: UInt32? = nil
    while let t = peek, case .state = FilterKeyword(t.text) {
      at += 1
      guard let name = next() else {
        throw error(at: t, "nothing after \(quoted(t.text))", "expected a state name")
      }
      guard let bits = StateMask.ssNames[name.text.lowercased()] else {
        throw error(
          at: name, "unknown state \(quoted(name.text))",
          "ss's names are " + StateMask.ssNameList.joined(separator: ", "))
      }
      states = t.text == "state" ? (states ?? 0) | bits : (states ?? StateMask.all.rawValue) & ~bits
    }
    var expression: FilterExpression? = nil
    if peek != nil {
      expression = try list()
      if let t = peek { throw error(at: t, "unexpected \")\"", "no \"(\" is open") }
    }
    return ExpressionFilter(states: states.map(StateMask.init(rawValue:)), expression: expression)
  }

  /// Conditions joined left to right, up to a ")" or the end.
  mutating func list() throws(FilterSyntaxError) -> FilterExpression {
    var left = try primary(after: nil)
    while let t = peek {
      switch FilterKeyword(t.text) {
      case .close: return left
      case .and:
        at += 1
        left = .and(left, try primary(after: t))
      case .or:
        at += 1
        left = .or(left, try primary(after: t))
      case .open, .not, .condition, .state: left = .and(left, try primary(after: nil))
      default:
        throw error(at: t, "unexpected \(quoted(t.text))", "expected and, or, or a condition")
      }
    }
    return left
  }

  /// A condition, a `not` and what it negates, or a parenthesised list.
  mutating func primary(after previous: FilterToken?) throws(FilterSyntaxError) -> FilterExpression
  {
    guard let t = next() else {
      // filter() parses a list only when a token is left, so there is a last one.
      let last = previous ?? tokens[tokens.count - 1]
      throw error(at: last, "nothing after \(quoted(last.text))", "expected a condition")
    }
    let keyword = FilterKeyword(t.text)
    if case .open = keyword, depth >= Self.maximumDepth { throw tooDeep(t) }
    if case .not = keyword, depth >= Self.maximumDepth { throw tooDeep(t) }
    switch keyword {
    case .open:
      depth += 1
      defer { depth -= 1 }
      let inner = try list()
      guard peek?.text == ")" else { throw error(at: t, "no \")\" for the \"(\"", nil) }
      at += 1
      return inner
    case .not:
      depth += 1
      defer { depth -= 1 }
      return .not(try primary(after: t))
    case .condition: return try condition(t)
    case .state:
      throw error(
        at: t, "\(quoted(t.text)) after the expression", "state and exclude words go first")
    case .close: throw error(at: t, "unexpected \")\"", "expected a condition")
    case nil:
      throw error(
        at: t, "unknown condition \(quoted(t.text))",
        "expected src, dst, sport, dport, dev, fwmark, cgroup, autobound, not or \"(\"")
    default: throw error(at: t, "unexpected \(quoted(t.text))", "expected a condition")
    }
  }

  func tooDeep(_ t: FilterToken) -> FilterSyntaxError {
    error(at: t, "too deeply nested", "at most \(Self.maximumDepth) levels of \"(\" and not")
  }

  mutating func condition(_ keyword: FilterToken) throws(FilterSyntaxError) -> FilterExpression {
    conditions += 1
    if conditions > Self.maximumConditions {
      throw error(at: keyword, "too many conditions", "at most \(Self.maximumConditions)")
    }
    switch keyword.text {
    case "src", "dst":
      let end: SocketEnd = keyword.text == "src" ? .source : .destination
      var previous = keyword
      if let op = peek, case .comparison(let c) = FilterKeyword(op.text) {
        guard c == .equal else {
          throw error(
            at: op, "\(quoted(keyword.text)) takes no \(quoted(op.text))",
            "only = or nothing; for the opposite write not \(keyword.text) ...")
        }
        at += 1
        previous = op
      }
      let value = try value(after: previous, "an address")
      return .condition(.host(end, try host(value)))
    case "sport", "dport":
      let end: SocketEnd = keyword.text == "sport" ? .source : .destination
      var previous = keyword
      var comparison = PortComparison.equal
      if let op = peek, case .comparison(let c) = FilterKeyword(op.text) {
        comparison = c
        at += 1
        previous = op
      }
      let value = try value(after: previous, "a port")
      guard let port = try port(value, portOnly: true) else {
        switch comparison {
        case .equal: return .condition(.host(end, HostPattern()))
        case .notEqual: return .not(.condition(.host(end, HostPattern())))
        default:
          throw error(
            at: value, "bad port \(quoted(value.text))",
            "\(comparison.rawValue) needs a port number")
        }
      }
      return .condition(.port(end, comparison, port))
    case "autobound":
      return .condition(.autobound(ephemeralPorts: environment.ephemeralPorts()))
    default:  // dev, fwmark, cgroup: = (or nothing) and !=
      var previous = keyword
      var negated = false
      if let op = peek, case .comparison(let c) = FilterKeyword(op.text) {
        guard c == .equal || c == .notEqual else {
          throw error(
            at: op, "\(quoted(keyword.text)) takes no \(quoted(op.text))", "only =, != or nothing")
        }
        negated = c == .notEqual
        at += 1
        previous = op
      }
      let what = ["dev": "an interface", "fwmark": "a mark", "cgroup": "a cgroup path"]
      let value = try value(after: previous, what[keyword.text] ?? "a value")
      let c: FilterCondition
      switch keyword.text {
      case "dev": c = .device(index: try device(value))
      case "fwmark":
        let (mark, mask) = try mark(value)
        c = .mark(mark, mask: mask)
      default:
        guard let id = environment.cgroupID(value.text) else {
          throw error(
            at: value, "no cgroup \(quoted(value.text))",
            "expected a cgroup v2 directory, absolute or under the cgroup2 mount")
        }
        c = .cgroup(id: id, path: value.text)
      }
      return negated ? .not(.condition(c)) : .condition(c)
    }
  }

  /// The value after a keyword or operator: any token that is not a keyword.
  mutating func value(after previous: FilterToken, _ what: String) throws(FilterSyntaxError)
    -> FilterToken
  {
    guard let v = peek else {
      throw error(at: previous, "nothing after \(quoted(previous.text))", "expected \(what)")
    }
    if FilterKeyword(v.text) != nil {
      throw error(
        at: v, "unexpected \(quoted(v.text))", "expected \(what) after \(quoted(previous.text))")
    }
    at += 1
    return v
  }

  // MARK: values

  /// ss's `HOST[:PORT]` (parse_hostcond): `[ADDR]:PORT` for IPv6; `*` for any address or port;
  /// otherwise the port follows the last ':' (after the '/' when there is a prefix length).
  func host(_ token: FilterToken) throws(FilterSyntaxError) -> HostPattern {
    try refuseFamilyPrefix(token)
    do {
      return try splitHost(token)
    } catch {
      // `::1` splits into ":" and port 1; ss fails there too, so say what would work.
      if !token.text.hasPrefix("["), Self.prefix(Substring(token.text))?.address.family == .inet6 {
        throw self.error(
          at: token, "bad address \(quoted(token.text))",
          "put an IPv6 address in brackets: [\(visible(token.text))] or [\(visible(token.text))]:PORT"
        )
      }
      throw error
    }
  }

  func splitHost(_ token: FilterToken) throws(FilterSyntaxError) -> HostPattern {
    let text = Substring(token.text)
    var address: Substring
    var portText: Substring? = nil
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else {
        throw error(at: token, "bad address \(quoted(token.text))", "no \"]\" after \"[\"")
      }
      address = text[text.index(after: text.startIndex)..<close]
      portText = text[text.index(after: close)...]
      if portText?.hasPrefix("/") == true {
        throw error(
          at: token, "bad address \(quoted(token.text))",
          "the prefix length goes inside the brackets: [\(visible(address + (portText ?? "")))]")
      }
    } else if text.hasPrefix("*") {
      address = "*"
      portText = text.dropFirst()
    } else {
      let from = text.firstIndex(of: "/") ?? text.startIndex
      if let colon = text[from...].lastIndex(of: ":") {
        address = text[..<colon]
        portText = text[colon...]
      } else {
        address = text
      }
    }
    var pattern = HostPattern()
    if var p = portText {
      if p.hasPrefix(":") { p = p.dropFirst() }
      if !p.isEmpty && p != "*" { pattern.port = try port(named: p, token) }
    }
    if address.isEmpty || address.hasPrefix("*") || ["any", "all", "default"].contains(address) {
      return pattern
    }
    if let prefix = Self.prefix(address) {
      pattern.prefixes = [prefix]
      return pattern
    }
    let name = String(address)
    if !address.contains("/") && !address.utf8.contains(0) {
      let found = environment.hostAddresses(name)
      if !found.isEmpty {
        var unique: [AddressPrefix] = []
        for a in found where !unique.contains(AddressPrefix(a)) { unique.append(AddressPrefix(a)) }
        pattern.prefixes = unique
        pattern.name = name
        return pattern
      }
    }
    throw error(
      at: token, "bad address \(quoted(token.text))",
      "not an address, a prefix or a known host name")
  }

  /// ss takes `unix:`, `inet:` ... before an address and then lists only that family; swstat's
  /// filter is for internet sockets, whose family -4 and -6 choose.
  func refuseFamilyPrefix(_ token: FilterToken) throws(FilterSyntaxError) {
    for family in ["unix:", "link:", "netlink:", "vsock:", "inet:", "inet6:"]
    where token.text.hasPrefix(family) {
      throw error(
        at: token, "family \(quoted(family.dropLast())) in \(quoted(token.text))",
        family.hasPrefix("inet")
          ? "not supported: use -4 or -6" : "swstat filters tcp and udp sockets only")
    }
  }

  /// A port for `sport`/`dport`: `:PORT`, `PORT`, a service name; nil for `*`, `:*` or `:`.
  func port(_ token: FilterToken, portOnly: Bool) throws(FilterSyntaxError) -> UInt16? {
    try refuseFamilyPrefix(token)
    var p = Substring(token.text)
    if p.hasPrefix(":") { p = p.dropFirst() }
    if p.isEmpty || p == "*" { return nil }
    return try port(named: p, token)
  }

  /// A number as C's strtol reads it with base 0 (`22`, `0x16`, `026`), or a service name;
  /// the same name meaning different ports for tcp and udp is ambiguous, as in ss.
  func port(named p: Substring, _ token: FilterToken) throws(FilterSyntaxError) -> UInt16 {
    if let n = Self.cNumber(p) {
      guard n <= UInt64(UInt16.max) else {
        throw error(at: token, "bad port \(quoted(p))", "ports go from 0 to 65535")
      }
      return UInt16(n)
    }
    var found: [(TransportProtocol, UInt16)] = []
    if !p.utf8.contains(0) {
      for t in environment.transports {
        if let port = environment.servicePort(String(p), t) { found.append((t, port)) }
      }
    }
    guard let first = found.first else {
      throw error(
        at: token, "bad port \(quoted(p))", "not a number from 0 to 65535 or a known service name")
    }
    if let other = found.first(where: { $0.1 != first.1 }) {
      throw error(
        at: token, "ambiguous port \(quoted(p))",
        "\(first.0) \(first.1), \(other.0) \(other.1): give the number")
    }
    return first.1
  }

  /// `dev NAME|INDEX`: an interface name, else a number (ss's parse_devcond).
  func device(_ token: FilterToken) throws(FilterSyntaxError) -> UInt32 {
    if !token.text.utf8.contains(0), let index = environment.interfaceIndex(token.text) {
      return index
    }
    if let n = Self.cNumber(Substring(token.text)), n <= UInt64(UInt32.max) { return UInt32(n) }
    throw error(at: token, "unknown interface \(quoted(token.text))", "expected a name or an index")
  }

  /// `fwmark MARK[/MASK]`, each a C number up to 0xffffffff; no mask is all ones.
  func mark(_ token: FilterToken) throws(FilterSyntaxError) -> (UInt32, UInt32) {
    let parts = token.text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let numbers = parts.map {
      Self.cNumber($0).flatMap { $0 <= UInt64(UInt32.max) ? UInt32($0) : nil }
    }
    guard let mark = numbers[0], numbers.count == 1 || numbers[1] != nil else {
      throw error(
        at: token, "bad mark \(quoted(token.text))",
        "expected MARK or MARK/MASK, numbers up to 0xffffffff")
    }
    return (mark, numbers.count == 2 ? numbers[1] ?? 0 : UInt32.max)
  }

  func error(at token: FilterToken, _ message: String, _ detail: String?) -> FilterSyntaxError {
    let word = words[token.word]
    var location = "\(unit) \(token.word + 1)"
    if word.trimmingBlanks != token.text {
      location += " (\(quoted(word.trimmingBlanks)))"
    }
    return FilterSyntaxError(
      message: message, location: location, detail: detail, wordIndex: token.word)
  }

  // MARK: numbers and addresses, as iproute2 reads them

  /// An unsigned number as C's strtoul reads it with base 0 (an optional '+', then `0x` hex,
  /// `0` octal, or decimal), the whole text; nil otherwise or beyond 2^32 * 2^16.
  static func cNumber(_ text: Substring) -> UInt64? {
    var s = text.utf8[...]
    if s.first == UInt8(ascii: "+") { s = s.dropFirst() }
    var radix: UInt64 = 10
    if s.count >= 2 && s.first == UInt8(ascii: "0")
      && (s.dropFirst().first == UInt8(ascii: "x") || s.dropFirst().first == UInt8(ascii: "X"))
    {
      radix = 16
      s = s.dropFirst(2)
    } else if s.count >= 2 && s.first == UInt8(ascii: "0") {
      radix = 8
      s = s.dropFirst()
    }
    guard !s.isEmpty, s.count <= 24 else { return nil }
    var value: UInt64 = 0
    for b in s {
      let digit: UInt64
      switch b {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(b - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(b - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(b - UInt8(ascii: "A") + 10)
      default: return nil
      }
      guard digit < radix else { return nil }
      value = value * radix + digit
      if value > 1 << 48 { return nil }
    }
    return value
  }

  /// iproute2's get_prefix_1: `ADDR[/LEN]`, where ADDR with a ':' is IPv6 (inet_pton) and
  /// otherwise up to four C numbers joined by dots with the missing ones zero (`10/8` is
  /// 10.0.0.0/8), and LEN a number or an IPv4 netmask; no LEN is the whole address.
  static func prefix(_ text: Substring) -> AddressPrefix? {
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    guard let address = parts[0].contains(":") ? ipv6(parts[0]) : ipv4(parts[0]) else {
      return nil
    }
    let bits = address.family.bitCount
    guard parts.count == 2 else { return AddressPrefix(address) }
    var length: UInt64
    if let n = cNumber(parts[1]) {
      length = n
    } else if let mask = ipv4(parts[1]), let n = maskBits(mask.ipv4) {
      length = UInt64(n)
    } else {
      return nil
    }
    guard length <= UInt64(bits) else { return nil }
    return AddressPrefix(address, length: UInt8(length))
  }

  /// iproute2's get_addr_ipv4: up to four C numbers, each at most 255, joined by dots.
  static func ipv4(_ text: Substring) -> IPAddress? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard (1...4).contains(parts.count) else { return nil }
    var value: UInt32 = 0
    for (i, part) in parts.enumerated() {
      guard let n = cNumber(part), n <= 255 else { return nil }
      value |= UInt32(n) << UInt32(24 - 8 * i)
    }
    return IPAddress(family: .inet, high: UInt64(value) << 32, low: 0)
  }

  static func ipv6(_ text: Substring) -> IPAddress? {
    guard !text.utf8.contains(0) else { return nil }
    var v6 = in6_addr()
    guard inet_pton(AF_INET6, String(text), &v6) == 1 else { return nil }
    return withUnsafeBytes(of: &v6) { IPAddress(family: .inet6, bytes: $0) }
  }

  /// The prefix length of a netmask (ones then zeros), nil for anything else.
  static func maskBits(_ mask: UInt32) -> UInt8? {
    let host = ~mask
    guard host & (host &+ 1) == 0 else { return nil }
    return UInt8(mask.nonzeroBitCount)
  }
}

/// `text` in double quotes, for a message: control characters become `\xHH`, so an error
/// stays one line whatever the words held.
func quoted(_ text: some StringProtocol) -> String {
  "\"" + visible(text) + "\""
}

/// `text` with whatever could steer a terminal or split a line written as `\xHH`
/// (`VisibleText`'s rule, the renderers' own).
func visible(_ text: some StringProtocol) -> String {
  VisibleText.escaped(text, backslash: false)
}

extension String {
  /// The text without leading and trailing blanks.
  fileprivate var trimmingBlanks: String {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
    return String(self.drop(while: blank).reversed().drop(while: blank).reversed())
  }
}

extension StateMask {
  /// ss's state words (misc/ss.c scan_state), lowercased → mask. `unknown` is state 0, which no
  /// socket has; syn-recv includes the kernel's request sockets (12).
  static let ssNames: [String: UInt32] = {
    let synReceived = SocketState.synReceived.maskBit | SocketState.newSynReceived.maskBit
    let all = StateMask.all.rawValue
    let connected = all & ~(SocketState.listen.maskBit | SocketState.close.maskBit)
    let bucket = synReceived | SocketState.timeWait.maskBit
    return [
      "unknown": 1,
      "established": SocketState.established.maskBit,
      "syn-sent": SocketState.synSent.maskBit,
      "syn-recv": synReceived, "syn-rcv": synReceived,
      "fin-wait-1": SocketState.finWait1.maskBit,
      "fin-wait-2": SocketState.finWait2.maskBit,
      "time-wait": SocketState.timeWait.maskBit,
      "unconnected": SocketState.close.maskBit, "close": SocketState.close.maskBit,
      "closed": SocketState.close.maskBit,
      "close-wait": SocketState.closeWait.maskBit,
      "last-ack": SocketState.lastAck.maskBit,
      "listening": SocketState.listen.maskBit,
      "closing": SocketState.closing.maskBit,
      "all": all,
      "connected": connected,
      "synchronized": connected & ~SocketState.synSent.maskBit,
      "bucket": bucket,
      "big": all & ~bucket,
    ]
  }()

  /// The names for the error message, in ss's man page order.
  static let ssNameList = [
    "established", "syn-sent", "syn-recv", "fin-wait-1", "fin-wait-2", "time-wait", "closed",
    "close-wait", "last-ack", "listening", "closing", "all", "connected", "synchronized",
    "bucket", "big",
  ]
}
