import SwstatCore

/// The words netstat prints in its State column, from one table as net-tools keeps
/// `tcp_state[]` (and ss `sstate_name[]`).
public enum NetstatStateName {
  private static let tcp: [StaticString] = [
    "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
    "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
    // Beyond net-tools' table (it would read past its array): the kernel's own names.
    "NEW_SYN_RECV", "BOUND_INACTIVE",
  ]

  /// The State text of a TCP state code; unknown numbers print as `UNKNOWN(n)`.
  public static func tcp(_ code: UInt8) -> String {
    Int(code) < tcp.count && code != 0 ? tcp[Int(code)].description : "UNKNOWN(\(code))"
  }

  /// The State text for a record: TCP by the table; UDP `ESTABLISHED` when connected, blank
  /// when not, `UNKNOWN` otherwise (net-tools `udp_do_one`).
  @inline(__always)
  public static func withName<R>(
    of record: borrowing SocketRecord, _ body: (UnsafeRawBufferPointer) -> R
  ) -> R {
    let code = record.stateCode
    if record.transport == .udp {
      let s: StaticString = code == 1 ? "ESTABLISHED" : code == 7 ? "" : "UNKNOWN"
      return body(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
    if code != 0 && Int(code) < tcp.count {
      let s = tcp[Int(code)]
      return body(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
    var text = "UNKNOWN(\(code))"
    return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
  }

  /// The netstat spelling for an enum case (for tables and JSON).
  public static func name(_ state: SocketState) -> String { tcp(state.rawValue) }
}
