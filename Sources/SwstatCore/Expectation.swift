/// A threshold for health checks, `--expect 'time_wait<5000'`: a state name (netstat's, in
/// lower case) or `total`, a comparison, and a count.
public struct Expectation: Equatable, Sendable, CustomStringConvertible {
  /// How the count is compared.
  public enum Comparison: String, Sendable, CaseIterable {
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case equal = "=="
    case notEqual = "!="

    /// Whether `lhs <op> rhs` holds.
    public func holds(_ lhs: Int, _ rhs: Int) -> Bool {
      switch self {
      case .less: lhs < rhs
      case .lessOrEqual: lhs <= rhs
      case .greater: lhs > rhs
      case .greaterOrEqual: lhs >= rhs
      case .equal: lhs == rhs
      case .notEqual: lhs != rhs
      }
    }
  }

  /// The kernel state counted, or nil for `total`.
  public var state: SocketState?
  /// The comparison.
  public var comparison: Comparison
  /// The number compared with.
  public var limit: Int

  /// The name as written (`time_wait`, `total`).
  public var name: String { state.map(Self.name(of:)) ?? "total" }

  /// `time_wait<5000`.
  public var description: String { "\(name)\(comparison.rawValue)\(limit)" }

  /// An expectation from its parts.
  public init(state: SocketState?, comparison: Comparison, limit: Int) {
    self.state = state
    self.comparison = comparison
    self.limit = limit
  }

  /// The names `--expect` takes: the counted states' in lower case (`time_wait`).
  private static let names: [(String, SocketState)] = SocketState.counted.map { ($0.lowerName, $0) }

  /// netstat's name of a state in lower case (`time_wait`).
  public static func name(of state: SocketState) -> String { state.lowerName }

  /// Why an expression could not be read.
  public struct ParseError: Error, Equatable, CustomStringConvertible {
    /// The expression.
    public var text: String
    /// What is wrong with it.
    public var reason: String
    /// `bad expectation "x<": <reason>`.
    public var description: String { "bad expectation \"\(text)\": \(reason)" }
  }

  /// Parses one or more comma-separated expressions, e.g. `time_wait<5000,close_wait==0`.
  /// Names are case-insensitive; `-` may stand for `_` (`time-wait`).
  public static func parseList(_ text: String) throws(ParseError) -> [Expectation] {
    var all: [Expectation] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
      all.append(try parse(String(part)))
    }
    return all
  }

  /// Parses one expression.
  public static func parse(_ text: String) throws(ParseError) -> Expectation {
    let s = text.filter { $0 != " " && $0 != "\t" }
    guard let opStart = s.firstIndex(where: { "<>=!".contains($0) }) else {
      throw ParseError(text: text, reason: "expected one of < <= > >= == !=")
    }
    let name = String(s[..<opStart].lowercased().map { $0 == "-" ? "_" : $0 })
    var rest = s[opStart...]
    var op = String(rest.prefix(2))
    if Comparison(rawValue: op) == nil { op = String(rest.prefix(1)) }
    guard let comparison = Comparison(rawValue: op) else {
      throw ParseError(text: text, reason: "expected one of < <= > >= == !=")
    }
    rest = rest.dropFirst(op.count)
    guard !rest.isEmpty, rest.allSatisfy(\.isASCII), let limit = Int(rest), limit >= 0 else {
      throw ParseError(text: text, reason: "expected a count after \(op)")
    }
    if name == "total" { return Expectation(state: nil, comparison: comparison, limit: limit) }
    guard let state = names.first(where: { $0.0 == name })?.1 else {
      throw ParseError(
        text: text, reason: "unknown state \"\(name)\" (use a netstat state name or total)")
    }
    return Expectation(state: state, comparison: comparison, limit: limit)
  }

  /// The count this expectation looks at.
  public func value(in counts: StateCounts) -> Int {
    state.map { counts.total(state: $0.rawValue) } ?? counts.total
  }

  /// Whether the counts meet it.
  public func holds(in counts: StateCounts) -> Bool {
    comparison.holds(value(in: counts), limit)
  }
}
