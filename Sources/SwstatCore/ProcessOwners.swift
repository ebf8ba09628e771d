import Glibc

/// Which processes hold which sockets: one walk of /proc/[pid]/fd per run, matching
/// `socket:[inode]` links (as netstat and ss do), into a hash map keyed by inode — netstat's
/// and ss's fixed 211/256-bucket chains go quadratic at 100k sockets.
///
/// Processes that exit during the walk and fd folders we may not read are skipped; the latter
/// are counted so the caller can print netstat's note.
public struct ProcessOwners: Sendable {
  /// One process holding one socket through one descriptor.
  public struct Owner: Hashable, Sendable {
    /// The process id.
    public var pid: Int32
    /// The descriptor number in that process.
    public var fd: Int32
  }

  /// inode → index of its first owner in `owners` (the lowest pid: /proc lists pids in order).
  private var firstOwner: [UInt64: Int32] = [:]
  /// Every (inode, owner) pair found, in walk order.
  public private(set) var owners: [(inode: UInt64, owner: Owner)] = []
  /// pid → netstat's `PID/Program name` label (argv[0], its basename when it is a path), uncut:
  /// the renderers cut it to its column.
  private var labels: [Int32: [UInt8]] = [:]
  /// pid → the process's argv[0] as netstat trims it (for structured output).
  private var programs: [Int32: [UInt8]] = [:]
  /// Whether some /proc/[pid]/fd could not be read (EACCES): netstat's "should be root" case.
  public private(set) var permissionDenied = false

  /// An empty map.
  public init() {}

  /// Whether no socket of any process could be seen at all (netstat's "No info could be read"
  /// case), wanted or not.
  public var isEmpty: Bool { !sawSocket }
  private var sawSocket = false

  /// The first owner of `inode`.
  public func owner(of inode: UInt64) -> Owner? {
    guard inode != 0, let i = firstOwner[inode] else { return nil }
    return owners[Int(i)].owner
  }

  /// netstat's `PID/Program name` for `inode`, uncut (the table cuts it to 19), or nil when no
  /// process holds it.
  public func label(of inode: UInt64) -> [UInt8]? {
    guard let o = owner(of: inode) else { return nil }
    return labels[o.pid]
  }

  /// The program name (argv[0] as netstat trims it) of `pid`, when seen.
  public func program(of pid: Int32) -> [UInt8]? { programs[pid] }

  /// Walks `<procRoot>/[0-9]*/fd/*` once. With `wanted`, only those inodes are recorded and,
  /// with `firstOwnerOnly`, the walk of fd folders stops once every one of them has an owner
  /// (the remaining pids are only opened, to learn whether some are unreadable, for netstat's
  /// note).
  public static func scan(
    procRoot: String = "/proc", wanted: Set<UInt64>? = nil, firstOwnerOnly: Bool = true
  ) -> ProcessOwners {
    var map = ProcessOwners()
    var missing = firstOwnerOnly ? wanted?.count ?? Int.max : Int.max
    map.firstOwner.reserveCapacity(1024)
    guard let proc = opendir(procRoot) else {
      map.permissionDenied = true
      return map
    }
    defer { closedir(proc) }
    // swstat's own descriptors (its netlink sockets) are how it reads, not what it reports:
    // netstat, which reads /proc/net, has none, and seeing them would change its note.
    let own = procRoot == "/proc" ? Int(getpid()) : -1
    let link = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    defer { link.deallocate() }
    let clink = UnsafeMutableRawPointer(link).assumingMemoryBound(to: CChar.self)
    while let entry = readdir(proc) {
      guard let pid = numericName(entry), pid != own else { continue }
      guard let fds = opendir("\(procRoot)/\(pid)/fd") else {
        if errno == EACCES { map.permissionDenied = true }
        continue  // ENOENT: the process has exited
      }
      if missing == 0 {
        closedir(fds)
        if map.permissionDenied { break }
        continue
      }
      let dfd = dirfd(fds)
      var pidHasSocket = false
      while let fdEntry = readdir(fds) {
        guard let fd = numericName(fdEntry) else { continue }
        let n = withUnsafeMutablePointer(to: &fdEntry.pointee.d_name) { name in
          name.withMemoryRebound(to: CChar.self, capacity: 256) { cname in
            readlinkat(dfd, cname, clink, 64)
          }
        }
        guard n > 9, let inode = socketInode(link, n) else { continue }
        map.sawSocket = true
        if let wanted {
          guard wanted.contains(inode) else { continue }
          if map.firstOwner[inode] == nil { missing -= 1 }
        }
        if !pidHasSocket {
          pidHasSocket = true
          map.readProgram(pid: Int32(pid), procRoot: procRoot)
        }
        if map.firstOwner[inode] == nil { map.firstOwner[inode] = Int32(map.owners.count) }
        map.owners.append((inode, Owner(pid: Int32(pid), fd: Int32(fd))))
      }
      closedir(fds)
    }
    return map
  }

  /// "socket:[12345]" → 12345.
  @inline(__always)
  static func socketInode(_ link: UnsafeMutablePointer<UInt8>, _ n: Int) -> UInt64? {
    // "socket:["
    guard link[0] == 0x73, link[1] == 0x6f, link[2] == 0x63, link[3] == 0x6b, link[4] == 0x65,
      link[5] == 0x74, link[6] == 0x3a, link[7] == 0x5b, link[n - 1] == 0x5d
    else { return nil }
    var v: UInt64 = 0
    for i in 8..<(n - 1) {
      let d = link[i] &- 0x30
      guard d < 10 else { return nil }
      v = v &* 10 &+ UInt64(d)
    }
    return v
  }

  /// The entry's name as a number (a pid or an fd), or nil when it is not all digits.
  @inline(__always)
  static func numericName(_ entry: UnsafeMutablePointer<dirent>) -> Int? {
    // Read d_name where it lies, byte by byte up to its NUL. readdir's entry is only d_reclen
    // bytes long, so `withUnsafeBytes(of: entry.pointee.d_name)` copied all 256 bytes and read
    // past the end of glibc's buffer at its last entry (ASan, `make sanitize`).
    withUnsafeMutablePointer(to: &entry.pointee.d_name) { tuple in
      UnsafeRawPointer(tuple).withMemoryRebound(to: UInt8.self, capacity: 11) { name in
        var v = 0
        var i = 0
        while name[i] != 0 {
          let d = name[i] &- 0x30
          guard d < 10, i < 10 else { return nil }
          v = v * 10 + Int(d)
          i += 1
        }
        return i == 0 ? nil : v
      }
    }
  }

  /// Reads argv[0] from /proc/[pid]/cmdline whole (up to the kernel's 128 KiB limit on one
  /// argument), so `--program` can match any name; keeps its basename when it starts with '/'.
  /// The label `pid/name` is netstat's: built from the first 511 bytes as netstat reads them,
  /// cut to 19 bytes. A cmdline that is not a regular file (a FIFO in a `--proc-root` tree) is
  /// not read.
  mutating func readProgram(pid: Int32, procRoot: String) {
    var argv0: [UInt8] = []
    if let fd = try? openProcFile("\(procRoot)/\(pid)/cmdline") {
      var chunk = [UInt8](repeating: 0, count: 4096)
      while argv0.count < 128 * 1024 {
        let n = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        if let nul = chunk[..<n].firstIndex(of: 0) {
          argv0.append(contentsOf: chunk[..<nul])
          break
        }
        argv0.append(contentsOf: chunk[..<n])
      }
      try? fd.close()
    }
    record(pid: pid, argv0: argv0)
  }

  /// Keeps `argv0` as `pid`'s program (its basename when it starts with '/') and builds netstat's
  /// label from it.
  mutating func record(pid: Int32, argv0 whole: [UInt8]) {
    var argv0 = whole
    var netstatName = Array(argv0.prefix(511))
    if netstatName.first == 0x2f, let slash = netstatName.lastIndex(of: 0x2f) {
      netstatName = Array(netstatName[(slash + 1)...])
    }
    if argv0.first == 0x2f, let slash = argv0.lastIndex(of: 0x2f) {
      argv0 = Array(argv0[(slash + 1)...])
    }
    programs[pid] = argv0
    var label = Array(String(pid).utf8)
    label.append(0x2f)
    label.append(contentsOf: netstatName)
    labels[pid] = label
  }

  /// A map made from known owners (tests, recorded runs): each socket's holders in pid order,
  /// each process's argv[0] as /proc/[pid]/cmdline would give it.
  public static func known(
    _ entries: [(inode: UInt64, pid: Int32, fd: Int32)], argv0: [Int32: [UInt8]]
  ) -> ProcessOwners {
    var map = ProcessOwners()
    for (pid, name) in argv0 { map.record(pid: pid, argv0: name) }
    for e in entries.sorted(by: { $0.pid < $1.pid }) {
      map.add(inode: e.inode, pid: e.pid, fd: e.fd)
    }
    return map
  }

  /// Adds one (inode, owner) pair found by a walk; the first owner of an inode stays first.
  mutating func add(inode: UInt64, pid: Int32, fd: Int32) {
    sawSocket = true
    if firstOwner[inode] == nil { firstOwner[inode] = Int32(owners.count) }
    owners.append((inode, Owner(pid: pid, fd: fd)))
  }

  /// Copies a process's program name and label from another map.
  mutating func copyProgram(of pid: Int32, from other: ProcessOwners) {
    programs[pid] = other.programs[pid]
    labels[pid] = other.labels[pid]
  }

  /// Marks that some fd folder could not be read.
  mutating func noteDenied() { permissionDenied = true }
}

/// A walk of /proc/[pid]/fd on a thread of its own, so that it overlaps the kernel dump on a
/// second core; `join()` waits for it and hands over the map.
public final class BackgroundOwnerScan: @unchecked Sendable {
  private var thread = pthread_t()
  private var result = ProcessOwners()
  private let procRoot: String
  private var started = false

  /// Starts the walk of `<procRoot>/[0-9]*/fd`.
  public init(procRoot: String = "/proc") {
    self.procRoot = procRoot
    let context = Unmanaged.passRetained(self).toOpaque()
    started =
      pthread_create(
        &thread, nil,
        { raw in
          // swift-format-ignore: NeverForceUnwrap
          let scan = Unmanaged<BackgroundOwnerScan>.fromOpaque(raw!).takeRetainedValue()
          scan.result = ProcessOwners.scan(procRoot: scan.procRoot)
          return nil
        }, context) == 0
    if !started {
      Unmanaged<BackgroundOwnerScan>.fromOpaque(context).release()
      result = ProcessOwners.scan(procRoot: procRoot)
    }
  }

  /// Waits for the walk and returns what it found.
  public func join() -> ProcessOwners {
    if started {
      pthread_join(thread, nil)
      started = false
    }
    return result
  }
}
