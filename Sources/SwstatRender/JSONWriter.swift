/// JSON text pieces written through a `RowCursor`: strings escaped per RFC 8259, integers in
/// decimal. Just enough JSON for swstat's NDJSON, with no Foundation on the per-socket path.
extension RowCursor {
  /// `"key":` — keys are ASCII literals, written as they are.
  @inline(__always)
  public mutating func key(_ k: StaticString) {
    put(0x22)
    put(k)
    put(0x22)
    put(0x3a)
  }

  /// A JSON string from raw bytes (invalid UTF-8 becomes U+FFFD, control characters `\u00XX`).
  public mutating func jsonString(_ bytes: UnsafeRawBufferPointer) {
    put(0x22)
    // Plain printable ASCII is by far the common case: copy it straight.
    if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }) {
      put(bytes)
    } else {
      for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
        switch scalar.value {
        case 0x22: put("\\\"")
        case 0x5c: put("\\\\")
        case 0x0a: put("\\n")
        case 0x0d: put("\\r")
        case 0x09: put("\\t")
        case 0..<0x20, 0x7f:
          put("\\u00")
          let v = UInt8(scalar.value)
          put(Self.hex(v >> 4))
          put(Self.hex(v & 0xf))
        default:
          for b in String(scalar).utf8 { put(b) }
        }
      }
    }
    put(0x22)
  }

  /// A JSON string from a Swift string.
  public mutating func jsonString(_ s: String) {
    var s = s
    s.withUTF8 { jsonString(UnsafeRawBufferPointer($0)) }
  }

  /// A JSON string from bytes in an array.
  public mutating func jsonString(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { jsonString($0) }
  }

  private static func hex(_ d: UInt8) -> UInt8 { d < 10 ? 0x30 + d : 0x61 + d - 10 }
}
