import Glibc
import SystemPackage

/// Where UNIX domain sockets are read from.
///
/// Socket names are chosen by whoever binds the socket, any local user, and /proc/net/unix
/// prints them raw: a name holding a line break splits its line there, and the rest of the name
/// can even read as a line of its own. unix_diag hands each name over whole, so `auto` takes
/// the sockets and their names from unix_diag and reads /proc/net/unix only for what unix_diag
/// lacks — the reference count (netstat's RefCnt column), the St and Flags columns as netstat
/// prints them, and the server ends of connections still in an accept queue (inode 0, which
/// unix_diag skips) — skipping exactly the lines that a known name's line breaks make.
public enum UnixSocketSource: Sendable {
  /// unix_diag for sockets and names, /proc/net/unix under `root` for the rest; /proc/net/unix
  /// alone when netlink is unavailable.
  case auto(root: String)
  /// /proc/net/unix alone under a proc root ("/proc", "/proc/thread-self", a captured tree).
  case proc(root: String)
  /// sock_diag's unix_diag alone, in the calling thread's network namespace.
  case netlink

  /// A short name for messages.
  public var name: String {
    switch self {
    case .auto(let root), .proc(let root): root + "/net/unix"
    case .netlink: "netlink"
    }
  }

  /// What a read met that did not stop it.
  public struct Report: Sendable, Equatable {
    /// The /proc/net/unix lines (1-based) that were not a socket and no known name explains:
    /// netstat's "got bogus unix line". Skipped; the rest is listed.
    public var skippedLines: [Int] = []
    /// The file those lines are in.
    public var path: String = ""
  }

  /// Streams every socket (netstat's -l/-a split is the caller's) to `body`, in /proc/net/unix's
  /// order where it is read. Returns what was skipped.
  @discardableResult
  public func forEachSocket(_ body: (UnixSocketRecord) throws -> Void) throws -> Report {
    switch self {
    case .proc(let root):
      let path = root + "/net/unix"
      return try Self.parse(readWholeFile(path), path: path, body)
    case .netlink:
      try UnixShim.dump(body)
      return Report()
    case .auto(let root):
      let path = root + "/net/unix"
      var diag: [UnixSocketRecord] = []
      do {
        try UnixShim.dump { diag.append($0) }
      } catch SocketSourceError.unavailable {
        return try Self.parse(readWholeFile(path), path: path, body)
      }
      let text: [UInt8]
      do {
        text = try readWholeFile(path)
      } catch SocketSourceError.unavailable {
        // No /proc/net/unix (a captured tree without it): unix_diag's view, RefCnt unknown.
        for r in diag { try body(r) }
        return Report()
      }
      return try Self.merge(diag, procText: text, path: path, body)
    }
  }

  /// unix_diag's sockets in /proc/net/unix's order, with its RefCnt, St and Flags, plus its
  /// sockets without an inode; the lines a name's line breaks make are skipped. Sockets made
  /// between the dump and the read are listed from /proc alone; those gone meanwhile are not
  /// listed.
  static func merge(
    _ diag: [UnixSocketRecord], procText: [UInt8], path: String,
    _ body: (UnixSocketRecord) throws -> Void
  ) throws -> Report {
    var byInode: [UInt64: Int] = [:]
    byInode.reserveCapacity(diag.count)
    for (i, r) in diag.enumerated() where r.inode != 0 { byInode[r.inode] = i }
    var report = Report(path: path)
    var skip = 0
    try scan(procText) { line, parsed in
      if skip > 0 {
        skip -= 1
        return
      }
      guard var proc = parsed else {
        report.skippedLines.append(line)
        return
      }
      guard proc.inode != 0, let i = byInode[proc.inode] else {
        // No inode (in an accept queue), or made after the dump: /proc's line is all there is.
        // Its name may hold line breaks too; what follows is then skipped as bogus.
        try body(proc)
        return
      }
      let whole = diag[i]
      // The kernel printed this name raw: each line break in it began another line.
      skip = whole.path.reduce(0) { $0 + ($1 == 0x0a ? 1 : 0) }
      proc.path = whole.path
      proc.peerInode = whole.peerInode
      proc.receiveQueue = whole.receiveQueue
      proc.sendQueue = whole.sendQueue
      proc.uid = whole.uid
      try body(proc)
    }
    return report
  }

  /// Parses /proc/net/unix text: a header, then `Num: RefCount Protocol Flags Type St Inode
  /// [Path]` per line. The path is the rest of the line after the inode and one space, blanks
  /// included. A line that is not a socket (the tail of a name holding a line break, which the
  /// kernel prints raw) is skipped and reported, as netstat skips it with a warning; the rest is
  /// listed.
  @discardableResult
  public static func parse(
    _ text: [UInt8], path: String = "<memory>", _ body: (UnixSocketRecord) throws -> Void
  ) throws -> Report {
    var report = Report(path: path)
    try scan(text) { line, parsed in
      if let parsed { try body(parsed) } else { report.skippedLines.append(line) }
    }
    return report
  }

  /// Calls `each` for every line after the header that is not blank, with its 1-based number
  /// and the socket it holds, or nil when it holds none.
  private static func scan(
    _ text: [UInt8], _ each: (Int, UnixSocketRecord?) throws -> Void
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
      try each(lineNumber, record(line))
    }
  }

  /// One line as the kernel writes it (`unix_seq_show`: `"%pK: %08X %08X %08X %04X %02X %5lu"`,
  /// then a space and the name when there is one), or nil.
  private static func record(_ line: ArraySlice<UInt8>) -> UnixSocketRecord? {
    var fields: [ArraySlice<UInt8>] = []
    var i = line.startIndex
    while i < line.endIndex && fields.count < 7 {
      while i < line.endIndex && line[i] == 0x20 { i += 1 }
      if i == line.endIndex { break }
      var j = i
      while j < line.endIndex && !isBlank(line[j]) { j += 1 }
      fields.append(line[i..<j])
      i = j
    }
    guard fields.count == 7, fields[0].count >= 2, fields[0].last == 0x3a,
      hex(fields[0].dropLast()) != nil,
      let refs = hex(fields[1]), let proto = hex(fields[2]), let flags = hex(fields[3]),
      let type = hex(fields[4]), let state = hex(fields[5]), let inode = decimal(fields[6])
    else { return nil }
    // After the inode: the end of the line, or one space and the name (which may hold blanks).
    var name: [UInt8] = []
    if i < line.endIndex {
      guard line[i] == 0x20 else { return nil }
      name = Array(line[(i + 1)...])
    }
    return UnixSocketRecord(
      type: UInt8(truncatingIfNeeded: type), socketState: UInt8(truncatingIfNeeded: state),
      flags: UInt32(truncatingIfNeeded: flags), protocolNumber: UInt32(truncatingIfNeeded: proto),
      referenceCount: UInt32(truncatingIfNeeded: refs), inode: inode, path: name)
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
/// Throws `.unavailable` when it cannot be opened, `.malformed` when it is not a regular file.
func readWholeFile(_ path: String) throws(SocketSourceError) -> [UInt8] {
  let fd = try openProcFile(path)
  defer { try? fd.close() }
  var all: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let n: Int
    do {
      n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
    } catch {
      if (error as? Errno) == .interrupted { continue }
      throw .failed(source: path, errno: (error as? Errno) ?? .ioError)
    }
    if n == 0 { break }
    all.append(contentsOf: chunk[..<n])
  }
  return all
}
