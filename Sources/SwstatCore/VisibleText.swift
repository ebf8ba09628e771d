/// Which bytes of a name others chose can be shown as they are: the one rule the renderers'
/// visible form (SwstatRender's `Visible`), the JSON writer, the exporter's labels and the core's
/// own messages (filter errors quoting a word) follow.
public enum VisibleText {
  /// `bytes` as text with every byte that is not part of a printable character — C0, DEL, C1,
  /// Unicode format characters, line and paragraph separators, unassigned and private-use code
  /// points, bytes that are not UTF-8 — written `\xHH`, and, with `backslash`, a backslash as
  /// `\\` (so the form is unambiguous; labels leave it to their own escaping).
  public static func escaped(_ bytes: some Collection<UInt8>, backslash: Bool = true) -> String {
    let input = Array(bytes)
    var out: [UInt8] = []
    out.reserveCapacity(input.count)
    input.withUnsafeBytes { b in
      var i = 0
      while i < b.count {
        let (scalar, length) = decode(b, at: i)
        if let scalar,
          scalar.value < 0x80
            ? scalar.value >= 0x20 && scalar.value < 0x7f
            : printableWidth(scalar) != nil
        {
          if backslash && scalar.value == 0x5c { out.append(0x5c) }
          out.append(contentsOf: b[i..<(i + length)])
        } else {
          for k in i..<(i + length) {
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            out += [0x5c, 0x78, hex[Int(b[k] >> 4)], hex[Int(b[k] & 0xf)]]
          }
        }
        i += length
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// `escaped` for a string's UTF-8.
  public static func escaped(_ s: some StringProtocol, backslash: Bool = true) -> String {
    escaped(Array(s.utf8), backslash: backslash)
  }

  /// The scalar starting at `i` and its length in bytes, or nil and 1 when the bytes there are
  /// not well-formed UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
  public static func decode(_ bytes: UnsafeRawBufferPointer, at i: Int) -> (Unicode.Scalar?, Int) {
    let b0 = bytes[i]
    let length: Int
    var value: UInt32
    var lowest: UInt32
    switch b0 {
    case 0x00..<0x80: return (Unicode.Scalar(b0), 1)
    case 0xc2...0xdf: (length, value, lowest) = (2, UInt32(b0 & 0x1f), 0x80)
    case 0xe0...0xef: (length, value, lowest) = (3, UInt32(b0 & 0x0f), 0x800)
    case 0xf0...0xf4: (length, value, lowest) = (4, UInt32(b0 & 0x07), 0x10000)
    default: return (nil, 1)
    }
    guard i + length <= bytes.count else { return (nil, 1) }
    for k in 1..<length {
      let b = bytes[i + k]
      guard b & 0xc0 == 0x80 else { return (nil, 1) }
      value = value << 6 | UInt32(b & 0x3f)
    }
    guard value >= lowest, let scalar = Unicode.Scalar(value) else { return (nil, 1) }
    return (scalar, length)
  }

  /// Columns a scalar takes on a terminal, or nil when it must be escaped: controls (C0, DEL,
  /// C1), format characters (Cf: bidirectional controls, zero-width joiners, soft hyphen),
  /// line and paragraph separators, unassigned and private-use code points. Combining marks
  /// take none, East Asian wide and fullwidth characters (and emoji) two.
  public static func printableWidth(_ s: Unicode.Scalar) -> Int? {
    let v = s.value
    if v < 0x20 || (v >= 0x7f && v < 0xa0) { return nil }
    if v < 0x300 { return v == 0xad ? nil : 1 }
    switch s.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .unassigned, .privateUse,
      .surrogate:
      return nil
    case .nonspacingMark, .enclosingMark:
      return 0
    default:
      break
    }
    if v == 0x200b { return nil }
    return isWide(v) ? 2 : 1
  }

  private static func isWide(_ v: UInt32) -> Bool {
    switch v {
    case 0x1100...0x115f, 0x231a...0x231b, 0x2329...0x232a, 0x23e9...0x23ec, 0x23f0, 0x23f3,
      0x25fd...0x25fe, 0x2614...0x2615, 0x2648...0x2653, 0x267f, 0x2693, 0x26a1, 0x26aa...0x26ab,
      0x26bd...0x26be, 0x26c4...0x26c5, 0x26ce, 0x26d4, 0x26ea, 0x26f2...0x26f3, 0x26f5, 0x26fa,
      0x26fd, 0x2705, 0x270a...0x270b, 0x2728, 0x274c, 0x274e, 0x2753...0x2755, 0x2757,
      0x2795...0x2797, 0x27b0, 0x27bf, 0x2b1b...0x2b1c, 0x2b50, 0x2b55, 0x2e80...0x303e,
      0x3041...0x33ff, 0x3400...0x4dbf, 0x4e00...0x9fff, 0xa000...0xa4cf, 0xa960...0xa97f,
      0xac00...0xd7a3, 0xf900...0xfaff, 0xfe10...0xfe19, 0xfe30...0xfe6f, 0xff00...0xff60,
      0xffe0...0xffe6, 0x16fe0...0x16fe4, 0x17000...0x18cff, 0x1b000...0x1b2ff, 0x1f004, 0x1f0cf,
      0x1f18e, 0x1f191...0x1f19a, 0x1f200...0x1f251, 0x1f300...0x1f64f, 0x1f680...0x1f6ff,
      0x1f7e0...0x1f7eb, 0x1f90c...0x1f9ff, 0x1fa70...0x1faff, 0x20000...0x2fffd,
      0x30000...0x3fffd:
      return true
    default:
      return false
    }
  }
}
