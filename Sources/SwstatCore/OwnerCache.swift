import Glibc

/// Process owners kept across the ticks of a live mode: each tick lists /proc's pids and walks
/// the fd folder only of processes that are new or whose number of open files changed (the
/// size stat(2) reports for /proc/[pid]/fd, Linux 6.2+); pids that exit drop out, so the cache
/// never holds more than the processes alive. When the dump still has inodes no cached process
/// holds (a process closed one socket and opened another), every process is walked again, at
/// most once per `fullRescanEvery` ticks.
public final class OwnerCache {
  private struct Process {
    var fdCount: Int
    var sockets: [(inode: UInt64, fd: Int32)]
    var readable: Bool
  }

  private let procRoot: String
  private var processes: [Int32: Process] = [:]
  private var programs = ProcessOwners()
  private var ticksSinceFullScan = 0
  private let fullRescanEvery: Int
  /// The owners as of the last `refresh`.
  public private(set) var current = ProcessOwners()
  /// How many fd folders the last refresh walked (for tests and the benchmark).
  public private(set) var lastWalked = 0

  /// An empty cache over `<procRoot>/[pid]/fd`.
  public init(procRoot: String = "/proc", fullRescanEvery: Int = 10) {
    self.procRoot = procRoot
    self.fullRescanEvery = fullRescanEvery
  }

  /// Brings the cache up to date; `inodes` are the sockets of this tick's dump, so unknown ones
  /// can trigger a full walk.
  @discardableResult
  public func refresh(inodes: some Sequence<UInt64>) -> ProcessOwners {
    ticksSinceFullScan += 1
    var walked = 0
    var seen = Set<Int32>()
    var changed = false
    let full = ticksSinceFullScan > fullRescanEvery && hasUnknown(inodes)
    if full { ticksSinceFullScan = 0 }
    if let dir = opendir(procRoot) {
      while let entry = readdir(dir) {
        guard let n = ProcessOwners.numericName(entry) else { continue }
        let pid = Int32(n)
        seen.insert(pid)
        var st = stat()
        let count = stat("\(procRoot)/\(pid)/fd", &st) == 0 ? Int(st.st_size) : -1
        if !full, let known = processes[pid], known.fdCount == count, count >= 0 { continue }
        processes[pid] = walk(pid: pid, fdCount: count)
        walked += 1
        changed = true
      }
      closedir(dir)
    }
    for pid in processes.keys where !seen.contains(pid) {
      processes[pid] = nil
      changed = true
    }
    lastWalked = walked
    if changed { rebuild() }
    return current
  }

  private func hasUnknown(_ inodes: some Sequence<UInt64>) -> Bool {
    inodes.contains { $0 != 0 && current.owner(of: $0) == nil }
  }

  private func walk(pid: Int32, fdCount: Int) -> Process {
    var p = Process(fdCount: fdCount, sockets: [], readable: false)
    guard let fds = opendir("\(procRoot)/\(pid)/fd") else { return p }
    defer { closedir(fds) }
    p.readable = true
    let link = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    defer { link.deallocate() }
    let clink = UnsafeMutableRawPointer(link).assumingMemoryBound(to: CChar.self)
    let dfd = dirfd(fds)
    while let e = readdir(fds) {
      guard let fd = ProcessOwners.numericName(e) else { continue }
      let n = withUnsafeMutablePointer(to: &e.pointee.d_name) { name in
        name.withMemoryRebound(to: CChar.self, capacity: 256) { readlinkat(dfd, $0, clink, 64) }
      }
      guard n > 9, let inode = ProcessOwners.socketInode(link, n) else { continue }
      p.sockets.append((inode, Int32(fd)))
    }
    if !p.sockets.isEmpty { programs.readProgram(pid: pid, procRoot: procRoot) }
    return p
  }

  /// Lays the processes out in pid order, as a single walk of /proc would find them.
  private func rebuild() {
    var map = ProcessOwners()
    for pid in processes.keys.sorted() {
      guard let p = processes[pid] else { continue }
      if !p.readable { map.noteDenied() }
      guard !p.sockets.isEmpty else { continue }
      map.copyProgram(of: pid, from: programs)
      for s in p.sockets { map.add(inode: s.inode, pid: pid, fd: s.fd) }
    }
    current = map
  }
}
