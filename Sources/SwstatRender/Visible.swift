/// How bytes that someone else chose (argv[0], UNIX socket names, namespace names, host names)
/// are written.
public enum NameStyle: Sendable, Equatable {
  /// Safe for a terminal and for a line-oriented reader: C0 controls, DEL, C1 controls, Unicode
  /// format characters (bidirectional overrides, zero-width joiners), line and paragraph
  /// separators and invalid UTF-8 are written as `\xHH` per byte, a backslash as `\\`, so no
  /// name can steer a terminal, split a line or hide a character; a field is cut to its column
  /// by display width, never inside an escape or a character.
  case visible
  /// netstat's bytes, for a table piped into a script that compares it with netstat: written
  /// as they are, cut by bytes as netstat cuts them, except a line feed (`\x0a`), so one
  /// socket is still one line.
  case netstat
}

/// Writes names in a `NameStyle` (see there). Plain printable ASCII, nearly every name, is
/// copied as it is.
public enum Visible {
  /// Writes `bytes` at `c` in `style`, at most `columns` display columns (netstat: `columns`
  /// bytes), and returns the display columns written. The cursor needs room for
  /// `maxBytes(bytes.count)` bytes.
  @inline(__always)
  public static func write(
    _ bytes: UnsafeRawBufferPointer, style: NameStyle, columns: Int, into c: inout RowCursor
  ) -> Int {
    if bytes.count <= columns && isPlain(bytes) {
      c.put(bytes)
      return bytes.count
    }
    return style == .netstat
      ? writeNetstat(bytes, columns: columns, into: &c) : writeVisible(bytes, columns, &c)
  }

  /// The most bytes `write` produces for `count` input bytes (an escape is 4 bytes for 1).
  public static func maxBytes(_ count: Int) -> Int { 4 * count }

  /// The visible form as a string, at most `columns` display columns.
  public static func text(_ bytes: some Collection<UInt8>, columns: Int = Int.max) -> String {
    let input = Array(bytes)
    var out = [UInt8](repeating: 0, count: maxBytes(input.count))
    let n = out.withUnsafeMutableBufferPointer { o in
      input.withUnsafeBytes { i in
        // swift-format-ignore: NeverForceUnwrap
        var c = RowCursor(o.baseAddress!)
        _ = write(i, style: .visible, columns: columns, into: &c)
        return c.p - o.baseAddress!
      }
    }
    return String(decoding: out[..<n], as: UTF8.self)
  }

  /// The visible form of a string (for messages that quote a name).
  public static func text(_ s: String) -> String { text(Array(s.utf8)) }

  /// Display columns of `bytes` once written visibly.
  public static func width(_ bytes: some Collection<UInt8>) -> Int {
    let input = Array(bytes)
    var out = [UInt8](repeating: 0, count: maxBytes(input.count))
    return out.withUnsafeMutableBufferPointer { o in
      input.withUnsafeBytes { i in
        // swift-format-ignore: NeverForceUnwrap
        var c = RowCursor(o.baseAddress!)
        return write(i, style: .visible, columns: Int.max, into: &c)
      }
    }
  }

  /// Printable ASCII without a backslash: the same in both styles, one column a byte.
  @inline(__always)
  static func isPlain(_ bytes: UnsafeRawBufferPointer) -> Bool {
    for b in bytes where b < 0x20 || b >= 0x7f || b == 0x5c { return false }
    return true
  }

  private static func writeNetstat(
    _ bytes: UnsafeRawBufferPointer, columns: Int, into c: inout RowCursor
  ) -> Int {
    let n = min(bytes.count, columns)
    for b in bytes.prefix(n) {
      if b == 0x0a { escape(b, &c) } else { c.put(b) }
    }
    return n
  }

  private static func writeVisible(
    _ bytes: UnsafeRawBufferPointer, _ columns: Int, _ c: inout RowCursor
  ) -> Int {
    var used = 0
    var i = 0
    while i < bytes.count {
      let b = bytes[i]
      if b >= 0x20 && b < 0x7f {
        let w = b == 0x5c ? 2 : 1
        guard used + w <= columns else { break }
        if b == 0x5c { c.put(0x5c) }
        c.put(b)
        used += w
        i += 1
        continue
      }
      let (scalar, length) = decode(bytes, at: i)
      if let scalar, let w = printableWidth(scalar) {
        guard used + w <= columns else { break }
        for k in i..<(i + length) { c.put(bytes[k]) }
        used += w
        i += length
        continue
      }
      // A control, a format character or bytes that are not UTF-8: each byte as \xHH.
      guard used + 4 * length <= columns else { break }
      for k in i..<(i + length) { escape(bytes[k], &c) }
      used += 4 * length
      i += length
    }
    return used
  }

  @inline(__always)
  private static func escape(_ b: UInt8, _ c: inout RowCursor) {
    let hex: StaticString = "0123456789abcdef"
    c.put(0x5c)
    c.put(0x78)
    c.put(hex.utf8Start[Int(b >> 4)])
    c.put(hex.utf8Start[Int(b & 0xf)])
  }

  /// The scalar starting at `i` and its length in bytes, or nil and 1 when the bytes there are
  /// not well-formed UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
  static func decode(_ bytes: UnsafeRawBufferPointer, at i: Int) -> (Unicode.Scalar?, Int) {
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
  static func printableWidth(_ s: Unicode.Scalar) -> Int? {
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

extension Visible {
  /// Display columns of text that is already safe to show (made by `text`, or swstat's own):
  /// what a terminal gives it, wide characters as two.
  public static func columns(of s: String) -> Int {
    s.unicodeScalars.reduce(0) { $0 + (printableWidth($1) ?? 1) }
  }

  /// The longest start of already-safe text that fits `columns` display columns.
  public static func prefix(_ s: String, columns: Int) -> String {
    var used = 0
    var out = String.UnicodeScalarView()
    for scalar in s.unicodeScalars {
      let w = printableWidth(scalar) ?? 1
      if used + w > columns { break }
      used += w
      out.append(scalar)
    }
    return String(out)
  }

  /// Already-safe text padded with spaces to `columns` display columns (longer text is kept).
  public static func padded(_ s: String, _ columns: Int, right: Bool = false) -> String {
    let pad = String(repeating: " ", count: max(0, columns - Self.columns(of: s)))
    return right ? pad + s : s + pad
  }
}
