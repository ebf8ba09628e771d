import SwstatCore

/// Numeric address text, byte for byte what glibc's inet_ntop prints (and so what netstat
/// prints with -n), written without sprintf: at 100k rows inet_ntop alone would cost more than
/// the rest of a row.
public enum AddressText {
  private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

  /// Writes `address` into `out` (at least 46 bytes) and returns the length.
  /// An IPv4-mapped IPv6 address is written as inet_ntop does (`::ffff:1.2.3.4`).
  public static func write(_ address: IPAddress, into out: UnsafeMutablePointer<UInt8>) -> Int {
    address.family == .inet
      ? writeIPv4(address.ipv4, into: out) : writeIPv6(address.high, address.low, into: out)
  }

  /// Dotted quad of a host-order IPv4 address.
  @inline(__always)
  public static func writeIPv4(_ v: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var n = 0
    for shift in stride(from: 24, through: 0, by: -8) {
      let b = UInt8(truncatingIfNeeded: v >> UInt32(shift))
      if b >= 100 {
        out[n] = 0x30 + b / 100
        n += 1
      }
      if b >= 10 {
        out[n] = 0x30 + (b / 10) % 10
        n += 1
      }
      out[n] = 0x30 + b % 10
      n += 1
      if shift != 0 {
        out[n] = 0x2e
        n += 1
      }
    }
    return n
  }

  /// glibc `inet_ntop6`: the longest run (first on ties) of two or more zero words becomes
  /// `::`; ::/96 with a 6-word run and ::ffff:0:0/96 end in a dotted quad.
  public static func writeIPv6(
    _ high: UInt64, _ low: UInt64, into out: UnsafeMutablePointer<UInt8>
  ) -> Int {
    @inline(__always) func word(_ i: Int) -> UInt16 {
      i < 4
        ? UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
        : UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * (i - 4)))
    }
    var bestBase = -1
    var bestLen = 0
    var curBase = -1
    var curLen = 0
    for i in 0..<8 {
      if word(i) == 0 {
        if curBase == -1 {
          curBase = i
          curLen = 1
        } else {
          curLen += 1
        }
      } else if curBase != -1 {
        if bestBase == -1 || curLen > bestLen {
          bestBase = curBase
          bestLen = curLen
        }
        curBase = -1
      }
    }
    if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
      bestBase = curBase
      bestLen = curLen
    }
    if bestBase != -1 && bestLen < 2 { bestBase = -1 }

    var n = 0
    var i = 0
    while i < 8 {
      if bestBase != -1 && i >= bestBase && i < bestBase + bestLen {
        if i == bestBase {
          out[n] = 0x3a
          n += 1
        }
        i += 1
        continue
      }
      if i != 0 {
        out[n] = 0x3a
        n += 1
      }
      if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && word(5) == 0xffff)) {
        n += writeIPv4(UInt32(truncatingIfNeeded: low), into: out + n)
        return n
      }
      let w = word(i)
      var started = false
      for shift in stride(from: 12, through: 0, by: -4) {
        let d = Int((w >> UInt16(shift)) & 0xf)
        if d != 0 || started || shift == 0 {
          out[n] = hexDigits[d]
          n += 1
          started = true
        }
      }
      i += 1
    }
    if bestBase != -1 && bestBase + bestLen == 8 {
      out[n] = 0x3a
      n += 1
    }
    return n
  }
}
