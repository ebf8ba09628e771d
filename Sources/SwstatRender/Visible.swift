import SwstatCore

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
      let (scalar, length) = VisibleText.decode(bytes, at: i)
      if let scalar, let w = VisibleText.printableWidth(scalar) {
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
}

extension Visible {
  /// Display columns of text that is already safe to show (made by `text`, or swstat's own):
  /// what a terminal gives it, wide characters as two.
  public static func columns(of s: String) -> Int {
    s.unicodeScalars.reduce(0) { $0 + (VisibleText.printableWidth($1) ?? 1) }
  }

  /// The longest start of already-safe text that fits `columns` display columns.
  public static func prefix(_ s: String, columns: Int) -> String {
    var used = 0
    var out = String.UnicodeScalarView()
    for scalar in s.unicodeScalars {
      let w = VisibleText.printableWidth(scalar) ?? 1
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
