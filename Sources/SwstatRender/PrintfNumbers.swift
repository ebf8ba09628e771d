import SwstatCore

/// Numbers as ss prints them with printf (`%g`, `%.1f`, its sprint_bw), byte for byte, and as
/// exact decimals for JSON. The common cases (a microsecond count shown in milliseconds, an
/// integer rate) are written with integer arithmetic; the rest goes through the C library's
/// snprintf (`PrintfDouble`), so the text is glibc's own.
enum PrintfNumbers {
  /// `%g` of `micros / 1000.0`: ss's milliseconds (rto, rtt, ato, minrtt, …). Below 10⁶ µs the
  /// value has at most six significant digits, so `%g` prints it exactly, trailing zeros cut.
  @inline(__always)
  static func milliseconds(_ micros: UInt64, _ c: inout RowCursor) {
    if micros < 1_000_000 {
      exactMilliseconds(micros, &c)
    } else {
      printf("%g", Double(micros) / 1000, &c)
    }
  }

  /// `micros / 1000` as an exact decimal, trailing zeros (and a bare point) cut: `0.035`, `204`,
  /// `1234.5`. What JSON's `_ms` members hold.
  @inline(__always)
  static func exactMilliseconds(_ micros: UInt64, _ c: inout RowCursor) {
    c.decimal(micros / 1000)
    var fraction = micros % 1000
    guard fraction != 0 else { return }
    c.put(0x2e)
    var digits = 3
    while fraction % 10 == 0 {
      fraction /= 10
      digits -= 1
    }
    c.decimal(fraction, width: digits, zeroPad: true)
  }

  /// ss's sprint_bw: with -n the whole number (`%.0f`), else three significant digits and a
  /// k/M/G/T suffix (`%.3gM`); `bps` follows in the caller.
  static func bandwidth(_ bps: Double, numeric: Bool, _ c: inout RowCursor) {
    if numeric {
      wholeNumber(bps, &c)
    } else if bps >= 1e12 {
      printf("%.3gT", bps / 1e12, &c)
    } else if bps >= 1e9 {
      printf("%.3gG", bps / 1e9, &c)
    } else if bps >= 1e6 {
      printf("%.3gM", bps / 1e6, &c)
    } else if bps >= 1e3 {
      printf("%.3gk", bps / 1e3, &c)
    } else {
      printf("%g", bps, &c)
    }
  }

  /// `%.0f`: glibc rounds the exact binary value to nearest, ties to even.
  @inline(__always)
  static func wholeNumber(_ v: Double, _ c: inout RowCursor) {
    let r = v.rounded(.toNearestOrEven)
    if r >= 0 && r < 1.8e19 {
      c.decimal(UInt64(r))
    } else {
      printf("%.0f", v, &c)
    }
  }

  /// `format` (one double conversion) through the C library's printf, at most 63 bytes.
  @inline(__always)
  static func printf(_ format: StaticString, _ v: Double, _ c: inout RowCursor) {
    c.p += PrintfDouble.format(format, v, into: c.p, capacity: 64)
  }

  /// `numerator / 256` as an exact decimal (BBR's gains: every such fraction ends within eight
  /// decimal places), trailing zeros cut.
  static func exactFraction256(_ numerator: UInt32, _ c: inout RowCursor) {
    c.decimal(UInt64(numerator >> 8))
    var fraction = UInt64(numerator & 0xff) * 390_625  // × 10⁸ / 256
    guard fraction != 0 else { return }
    c.put(0x2e)
    var digits = 8
    while fraction % 10 == 0 {
      fraction /= 10
      digits -= 1
    }
    c.decimal(fraction, width: digits, zeroPad: true)
  }
}
