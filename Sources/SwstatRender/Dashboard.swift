import SwstatCore

/// One tick of `--watch`, as plain values: what the dashboard and the line output show.
public struct WatchFrame: Sendable {
  /// CLOCK_REALTIME seconds of the tick.
  public var time: String
  /// Seconds between ticks.
  public var interval: Double
  /// Sockets per state code (TCP states; UDP counted as ESTABLISHED/CLOSE), this tick.
  public var counts: [Int]
  /// The same, the tick before (nil on the first).
  public var previous: [Int]?
  /// Totals of the last ticks per state code, oldest first (for the trend).
  public var history: [[Int]]
  /// Sockets seen for the first time this tick, and gone since the last.
  public var new: Int, gone: Int
  /// The busiest local ports, peers and programs: (label, sockets).
  public var topPorts: [(String, Int)], topPeers: [(String, Int)]
  /// nil without -p.
  public var topPrograms: [(String, Int)]?
  /// What the tables cover (`tcp+udp`).
  public var scopeText: String

  /// A frame from its parts.
  public init(
    time: String, interval: Double, counts: [Int], previous: [Int]?, history: [[Int]], new: Int,
    gone: Int, topPorts: [(String, Int)], topPeers: [(String, Int)], topPrograms: [(String, Int)]?,
    scopeText: String
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

/// Draws `--watch`: a full-screen dashboard for a terminal, or one line per tick for a pipe.
public enum Dashboard {
  /// The states in the order the line output lists them: the three users watch first.
  public static let lineOrder: [SocketState] = [
    .listen, .established, .timeWait, .closeWait, .synSent, .synReceived, .finWait1, .finWait2,
    .lastAck, .closing, .close,
  ]
  /// States with a trend line.
  public static let trended: Set<SocketState> = [.established, .timeWait, .closeWait]

  /// `2026-11-25T12:00:00Z LISTEN=12 ESTABLISHED=340 TIME_WAIT=81 … total=433 new=3 gone=1`.
  public static func line(_ f: WatchFrame) -> String {
    var s = f.time
    for st in lineOrder { s += " \(NetstatStateName.name(st))=\(f.counts[Int(st.rawValue)])" }
    return s + " total=\(f.total) new=\(f.new) gone=\(f.gone)"
  }

  /// `{"time":"…","states":{"LISTEN":12,…},"total":433,"new":3,"gone":1}`.
  public static func json(_ f: WatchFrame) -> String {
    let states = lineOrder.map { "\"\(NetstatStateName.name($0))\":\(f.counts[Int($0.rawValue)])" }
    return
      "{\"time\":\"\(f.time)\",\"states\":{\(states.joined(separator: ","))},\"total\":\(f.total),"
      + "\"new\":\(f.new),\"gone\":\(f.gone)}"
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
  /// `columns` wide (no wrapping, so nothing scrolls).
  public static func screen(_ f: WatchFrame, columns: Int, rows: Int) -> [String] {
    var lines: [String] = []
    lines.append(
      "swstat --watch  \(f.time)  every \(formatSeconds(f.interval))  \(f.scopeText)   q quits")
    lines.append("")
    let trendWidth = max(0, min(f.history.count, columns - 46))
    lines.append("STATE               COUNT   CHANGE       /s  TREND")
    for st in SocketState.allCases where st.rawValue <= 11 {
      let i = Int(st.rawValue)
      let n = f.counts[i]
      let delta = f.previous.map { n - $0[i] }
      var row = pad(NetstatStateName.name(st), 14) + left(String(n), 11)
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
    if let programs = f.topPrograms { columnsOfTops.append(("BUSIEST PROGRAMS", programs)) }
    let width = max(20, min(40, columns / columnsOfTops.count))
    lines.append(columnsOfTops.map { pad($0.0, width) }.joined())
    let depth = max(0, min(8, rows - lines.count - 1))
    for k in 0..<depth {
      var row = ""
      for (_, entries) in columnsOfTops {
        let cell = k < entries.count ? left(String(entries[k].1), 7) + "  " + entries[k].0 : ""
        row += pad(String(cell.prefix(width - 1)), width)
      }
      if row.contains(where: { $0 != " " }) { lines.append(row) }
    }
    return lines.prefix(max(1, rows)).map { clip($0, columns) }
  }

  private static func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s))s" : "\(Int((s * 1000).rounded()))ms"
  }

  private static func rate(_ r: Double) -> String {
    let tenths = Int((r * 10).rounded())
    let sign = tenths > 0 ? "+" : tenths < 0 ? "-" : ""
    return sign + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
  }

  private static func pad(_ s: String, _ w: Int) -> String {
    s.count >= w ? s : s + String(repeating: " ", count: w - s.count)
  }

  private static func left(_ s: String, _ w: Int) -> String {
    s.count >= w ? s : String(repeating: " ", count: w - s.count) + s
  }

  /// Cuts to `columns` characters (the sparkline's characters are one column each).
  private static func clip(_ s: String, _ columns: Int) -> String {
    s.count <= columns ? s : String(s.prefix(columns))
  }
}
