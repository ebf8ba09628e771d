import Glibc

/// A write(2) on standard output failed.
public struct OutputError: Error, CustomStringConvertible, Equatable {
  /// The errno of the failed write.
  public var errno: Int32
  /// An error for `errno`.
  public init(errno: Int32) { self.errno = errno }
  /// "write error: No space left on device", as coreutils words it.
  public var description: String {
    "write error: " + String(cString: strerror(errno))
  }
}

/// Bytes bound for a file descriptor, gathered in a buffer (64 KiB to start) and written with
/// write(2) at row boundaries (`print()` per row costs more than the kernel dump at 100k rows).
///
/// Nothing appended is ever dropped: when an append does not fit, the buffer is written out
/// first, and a piece larger than the whole buffer makes it grow, so a row or object of any size
/// (a `-s --json` section with millions of counters) is written whole. An append cannot throw, so
/// a write error it meets is kept and thrown by the next `reserveRow`, `endRow` or `flush`; after
/// it nothing more is written. EINTR and short writes are retried, and EAGAIN (a descriptor left
/// non-blocking by whoever gave it to us) waits in poll(2) until the descriptor takes more.
public final class OutputBuffer {
  /// The descriptor written to.
  public let fd: Int32
  /// Bytes buffered and not yet written.
  public private(set) var count = 0
  private var capacity: Int
  private var storage: UnsafeMutablePointer<UInt8>
  /// The first write error, kept until a throwing call can report it; appends are dropped after.
  private var failure: OutputError? = nil
  /// Room a row written through `reserveRow()` may take at most.
  public static let rowReserve = 16384

  /// A buffer for `fd` (standard output by default).
  public init(fd: Int32 = STDOUT_FILENO, capacity: Int = 65536) {
    self.fd = fd
    self.capacity = max(capacity, 2 * Self.rowReserve)
    storage = .allocate(capacity: self.capacity)
  }

  deinit { storage.deallocate() }

  /// Makes room for `n` more bytes without throwing: writes the buffer out, and grows it when
  /// `n` is more than it holds. Returns false when output has failed (the bytes are dropped).
  @inline(__always)
  private func makeRoom(_ n: Int) -> Bool {
    if capacity - count >= n && failure == nil { return true }
    return makeRoomSlowly(n)
  }

  private func makeRoomSlowly(_ n: Int) -> Bool {
    if failure == nil && count > 0 && capacity - count < n {
      do { try writeOut() } catch { failure = error }
    }
    if failure != nil {
      count = 0
      return false
    }
    if capacity - count < n { grow(to: count + n) }
    return true
  }

  private func grow(to needed: Int) {
    var size = capacity
    while size < needed { size *= 2 }
    let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
    bigger.update(from: storage, count: count)
    storage.deallocate()
    storage = bigger
    capacity = size
  }

  /// Appends one byte.
  @inline(__always)
  public func append(_ byte: UInt8) {
    guard makeRoom(1) else { return }
    storage[count] = byte
    count += 1
  }

  /// Appends `n` copies of `byte`.
  @inline(__always)
  public func append(repeating byte: UInt8, count n: Int) {
    guard n > 0, makeRoom(n) else { return }
    (storage + count).update(repeating: byte, count: n)
    count += n
  }

  /// Appends raw bytes.
  @inline(__always)
  public func append(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0, makeRoom(bytes.count) else { return }
    UnsafeMutableRawPointer(storage + count).copyMemory(from: base, byteCount: bytes.count)
    count += bytes.count
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
    guard makeRoom(max(width, 20)) else { return }
    var c = RowCursor(storage + count)
    c.decimal(value, width: width)
    count = c.p - storage
  }

  /// Appends a decimal left-aligned in `width` columns (`%-*lu`).
  @inline(__always)
  public func appendDecimalLeft(_ value: UInt64, width: Int) {
    let start = count
    appendDecimal(value)
    append(repeating: 0x20, count: width - (count - start))
  }

  /// Room for one row, written straight into the buffer: at least `bytes` (by default
  /// `rowReserve`) from the returned pointer. Hand the end back to `commitRow(_:)`. Throws a
  /// write error met here or kept from an earlier append.
  @inline(__always)
  public func reserveRow(_ bytes: Int = OutputBuffer.rowReserve) throws(OutputError)
    -> UnsafeMutablePointer<UInt8>
  {
    if capacity - count < bytes || failure != nil { try makeRoomForRow(bytes) }
    return storage + count
  }

  private func makeRoomForRow(_ bytes: Int) throws(OutputError) {
    try flush()
    if capacity < bytes { grow(to: bytes) }
  }

  /// Keeps the bytes written since `reserveRow()`, up to `end`.
  @inline(__always)
  public func commitRow(_ end: UnsafeMutablePointer<UInt8>) {
    count = end - storage
  }

  /// Ends a row: writes the buffer out when less than a row's worth of room is left, so every
  /// write(2) carries whole rows. Throws a write error met here or kept from an append.
  @inline(__always)
  public func endRow() throws(OutputError) {
    if capacity - count < Self.rowReserve || failure != nil { try flush() }
  }

  /// Drops what is buffered and not yet written (a run that failed before listing anything).
  public func discard() { count = 0 }

  /// Writes out everything buffered, or throws the first write error (then and ever after).
  public func flush() throws(OutputError) {
    if let failure {
      count = 0
      throw failure
    }
    do {
      try writeOut()
    } catch {
      failure = error
      count = 0
      throw error
    }
  }

  /// write(2) until every buffered byte is out: short writes and EINTR are retried, EAGAIN waits
  /// for the descriptor to take more.
  private func writeOut() throws(OutputError) {
    var done = 0
    while done < count {
      let n = write(fd, storage + done, count - done)
      if n >= 0 {
        done += n
        continue
      }
      let e = Glibc.errno
      if e == EINTR { continue }
      if e == EAGAIN || e == EWOULDBLOCK {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&p, 1, -1)
        continue
      }
      throw OutputError(errno: e)
    }
    count = 0
  }
}
