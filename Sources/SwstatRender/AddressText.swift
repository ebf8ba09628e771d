import SwstatCore

/// Numeric address text, byte for byte what glibc's inet_ntop prints (and so what netstat
/// prints with -n), written without sprintf: at 100k rows inet_ntop alone would cost more than
/// the rest of a row.
public enum AddressText {
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
    var words = SIMD8<UInt16>()
    for i in 0..<4 {
      words[i] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
      words[i + 4] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))
    }
    var bestBase = -1
    var bestLen = 0
    var curBase = -1
    var curLen = 0
    for i in 0..<8 {
      if words[i] == 0 {
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
    let bestEnd = bestBase == -1 ? -1 : bestBase + bestLen

    var n = 0
    var i = 0
    while i < 8 {
      if i >= bestBase && i < bestEnd {
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
      if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && words[5] == 0xffff)) {
        return n + writeIPv4(UInt32(truncatingIfNeeded: low), into: out + n)
      }
      let w = words[i]
      // "%x": no leading zeros.
      var shift: UInt16 = w >= 0x1000 ? 12 : w >= 0x100 ? 8 : w >= 0x10 ? 4 : 0
      while true {
        let d = UInt8(truncatingIfNeeded: (w >> shift) & 0xf)
        out[n] = d < 10 ? 0x30 &+ d : 0x57 &+ d
        n += 1
        if shift == 0 { break }
        shift -= 4
      }
      i += 1
    }
    if bestEnd == 8 {
      out[n] = 0x3a
      n += 1
    }
    return n
  }
}

/// The numeric text of recently seen addresses: a listing repeats a few local addresses (and
/// often a few peers) thousands of times, so a small direct-mapped cache saves formatting them.
final class AddressTextCache {
  private static let slots = 256
  private static let slotSize = 64  // 16 key + 1 family + 1 length + text (46 at most)
  private let storage = UnsafeMutableRawPointer.allocate(
    byteCount: slots * slotSize, alignment: 8)

  init() {
    storage.initializeMemory(as: UInt8.self, repeating: 0, count: Self.slots * Self.slotSize)
  }
  deinit { storage.deallocate() }

  @inline(__always)
  func text(of a: IPAddress, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var h = a.high ^ (a.low &* 0x9E37_79B9_7F4A_7C15)
    h ^= h >> 29
    let slot = storage + Int(truncatingIfNeeded: (h &* 0xBF58_476D_1CE4_E5B9) >> 56) * Self.slotSize
    let family = a.family.rawValue
    let len = Int(slot.load(fromByteOffset: 17, as: UInt8.self))
    if len != 0 && slot.load(as: UInt64.self) == a.high
      && slot.load(fromByteOffset: 8, as: UInt64.self) == a.low
      && slot.load(fromByteOffset: 16, as: UInt8.self) == family
    {
      UnsafeMutableRawPointer(out).copyMemory(from: slot + 18, byteCount: len)
      return len
    }
    let n = AddressText.write(a, into: out)
    slot.storeBytes(of: a.high, as: UInt64.self)
    slot.storeBytes(of: a.low, toByteOffset: 8, as: UInt64.self)
    slot.storeBytes(of: family, toByteOffset: 16, as: UInt8.self)
    slot.storeBytes(of: UInt8(n), toByteOffset: 17, as: UInt8.self)
    (slot + 18).copyMemory(from: out, byteCount: n)
    return n
  }
}
