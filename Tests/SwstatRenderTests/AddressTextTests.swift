import Glibc
import SwstatCore
import SwstatRender
import Testing

/// inet_ntop's text, for comparison.
func ntop(_ a: IPAddress) -> String {
  var buf = [CChar](repeating: 0, count: 64)
  var bytes = a.bytes
  _ = inet_ntop(a.family == .inet ? AF_INET : AF_INET6, &bytes, &buf, 64)
  return String(cString: buf)
}

func ours(_ a: IPAddress) -> String {
  let out = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
  defer { out.deallocate() }
  let n = AddressText.write(a, into: out)
  return String(decoding: UnsafeBufferPointer(start: out, count: n), as: UTF8.self)
}

/// Numeric addresses are written byte for byte as glibc's inet_ntop writes them.
@Suite struct AddressTextTests {
  static let special: [[UInt8]] = [
    [UInt8](repeating: 0, count: 16),
    [UInt8](repeating: 0, count: 15) + [1],
    [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1],
    [UInt8](repeating: 0, count: 12) + [127, 0, 0, 1],
    [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1],
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
    [0xfd, 0, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66, 0x77, 0x77],
    [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [UInt8](repeating: 0, count: 10) + [0, 0xff, 0, 0, 0, 1],
  ]

  @Test func specialIPv6() {
    for b in Self.special {
      let a = IPAddress(family: .inet6, bytes: b)
      #expect(ours(a) == ntop(a))
    }
  }

  /// Random addresses with runs of zero words in every position.
  @Test func randomIPv6() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<20000 {
      var words = (0..<8).map { _ in UInt16.random(in: 0...0xffff, using: &rng) }
      for i in 0..<8 where Bool.random(using: &rng) { words[i] = 0 }
      if Int.random(in: 0..<10, using: &rng) == 0 { words[5] = 0xffff }
      let bytes = words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
      let a = IPAddress(family: .inet6, bytes: bytes)
      #expect(ours(a) == ntop(a))
    }
  }

  @Test func ipv4() {
    for v: UInt32 in [0, 0x7f00_0001, 0xffff_ffff, 0x0a00_0a01, 0xc0a8_6401, 0x0102_0304] {
      let a = IPAddress(family: .inet, high: UInt64(v) << 32, low: 0)
      #expect(ours(a) == ntop(a))
    }
  }
}
