import Glibc

/// A write(2) on standard output failed.
public struct OutputError: Error, CustomStringConvertible, Equatable {
  /// The errno of the failed write.
  public var errno: Int32
  /// "write error: No space left on device", as coreutils words it.
  public var description: String {
    "write error: " + String(cString: strerror(errno))
  }
}

/// Bytes bound for a file descriptor, gathered in a 64 KiB buffer and written with write(2) at
/// row boundaries (`print()` per row costs more than the kernel dump at 100k rows).
public final class OutputBuffer {
  /// The descriptor written to.
  public let fd: Int32
  /// Bytes buffered and not yet written.
  public private(set) var count = 0
  private let capacity: Int
  private let storage: UnsafeMutablePointer<UInt8>
  /// Room a row may need at most; `endRow()` writes out the buffer when less is left.
  private let rowReserve = 4096

  /// A buffer for `fd` (standard output by default).
  public init(fd: Int32 = STDOUT_FILENO, capacity: Int = 65536) {
    self.fd = fd
    self.capacity = max(capacity, 2 * 4096)
    storage = .allocate(capacity: self.capacity)
  }

  deinit { storage.deallocate() }

  /// Appends one byte.
  @inline(__always)
  public func append(_ byte: UInt8) {
    if count == capacity { try? flush() }
    storage[count] = byte
    count += 1
  }

  /// Appends `n` copies of `byte`.
  @inline(__always)
  public func append(repeating byte: UInt8, count n: Int) {
    guard n > 0 else { return }
    if count + n > capacity { try? flush() }
    let k = min(n, capacity - count)
    (storage + count).update(repeating: byte, count: k)
    count += k
  }

  /// Appends raw bytes.
  @inline(__always)
  public func append(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    if count + bytes.count > capacity { try? flush() }
    let n = min(bytes.count, capacity - count)
    UnsafeMutableRawPointer(storage + count).copyMemory(from: base, byteCount: n)
    count += n
  }

  /// Appends the bytes of an array.
  @inline(__always)
  public func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { append($0) }
  }

  /// Appends a static string's UTF-8.
  @inline(__always)
  public func append(_ s: StaticString) {
    append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
  }

  /// Appends a string's UTF-8.
  public func append(_ s: String) {
    var s = s
    s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
  }

  /// Appends `bytes` left-aligned in `width` columns (longer text is kept whole, like `%-*s`).
  @inline(__always)
  public func appendPadded(_ bytes: UnsafeRawBufferPointer, width: Int) {
    append(bytes)
    append(repeating: 0x20, count: width - bytes.count)
  }

  /// Appends an unsigned decimal right-aligned in `width` columns (`%*lu`).
  @inline(__always)
  public func appendDecimal(_ value: UInt64, width: Int = 0) {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
    withUnsafeMutableBytes(of: &digits) { raw in
      var v = value
      var i = raw.count
      repeat {
        i -= 1
        raw[i] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
        v /= 10
      } while v != 0
      let n = raw.count - i
      append(repeating: 0x20, count: width - n)
      append(UnsafeRawBufferPointer(rebasing: raw[i...]))
    }
  }

  /// Appends a decimal left-aligned in `width` columns (`%-*lu`).
  @inline(__always)
  public func appendDecimalLeft(_ value: UInt64, width: Int) {
    let start = count
    appendDecimal(value)
    append(repeating: 0x20, count: width - (count - start))
  }

  /// Room for one row, written straight into the buffer: at least `rowReserve` bytes from the
  /// returned pointer. Hand the end back to `commitRow(_:)`.
  @inline(__always)
  public func reserveRow() throws(OutputError) -> UnsafeMutablePointer<UInt8> {
    if capacity - count < rowReserve { try flush() }
    return storage + count
  }

  /// Keeps the bytes written since `reserveRow()`, up to `end`.
  @inline(__always)
  public func commitRow(_ end: UnsafeMutablePointer<UInt8>) {
    count = end - storage
  }

  /// The most a row written through `reserveRow()` may take.
  public var rowCapacity: Int { rowReserve }

  /// Ends a row: writes the buffer out when less than a row's worth of room is left, so every
  /// write(2) carries whole rows.
  @inline(__always)
  public func endRow() throws(OutputError) {
    if capacity - count < rowReserve { try flush() }
  }

  /// Writes out everything buffered, retrying short writes and EINTR.
  public func flush() throws(OutputError) {
    var done = 0
    while done < count {
      let n = write(fd, storage + done, count - done)
      if n < 0 {
        let e = Glibc.errno
        if e == EINTR { continue }
        count = 0
        throw OutputError(errno: e)
      }
      done += n
    }
    count = 0
  }
}
