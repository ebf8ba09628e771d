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
  public static func write(_ counts: StateCounts, to out: OutputBuffer) {
    let width = max(7, String(counts.total).utf8.count + 2)
    out.append("State         ")
    for t in counts.tables { rightAligned(t.procName, width, out) }
    rightAligned("total", width, out)
    out.append(0x0a)
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
}
