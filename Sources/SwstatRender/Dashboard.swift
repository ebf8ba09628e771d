import SwstatCore

/// One tick of `--watch`, as plain values: what the dashboard and the line output show.
public struct WatchFrame: Sendable {
  /// CLOCK_REALTIME seconds of the tick.
  public var time: String
  /// Seconds between ticks.
  public var interval: Double
  /// Sockets per counted state code (`StateCounts`' rule: UDP as ESTABLISHED/CLOSE, a request
  /// socket as SYN_RECV, anything else at 0), this tick.
  public var counts: [Int]
  /// The same, the tick before (nil on the first).
  public var previous: [Int]?
  /// Totals of the last ticks per state code, oldest first (for the trend).
  public var history: [[Int]]
  /// Sockets seen for the first time this tick, and gone since the last.
  public var new: Int, gone: Int
  /// The busiest local ports and peers: (label, sockets).
  public var topPorts: [(String, Int)], topPeers: [(String, Int)]
  /// The busiest programs, by name as their bytes (nil without -p).
  public var topPrograms: [([UInt8], Int)]?
  /// What the tables cover (`tcp+udp`).
  public var scopeText: String
  /// With the tracepoint: TCP state changes per second since the last tick, by edge; nil when
  /// changes are polled (a dump cannot tell the edges a socket took between two looks).
  public var edges: [StateEdge: Double]? = nil
  /// With the tracepoint: resets sent and received per second.
  public var resetsSent: Double = 0, resetsReceived: Double = 0

  /// A frame from its parts.
  public init(
    time: String, interval: Double, counts: [Int], previous: [Int]?, history: [[Int]], new: Int,
    gone: Int, topPorts: [(String, Int)], topPeers: [(String, Int)],
    topPrograms: [([UInt8], Int)]?, scopeText: String
  ) {
    self.time = time
    self.interval = interval
    self.counts = counts
    self.previous = previous
    self.history = history
    self.new = new
    self.gone = gone
    self.topPorts = topPorts
    self.topPeers = topPeers
    self.topPrograms = topPrograms
    self.scopeText = scopeText
  }

  /// Every socket this tick.
  public var total: Int { counts.reduce(0, +) }
}

/// One edge of the TCP state machine: a change from one state to another (`to` CLOSE: the
/// socket is gone).
public struct StateEdge: Hashable, Sendable, Comparable {
  /// The state left.
  public var from: UInt8
  /// The state entered.
  public var to: UInt8
  /// An edge from its parts.
  public init(_ from: SocketState, _ to: SocketState) {
    self.from = from.rawValue
    self.to = to.rawValue
  }
  /// An edge from kernel numbers.
  public init(from: UInt8, to: UInt8) {
    self.from = from
    self.to = to
  }
  /// `SYN_SENT>ESTABLISHED`.
  public var name: String {
    Vocabulary.stateWord(from, .tcp) + ">" + Vocabulary.stateWord(to, .tcp)
  }
  public static func < (a: Self, b: Self) -> Bool { (a.from, a.to) < (b.from, b.to) }
}

/// A terminal the dashboard draws on.
public protocol Screen: AnyObject {
  /// Columns and rows.
  var size: (columns: Int, rows: Int) { get }
  /// Draws a frame of lines, each at most `size.columns` wide, in place.
  func draw(_ lines: [String])
}

/// `--watch`'s output: on a terminal the dashboard, redrawn each tick; piped, one line per tick
/// (or one NDJSON object), flushed.
public final class WatchOutput: OutputSink {
  /// Where frames go.
  public enum Form {
    /// `2026-11-25T12:00:00Z LISTEN=12 … total=433 new=3 gone=1`.
    case line
    /// `{"time":"…","states":{"LISTEN":12,…},"total":433,"new":3,"gone":1}`.
    case json
    /// The full-screen dashboard.
    case screen(any Screen)
  }

  private let out: OutputBuffer
  private let form: Form
  private var last: WatchFrame? = nil

  /// An output of `form`, writing lines to `out`.
  public init(output: OutputBuffer, form: Form) {
    self.out = output
    self.form = form
  }

  public func begin(_ section: Section) throws(OutputError) {}

  public func end() throws(OutputError) { try out.flush() }

  public func write(_ f: borrowing WatchFrame) throws(OutputError) {
    last = copy f
    switch form {
    case .line:
      out.append(Dashboard.line(f) + "\n")
      try out.flush()
    case .json:
      out.append(Dashboard.json(f) + "\n")
      try out.flush()
    case .screen(let screen):
      let size = screen.size
      screen.draw(Dashboard.screen(f, columns: size.columns, rows: size.rows))
    }
  }

  /// Draws the last frame again (the terminal changed size, or came back from a stop).
  public func redraw() throws(OutputError) {
    if let last { try write(last) }
  }
}

/// Draws `--watch`: a full-screen dashboard for a terminal, or one line per tick for a pipe.
public enum Dashboard {
  /// The states in the order the line output lists them: the three users watch first.
  public static let lineOrder: [SocketState] = [
    .listen, .established, .timeWait, .closeWait, .synSent, .synReceived, .finWait1, .finWait2,
    .lastAck, .closing, .close,
  ]
  /// States with a trend line.
  public static let trended: Set<SocketState> = [.established, .timeWait, .closeWait]

  private static func word(_ s: SocketState) -> String { Vocabulary.stateWord(s.rawValue, .tcp) }

  /// `2026-11-25T12:00:00Z LISTEN=12 ESTABLISHED=340 TIME_WAIT=81 … total=433 new=3 gone=1`.
  public static func line(_ f: WatchFrame) -> String {
    var s = f.time
    for st in lineOrder { s += " \(word(st))=\(f.counts[Int(st.rawValue)])" }
    s += " total=\(f.total) new=\(f.new) gone=\(f.gone)"
    if let edges = f.edges {
      for e in edges.keys.sorted() where edges[e, default: 0] > 0 {
        s += " \(e.name)=\(rate(edges[e, default: 0], signed: false))/s"
      }
      s += " RST_SENT=\(rate(f.resetsSent, signed: false))/s"
      s += " RST_RECEIVED=\(rate(f.resetsReceived, signed: false))/s"
    }
    return s
  }

  /// `{"time":"…","states":{"LISTEN":12,…},"total":433,"new":3,"gone":1}`.
  public static func json(_ f: WatchFrame) -> String {
    let states = lineOrder.map { "\"\(word($0))\":\(f.counts[Int($0.rawValue)])" }
    var text =
      "{\"time\":\"\(f.time)\",\"states\":{\(states.joined(separator: ","))},\"total\":\(f.total),"
      + "\"new\":\(f.new),\"gone\":\(f.gone)"
    if let edges = f.edges {
      let rates = edges.keys.sorted().map {
        "\"\($0.name)\":\(rate(edges[$0, default: 0], signed: false))"
      }
      text += ",\"edges_per_second\":{\(rates.joined(separator: ","))}"
      text += ",\"resets_per_second\":{\"sent\":\(rate(f.resetsSent, signed: false)),"
      text += "\"received\":\(rate(f.resetsReceived, signed: false))}"
    }
    return text + "}"
  }

  private static let bars: [String] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

  /// A sparkline of `values`, scaled from their minimum to their maximum.
  public static func sparkline(_ values: [Int]) -> String {
    guard let lo = values.min(), let hi = values.max() else { return "" }
    return values.map { v in
      hi == lo ? bars[v == 0 ? 0 : 3] : bars[(v - lo) * (bars.count - 1) / (hi - lo)]
    }.joined()
  }

  /// The screen for a `columns` × `rows` terminal: lines without newlines, each at most
  /// `columns` display columns (no wrapping, so nothing scrolls). Program names are written
  /// visibly and cut to their column.
  public static func screen(_ f: WatchFrame, columns: Int, rows: Int) -> [String] {
    var lines: [String] = []
    lines.append(
      "swstat --watch  \(f.time)  every \(formatSeconds(f.interval))  \(f.scopeText)   q quits")
    lines.append("")
    if f.edges != nil {
      lines += diagram(f)
      lines.append("")
    }
    let trendWidth = max(0, min(f.history.count, columns - 46))
    lines.append("STATE               COUNT   CHANGE       /s  TREND")
    for st in SocketState.counted {
      let i = Int(st.rawValue)
      let n = f.counts[i]
      let delta = f.previous.map { n - $0[i] }
      var row = pad(word(st), 14) + left(String(n), 11)
      row += left(delta.map { $0 > 0 ? "+\($0)" : String($0) } ?? "", 9)
      row += left(delta.map { rate(Double($0) / f.interval) } ?? "", 9)
      if trended.contains(st) && trendWidth > 0 {
        row += "  " + sparkline(f.history.suffix(trendWidth).map { $0[i] })
      }
      lines.append(row)
    }
    let delta = f.previous.map { f.total - $0.reduce(0, +) }
    lines.append(
      pad("total", 14) + left(String(f.total), 11)
        + left(delta.map { $0 > 0 ? "+\($0)" : String($0) } ?? "", 9))
    lines.append("new this tick: \(f.new)   gone: \(f.gone)")
    lines.append("")
    var columnsOfTops: [(String, [(String, Int)])] = [
      ("TOP LOCAL PORTS", f.topPorts), ("TOP PEERS", f.topPeers),
    ]
    if let programs = f.topPrograms {
      columnsOfTops.append(("BUSIEST PROGRAMS", programs.map { (Visible.text($0.0), $0.1) }))
    }
    let width = max(20, min(40, columns / columnsOfTops.count))
    lines.append(columnsOfTops.map { pad($0.0, width) }.joined())
    let depth = max(0, min(8, rows - lines.count - 1))
    for k in 0..<depth {
      var row = ""
      for (_, entries) in columnsOfTops {
        let cell = k < entries.count ? left(String(entries[k].1), 7) + "  " + entries[k].0 : ""
        row += pad(Visible.prefix(cell, columns: width - 1), width)
      }
      if row.contains(where: { $0 != " " }) { lines.append(row) }
    }
    return lines.prefix(max(1, rows)).map { Visible.prefix($0, columns: columns) }
  }

  /// The TCP state machine as it is happening: each state with its count, each edge with its
  /// rate (changes per second over the last tick): the opening on top, the active close on the
  /// left, the passive close on the right. 76 columns, 9 rows.
  static func diagram(_ f: WatchFrame) -> [String] {
    func count(_ s: SocketState) -> String { left(String(f.counts[Int(s.rawValue)]), 6) }
    func per(_ a: SocketState, _ b: SocketState) -> String {
      rate(f.edges?[StateEdge(a, b)] ?? 0, signed: false)
    }
    /// `a`'s count and its edge to `b` (nil: the socket is closed).
    func edge(_ a: SocketState, _ b: SocketState?) -> String {
      pad(word(a), 11) + count(a) + " ▶ " + pad(b.map(word) ?? "closed", 10)
        + left(per(a, b ?? .close), 6)
    }
    func arrow(_ a: SocketState, _ b: SocketState) -> String { word(a) + " ▶ " + word(b) }
    func cell(_ text: String) -> String { "  " + pad(text, 36) }
    let c = SocketState.close
    return [
      "TCP STATE MACHINE  (sockets in each state, changes per second on each edge)",
      "  \(word(.synSent))\(count(.synSent)) ─\(left(per(.synSent, .established), 6)) ▶ "
        + "\(word(.established))\(count(.established)) ◀ "
        + "\(left(per(.synReceived, .established), 6))─ \(word(.synReceived))\(count(.synReceived))",
      "  connect \(left(per(c, .synSent), 6))  failed \(left(per(.synSent, c), 6))  reset \(left(per(.established, c), 6))  accepted \(left(per(.listen, .synReceived), 6))",
      cell("ACTIVE CLOSE") + cell("PASSIVE CLOSE"),
      cell(arrow(.established, .finWait1) + left(per(.established, .finWait1), 12))
        + cell(arrow(.established, .closeWait) + left(per(.established, .closeWait), 11)),
      cell(edge(.finWait1, .finWait2)) + cell(edge(.closeWait, .lastAck)),
      cell(edge(.finWait2, .timeWait)) + cell(edge(.lastAck, nil)),
      cell(edge(.closing, .timeWait)) + cell(edge(.timeWait, nil)),
      cell(arrow(.finWait1, .closing) + left(per(.finWait1, .closing), 16))
        + cell(pad(word(.listen), 11) + count(.listen)),
      "  resets \(rate(f.resetsSent, signed: false))/s sent, \(rate(f.resetsReceived, signed: false))/s received   new \(f.new)  gone \(f.gone)  total \(f.total)",
    ]
  }

  private static func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s))s" : "\(Int((s * 1000).rounded()))ms"
  }

  private static func rate(_ r: Double, signed: Bool = true) -> String {
    let tenths = Int((r * 10).rounded())
    let sign = !signed ? (tenths < 0 ? "-" : "") : tenths > 0 ? "+" : tenths < 0 ? "-" : ""
    return sign + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
  }

  private static func pad(_ s: String, _ w: Int) -> String { Visible.padded(s, w) }

  private static func left(_ s: String, _ w: Int) -> String { Visible.padded(s, w, right: true) }
}
