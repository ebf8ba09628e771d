import SwstatCore

/// What `--events` writes: a socket's change with the owner to show, or a note that the kernel
/// lost notifications.
public enum EventItem {
  /// A change. `owner`: the `PID/Program name` of the socket's owner, or of the last one known
  /// when `former` (a TIME_WAIT socket has none; it shows as `(was …)`). `note`: a few words
  /// after the line (`gone before the next dump`). `lifetime`: on GONE, how long the socket
  /// lived (ns), when its birth was seen.
  case socket(
    SocketEvent, owner: [UInt8]?, former: Bool, note: StaticString?, lifetime: Int64? = nil)
  /// A reset sent or received, or a retransmission, on a socket (the socket as last known).
  case packet(PacketEvent, record: SocketRecord, time: Int64, owner: [UInt8]?)
  /// Notifications were lost at `time` (CLOCK_REALTIME nanoseconds); the table is dumped again.
  case lost(time: Int64)
  /// Where the state changes come from (NDJSON's first object; -v says it on stderr).
  case source(transitions: String)

  /// What a packet event was.
  public enum PacketEvent: String, Sendable {
    /// This end sent a RST.
    case resetSent = "reset_sent"
    /// This end received a RST.
    case resetReceived = "reset_received"
    /// This end retransmitted a segment.
    case retransmit = "retransmit"

    /// The event's word in the text log.
    var word: String {
      switch self {
      case .resetSent: "RST>"
      case .resetReceived: "RST<"
      case .retransmit: "RETRANS"
      }
    }
  }
}

/// `--events`' log: one timestamped line per change, or with `json` one NDJSON object per
/// change (the socket's members after `time`, `event`, `from`, `owner`, `note`). Lines are for
/// eyes and line-oriented readers alike, so owner names are always written visibly.
public final class EventLog: OutputSink {
  private let out: OutputBuffer
  private let json: SocketJSON?
  private let withOwners: Bool

  private var label: String?
  private var netns: [UInt8]?
  /// The label as written, `[NAME] `.
  private var labelBytes: [UInt8] = []
  private var stamps = TimestampWriter()

  /// A log writing to `out`; `owners`: an owner label on each line (-p); `netns`: the network
  /// namespace the events are of (`--netns`), on each line.
  public init(output: OutputBuffer, json: Bool, owners: Bool, netns: [UInt8]? = nil) {
    out = output
    withOwners = owners
    self.netns = netns
    label = netns.map { "[" + Visible.text($0) + "] " }
    labelBytes = Array((label ?? "").utf8)
    let writer = json ? SocketJSON(output: output) : nil
    self.json = writer
    if let writer, let netns { try? writer.begin(Section(.inet, netns: netns)) }
  }

  /// The network namespace the next events are of (`--all-netns`: each event its own).
  public func label(_ netns: [UInt8]?) {
    guard netns != self.netns else { return }
    self.netns = netns
    label = netns.map { "[" + Visible.text($0) + "] " }
    labelBytes = Array((label ?? "").utf8)
    if let json { try? json.begin(Section(.inet, netns: netns)) }
  }

  public func begin(_ section: Section) throws(OutputError) {}

  public func end() throws(OutputError) { try out.flush() }

  public func write(_ item: borrowing EventItem) throws(OutputError) {
    switch item {
    case .lost(let time):
      if json != nil {
        out.append("{\"time\":\"\(Timestamp.iso(time))\",\"event\":\"overflow\"}\n")
      } else {
        out.append("\(Timestamp.iso(time)) LOST   the kernel dropped events; dumping again\n")
      }
      try out.flush()
    case .source(let transitions):
      if json != nil {
        out.append("{\"event\":\"source\",\"transitions\":\"\(transitions)\"}\n")
        try out.flush()
      }
    case .packet(let kind, let record, let time, let owner):
      let e = SocketEvent(change: .state(from: record.stateCode), record: record, time: time)
      try line(kind.word, e, owner, false, nil, packet: kind)
    case .socket(let e, let owner, let former, let note, let lifetime):
      switch e.change {
      case .brief:
        try line("NEW", e, owner, former, nil)
        try line("GONE", e, owner, former, note ?? "gone before the next dump")
      case .new: try line("NEW", e, owner, former, note)
      case .gone: try line("GONE", e, owner, former, note, lifetime: lifetime)
      case .state: try line("STATE", e, owner, former, note)
      }
    }
  }

  private func ownerText(_ owner: [UInt8]?, _ former: Bool) -> String? {
    guard withOwners else { return nil }
    guard let owner else { return "-" }
    let label = Visible.text(owner.prefix(256))
    return former ? Vocabulary.formerOwner(label) : label
  }

  private func line(
    _ word: String, _ e: SocketEvent, _ owner: [UInt8]?, _ former: Bool, _ note: StaticString?,
    lifetime: Int64? = nil, packet: EventItem.PacketEvent? = nil
  ) throws(OutputError) {
    let r = e.record
    let owner = ownerText(owner, former)
    if let json {
      let time = stamps.text(e.time)
      var leading = "\"time\":\"\(time)\",\"event\":\"\(packet?.rawValue ?? word.lowercased())\","
      if packet == nil, case .state(let from) = e.change {
        leading += "\"from\":\"\(Vocabulary.stateWord(from, r.transport))\","
      }
      if let lifetime { leading += "\"lifetime_ms\":\(Self.milliseconds(lifetime))," }
      if packet == nil, r.stateCode != SocketState.listen.rawValue, let t = e.closing?.totals {
        leading += Self.totalsJSON(t)
      }
      if let owner { leading += "\"owner\":" + JSONText.string(owner) + "," }
      if let note { leading += "\"note\":\"\(note)\"," }
      return try json.write(r, leading: leading)
    }
    // The line written straight into the buffer (thousands a second under churn).
    var tail = ""
    if let owner { tail += " " + owner }
    if let lifetime { tail += " (lived \(Self.duration(lifetime)))" }
    // A listener carries nothing.
    if packet == nil, r.stateCode != SocketState.listen.rawValue, let t = e.closing?.totals {
      tail += Self.totalsText(t)
    }
    if let note { tail += " (\(note))" }
    let start = try out.reserveRow(OutputBuffer.rowReserve + tail.utf8.count)
    var c = RowCursor(start)
    stamps.write(e.time, to: &c)
    c.put(0x20)
    c.put(labelBytes)
    var mark = c.p
    c.put(word)
    c.pad(from: mark, to: Columns.eventKind.width)
    c.put(0x20)
    mark = c.p
    c.put(r.transport == .tcp ? "tcp" : "udp")
    if r.family == .inet6 { c.put(0x36) }
    c.pad(from: mark, to: 5)
    func endpoint(_ ep: Endpoint, _ width: Int) {
      let from = c.p
      Vocabulary.writeNetstatEndpoint(ep, to: &c)
      c.pad(from: from, to: width)
      c.put(0x20)
    }
    endpoint(r.local, Columns.localAddress.width)
    endpoint(r.remote, Columns.foreignAddress.width)
    if packet == nil, case .state(let from) = e.change {
      Vocabulary.withStateWord(from, r.transport, .data) { c.put($0) }
      c.put(" → ")
    }
    Vocabulary.withStateWord(r.stateCode, r.transport, .data) { c.put($0) }
    c.put(tail)
    c.put(0x0a)
    out.commitRow(c.p)
    try out.endRow()
  }

  /// What a connection carried, on its GONE line, with ss's tokens: bytes sent (retransmissions
  /// included) and received, segments retransmitted.
  static func totalsText(_ t: ConnectionTotals) -> String {
    var s = ""
    if let v = t.bytesSent { s += " bytes_sent:\(v)" }
    if let v = t.bytesReceived { s += " bytes_received:\(v)" }
    if let v = t.retransmittedSegments { s += " retrans:\(v)" }
    return s
  }

  /// The same as NDJSON members (each one the kernel's tcp_info held).
  static func totalsJSON(_ t: ConnectionTotals) -> String {
    var s = ""
    if let v = t.bytesSent { s += "\"bytes_sent\":\(v)," }
    if let v = t.bytesAcknowledged { s += "\"bytes_acked\":\(v)," }
    if let v = t.bytesReceived { s += "\"bytes_received\":\(v)," }
    if let v = t.bytesRetransmitted { s += "\"bytes_retrans\":\(v)," }
    if let v = t.retransmittedSegments { s += "\"retrans\":\(v)," }
    return s
  }

  /// Milliseconds with three decimals, for JSON.
  static func milliseconds(_ ns: Int64) -> String {
    let us = max(0, ns) / 1000
    let frac = us % 1000
    return "\(us / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
  }

  /// `850us`, `12.3ms`, `4.51s`, `2m05s`: a lifetime for eyes.
  static func duration(_ ns: Int64) -> String {
    let ns = max(0, ns)
    if ns < 1_000_000 { return "\(ns / 1000)us" }
    if ns < 1_000_000_000 {
      let tenths = ns / 100_000
      return "\(tenths / 10).\(tenths % 10)ms"
    }
    if ns < 60_000_000_000 {
      let cs = ns / 10_000_000
      return "\(cs / 100).\(cs % 100 < 10 ? "0" : "")\(cs % 100)s"
    }
    let s = ns / 1_000_000_000
    return "\(s / 60)m\(s % 60 < 10 ? "0" : "")\(s % 60)s"
  }

  private func pad(_ s: String, _ width: Int) -> String {
    s.utf8.count >= width ? s : s + String(repeating: " ", count: width - s.utf8.count)
  }
}

/// JSON text for strings built in Swift.
public enum JSONText {
  /// `"…"` with `jsonString`'s escaping.
  public static func string(_ s: String) -> String {
    let bytes = Array(s.utf8)
    var out = [UInt8](repeating: 0, count: 12 * bytes.count + 2)
    let n = out.withUnsafeMutableBufferPointer { o in
      bytes.withUnsafeBytes { b in
        // swift-format-ignore: NeverForceUnwrap
        var c = RowCursor(o.baseAddress!)
        c.jsonString(b)
        return c.p - o.baseAddress!
      }
    }
    return String(decoding: out[..<n], as: UTF8.self)
  }
}
