/// /proc/net/unix as text: the parser netstat's table needs, and its merge with unix_diag's
/// whole names (see `UnixSocketSource`). No I/O here, so tests and the fuzzer feed it any bytes.
public enum UnixProcText {
  /// What a read met that did not stop it.
  public struct Report: Sendable, Equatable {
    /// The /proc/net/unix lines (1-based) that were not a socket and no known name explains:
    /// netstat's "got bogus unix line". Skipped; the rest is listed.
    public var skippedLines: [Int] = []
    /// The file those lines are in.
    public var path: String = ""
  }

  /// unix_diag's sockets in /proc/net/unix's order, with its RefCnt, St and Flags, plus its
  /// sockets without an inode; the lines a name's line breaks make are skipped. Sockets made
  /// between the dump and the read are listed from /proc alone; those gone meanwhile are not
  /// listed.
  public static func merge(
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
