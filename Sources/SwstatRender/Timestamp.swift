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

/// `Timestamp.iso` written straight into a row, the date and time of day made once a second:
/// a live mode printing thousands of events a second formats the same second again and again.
public struct TimestampWriter {
  private var second: Int64 = .min
  /// `2026-11-25T12:00:00`, 19 bytes.
  private var prefix: [UInt8] = []

  public init() {}

  /// `2026-11-25T12:00:00.123Z` as a string.
  public mutating func text(_ nanoseconds: Int64) -> String {
    RowCursor.string(capacity: 32) { write(nanoseconds, to: &$0) }
  }

  /// Writes `2026-11-25T12:00:00.123Z` for CLOCK_REALTIME ns.
  public mutating func write(_ nanoseconds: Int64, to c: inout RowCursor) {
    let s = nanoseconds / 1_000_000_000
    if s != second {
      second = s
      let text = Timestamp.iso(s * 1_000_000_000, milliseconds: false)
      prefix = Array(text.utf8.dropLast())
    }
    c.put(prefix)
    c.put(0x2e)
    c.decimal(UInt64((nanoseconds / 1_000_000) % 1000), width: 3, zeroPad: true)
    c.put(0x5a)
  }
}
