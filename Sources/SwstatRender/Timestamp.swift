import Glibc

/// Timestamps as the live modes print them.
public enum Timestamp {
  /// `2026-11-25T12:00:00.123Z` for CLOCK_REALTIME nanoseconds (`milliseconds: false` drops
  /// the fraction).
  public static func iso(_ nanoseconds: Int64, milliseconds: Bool = true) -> String {
    var t = time_t(nanoseconds / 1_000_000_000)
    var tm = tm()
    gmtime_r(&t, &tm)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    var s = "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T"
    s += "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
    if milliseconds {
      let ms = Int((nanoseconds / 1_000_000) % 1000)
      s += "." + (ms < 10 ? "00" : ms < 100 ? "0" : "") + String(ms)
    }
    return s + "Z"
  }
}
