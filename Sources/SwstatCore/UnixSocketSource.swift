import Glibc
import SystemPackage

/// Where UNIX domain sockets are read from.
///
/// netstat's table needs /proc/net/unix: unix_diag reports neither the reference count (the
/// RefCnt column) nor sockets without an inode (the server end of a connection still in the
/// accept queue, which netstat lists as CONNECTING with I-Node 0), so `proc` is what the table
/// uses unless `--source netlink` asks for unix_diag; unix_diag adds peers, queue lengths and
/// uids, which JSON shows.
public enum UnixSocketSource: Sendable {
  /// /proc/net/unix under a proc root ("/proc", "/proc/thread-self", a captured tree).
  case proc(root: String)
  /// sock_diag's unix_diag, in the calling thread's network namespace.
  case netlink

  /// A short name for messages.
  public var name: String {
    switch self {
    case .proc(let root): root + "/net/unix"
    case .netlink: "netlink"
    }
  }

  /// Streams every socket (netstat's -l/-a split is the caller's) to `body`.
  public func forEachSocket(_ body: (UnixSocketRecord) throws -> Void) throws {
    switch self {
    case .proc(let root):
      let path = root + "/net/unix"
      let bytes = try readWholeFile(path)
      try Self.parse(bytes, path: path, body)
    case .netlink:
      try UnixShim.dump(body)
    }
  }

  /// Parses /proc/net/unix text: a header, then `Num: RefCount Protocol Flags Type St Inode
  /// [Path]` per line, read as netstat's `sscanf("%p: %lX %lX %lX %X %X %lu %s")` reads it (the
  /// path stops at the first blank, as `%s` does).
  public static func parse(
    _ text: [UInt8], path: String = "<memory>", _ body: (UnixSocketRecord) throws -> Void
  ) throws {
    var lineNumber = 0
    var start = 0
    while start < text.count {
      var end = start
      while end < text.count && text[end] != 0x0a { end += 1 }
      lineNumber += 1
      let line = text[start..<end]
      start = end + 1
      if lineNumber == 1 { continue }  // "Num       RefCount Protocol Flags    Type St Inode Path"
      if line.allSatisfy({ isBlank($0) }) { continue }
      var fields: [ArraySlice<UInt8>] = []
      var i = line.startIndex
      while i < line.endIndex && fields.count < 8 {
        while i < line.endIndex && isBlank(line[i]) { i += 1 }
        if i == line.endIndex { break }
        var j = i
        while j < line.endIndex && !isBlank(line[j]) { j += 1 }
        fields.append(line[i..<j])
        i = j
      }
      guard fields.count >= 7, fields[0].last == 0x3a,
        let refs = hex(fields[1]), let proto = hex(fields[2]), let flags = hex(fields[3]),
        let type = hex(fields[4]), let state = hex(fields[5]), let inode = decimal(fields[6])
      else {
        throw SocketSourceError.malformed(
          path: path, line: lineNumber,
          reason: "expected Num: RefCount Protocol Flags Type St Inode")
      }
      try body(
        UnixSocketRecord(
          type: UInt8(truncatingIfNeeded: type), socketState: UInt8(truncatingIfNeeded: state),
          flags: UInt32(truncatingIfNeeded: flags),
          protocolNumber: UInt32(truncatingIfNeeded: proto),
          referenceCount: UInt32(truncatingIfNeeded: refs), inode: inode,
          path: fields.count > 7 ? Array(fields[7]) : []))
    }
  }

  private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0d) }

  private static func hex(_ s: ArraySlice<UInt8>) -> UInt64? {
    guard !s.isEmpty, s.count <= 16 else { return nil }
    var v: UInt64 = 0
    for b in s {
      let d: UInt8
      switch b {
      case 0x30...0x39: d = b - 0x30
      case 0x41...0x46: d = b - 0x41 + 10
      case 0x61...0x66: d = b - 0x61 + 10
      default: return nil
      }
      v = v << 4 | UInt64(d)
    }
    return v
  }

  private static func decimal(_ s: ArraySlice<UInt8>) -> UInt64? {
    guard !s.isEmpty, s.count <= 19 else { return nil }
    var v: UInt64 = 0
    for b in s {
      guard b >= 0x30 && b <= 0x39 else { return nil }
      v = v * 10 + UInt64(b - 0x30)
    }
    return v
  }
}

/// Reads a whole file, looping until read() returns 0 (seq_file hands out one page per read).
/// Throws `.unavailable` when it cannot be opened.
func readWholeFile(_ path: String) throws -> [UInt8] {
  let fd = try openProcFile(path)
  defer { try? fd.close() }
  var all: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let n: Int
    do {
      n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
    } catch {
      throw SocketSourceError.failed(source: path, errno: (error as? Errno) ?? .ioError)
    }
    if n == 0 { break }
    all.append(contentsOf: chunk[..<n])
  }
  return all
}
