/// A write position inside a row reserved in an `OutputBuffer` (`reserveRow()`): appends with
/// no capacity checks, since a row never exceeds the reserve.
public struct RowCursor {
  /// The next byte to write.
  public var p: UnsafeMutablePointer<UInt8>

  /// A cursor at `p`.
  @inline(__always)
  public init(_ p: UnsafeMutablePointer<UInt8>) { self.p = p }

  /// One byte.
  @inline(__always)
  public mutating func put(_ b: UInt8) {
    p.pointee = b
    p += 1
  }

  /// Raw bytes.
  @inline(__always)
  public mutating func put(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress else { return }
    UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: bytes.count)
    p += bytes.count
  }

  /// A static string's UTF-8.
  @inline(__always)
  public mutating func put(_ s: StaticString) {
    put(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
  }

  /// What `body` writes through a cursor, as a string (at most `capacity` bytes).
  public static func string(capacity: Int = 64, _ body: (inout RowCursor) -> Void) -> String {
    var buf = [UInt8](repeating: 0, count: capacity)
    let n = buf.withUnsafeMutableBufferPointer { b -> Int in
      // swift-format-ignore: NeverForceUnwrap
      var c = RowCursor(b.baseAddress!)
      body(&c)
      // swift-format-ignore: NeverForceUnwrap
      return c.p - b.baseAddress!
    }
    return String(decoding: buf[..<n], as: UTF8.self)
  }

  /// A string's UTF-8, whole (a native string's bytes, copied without an array).
  @inline(__always)
  public mutating func put(_ s: String) {
    var s = s
    s.withUTF8 { put(UnsafeRawBufferPointer($0)) }
  }

  /// The bytes of an array, at most `limit` of them.
  @inline(__always)
  public mutating func put(_ bytes: [UInt8], limit: Int = 1024) {
    bytes.withUnsafeBytes { put(UnsafeRawBufferPointer(rebasing: $0.prefix(limit))) }
  }

  /// Spaces up to column `width` counted from `start` (nothing when already past it).
  @inline(__always)
  public mutating func pad(from start: UnsafeMutablePointer<UInt8>, to width: Int) {
    let n = width - (p - start)
    if n > 0 {
      p.update(repeating: 0x20, count: n)
      p += n
    }
  }

  /// An unsigned decimal, right-aligned in `width` columns (`%*lu`, or `%0*lu` with
  /// `zeroPad`).
  @inline(__always)
  public mutating func decimal(_ value: UInt64, width: Int = 0, zeroPad: Bool = false) {
    var digits = 1
    var t = value
    while t >= 10 {
      t /= 10
      digits += 1
    }
    if width > digits {
      p.update(repeating: zeroPad ? 0x30 : 0x20, count: width - digits)
      p += width - digits
    }
    var v = value
    var i = digits - 1
    while true {
      p[i] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
      v /= 10
      if i == 0 { break }
      i -= 1
    }
    p += digits
  }
}
