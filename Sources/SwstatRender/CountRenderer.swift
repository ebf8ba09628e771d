import SwstatCore

/// `--count`: one table of sockets per state, every TCP state in kernel order with zero counts
/// shown, a column per table and a total column, then a total row.
///
///     State            tcp   tcp6    udp   udp6  total
///     ESTABLISHED        3      2      1      1      7
///
/// Unconnected UDP sockets (a blank State in the listing) are counted as CLOSE, their kernel
/// state; connected ones as ESTABLISHED.
public enum CountRenderer {
  /// The state rows, in kernel order (1...13).
  public static let states: [SocketState] = SocketState.allCases

  /// Writes the table.
  public static func write(_ counts: StateCounts, to out: OutputBuffer, header: Bool = true) {
    let width = max(7, String(counts.total).utf8.count + 2)
    if header {
      out.append("State         ")
      for t in counts.tables { rightAligned(t.procName, width, out) }
      rightAligned("total", width, out)
      out.append(0x0a)
    }
    var rows: [(String, UInt8)] = states.map { (NetstatStateName.name($0), $0.rawValue) }
    if counts.total(state: 0) > 0 { rows.append(("UNKNOWN", 0)) }
    for (name, code) in rows {
      out.append(name)
      out.append(repeating: 0x20, count: 14 - name.utf8.count)
      for t in counts.tables { rightAligned(String(counts.count(t, state: code)), width, out) }
      rightAligned(String(counts.total(state: code)), width, out)
      out.append(0x0a)
    }
    out.append("total         ")
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
    var rows: [(String, Int?)] = states.map { (NetstatStateName.name($0), Int($0.rawValue)) }
    if counts.total(state: 0) > 0 { rows.append(("UNKNOWN", 0)) }
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
