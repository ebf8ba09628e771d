import SwstatCore

/// `--count`: sockets per state and table, counted as the dump streams in, then one small
/// table: every counted state (`SocketState.counted`) in kernel order with zero counts shown, a
/// column per table and a total column, then a total row.
///
///     State            tcp   tcp6    udp   udp6  total
///     ESTABLISHED        3      2      1      1      7
///
/// Unconnected UDP sockets (a blank State in the listing) are counted as CLOSE, their kernel
/// state; connected ones as ESTABLISHED. A state number the kernel has no name for is counted
/// under UNKNOWN, a row shown only when it is not zero.
public struct CountTable: OutputSink {
  /// The counts so far.
  public private(set) var counts: StateCounts
  private let out: OutputBuffer
  private let json: Bool
  private let header: Bool

  /// Counts for `tables`, written as a table (with its header unless `header` is false) or, with
  /// `json`, as NDJSON.
  public init(tables: [SocketTable], output: OutputBuffer, json: Bool, header: Bool = true) {
    counts = StateCounts(tables: tables)
    out = output
    self.json = json
    self.header = header
  }

  public mutating func begin(_ section: Section) throws(OutputError) {}

  @inline(__always)
  public mutating func write(_ r: borrowing SocketRecord) throws(OutputError) { counts.add(r) }

  public mutating func end() throws(OutputError) {
    if json {
      try Self.writeJSON(counts, to: out)
    } else {
      Self.write(counts, to: out, header: header)
    }
    try out.flush()
  }

  private static func rows(_ counts: StateCounts) -> [(String, UInt8)] {
    var rows = SocketState.counted.map { (Vocabulary.stateWord($0.rawValue, .tcp), $0.rawValue) }
    if counts.total(state: 0) > 0 { rows.append(("UNKNOWN", 0)) }
    return rows
  }

  /// Writes the table.
  public static func write(_ counts: StateCounts, to out: OutputBuffer, header: Bool = true) {
    let width = max(7, String(counts.total).utf8.count + 2)
    let first = Columns.countState.width
    if header {
      out.append(Columns.countState.headerCell)
      for t in counts.tables { rightAligned(t.procName, width, out) }
      rightAligned("total", width, out)
      out.append(0x0a)
    }
    for (name, code) in rows(counts) {
      out.append(name)
      out.append(repeating: 0x20, count: first - name.utf8.count)
      for t in counts.tables { rightAligned(String(counts.count(t, state: code)), width, out) }
      rightAligned(String(counts.total(state: code)), width, out)
      out.append(0x0a)
    }
    out.append("total")
    out.append(repeating: 0x20, count: first - 5)
    for t in counts.tables { rightAligned(String(counts.total(t)), width, out) }
    rightAligned(String(counts.total), width, out)
    out.append(0x0a)
  }

  private static func rightAligned(_ s: String, _ width: Int, _ out: OutputBuffer) {
    out.append(repeating: 0x20, count: width - s.utf8.count)
    out.append(s)
  }

  /// NDJSON: one object per state row in the same order, then the total,
  /// `{"state":"ESTABLISHED","state_code":1,"tcp":3,"tcp6":2,"total":5}`.
  public static func writeJSON(_ counts: StateCounts, to out: OutputBuffer) throws(OutputError) {
    var rows: [(String, Int?)] = rows(counts).map { ($0.0, Int($0.1)) }
    rows.append(("total", nil))
    for (name, code) in rows {
      var c = RowCursor(try out.reserveRow())
      c.put("{\"state\":")
      c.jsonString(name)
      if let code {
        c.put(",\"state_code\":")
        c.decimal(UInt64(code))
      }
      for t in counts.tables {
        c.put(0x2c)
        c.jsonString(t.procName)
        c.put(0x3a)
        c.decimal(UInt64(code.map { counts.count(t, state: UInt8($0)) } ?? counts.total(t)))
      }
      c.put(",\"total\":")
      c.decimal(UInt64(code.map { counts.total(state: UInt8($0)) } ?? counts.total))
      c.put("}\n")
      out.commitRow(c.p)
    }
  }
}
