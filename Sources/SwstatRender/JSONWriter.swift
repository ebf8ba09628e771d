import SwstatCore

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

  /// A JSON string from raw bytes: `"` and `\` escaped, control characters (C0, DEL, C1),
  /// format characters (bidirectional controls, zero-width joiners) and the line and paragraph
  /// separators as `\uXXXX`, invalid UTF-8 as U+FFFD. A string never holds a raw line break
  /// or an escape sequence, so NDJSON stays one object a line on any reader.
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
        case 0x20..<0x7f: put(UInt8(scalar.value))
        default:
          if scalar.value < 0x20
            || VisibleText.printableWidth(scalar) == nil && scalar.value != 0xfffd
          {
            put("\\u")
            let v = scalar.value
            if v > 0xffff {
              // A supplementary character as a surrogate pair.
              let u = v - 0x10000
              hex4(0xd800 + (u >> 10))
              put("\\u")
              hex4(0xdc00 + (u & 0x3ff))
            } else {
              hex4(v)
            }
          } else {
            for b in String(scalar).utf8 { put(b) }
          }
        }
      }
    }
    put(0x22)
  }

  private mutating func hex4(_ v: UInt32) {
    for shift in stride(from: 12, through: 0, by: -4) {
      put(Self.hex(UInt8((v >> UInt32(shift)) & 0xf)))
    }
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
