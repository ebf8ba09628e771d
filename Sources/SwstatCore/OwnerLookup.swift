/// Which processes a run cares about: `--pid` and `--program`. A socket matches when any of
/// its owners does (a socket shared by several processes belongs to each).
public struct OwnerFilter: Hashable, Sendable {
  /// `--pid`: this process.
  public var pid: Int32?
  /// `--program`: argv[0] as `-p` shows it (its basename when it is a path), as raw bytes: a
  /// name need not be UTF-8, and may be longer than any column.
  public var program: [UInt8]?

  /// A filter from its parts.
  public init(pid: Int32? = nil, program: [UInt8]? = nil) {
    self.pid = pid
    self.program = program
  }

  /// Whether an owner (a remembered one, say) is wanted.
  public func matches(_ owner: SocketOwnerInfo) -> Bool {
    if let pid, pid != owner.pid { return false }
    if let program, owner.program != program { return false }
    return true
  }

  /// Whether the process `pid` (whose program `owners` knows) is wanted.
  public func matches(pid p: Int32, in owners: ProcessOwners) -> Bool {
    if let pid, pid != p { return false }
    if let program, owners.program(of: p) != program { return false }
    return true
  }
}

/// The owners of a dump's sockets, as the sinks read them: every process holding an inode, the
/// first one's `PID/Program name`, its program. A class, so that rows refer to one table.
public final class OwnerTable: @unchecked Sendable {
  /// What the walk of /proc/[pid]/fd found.
  public let owners: ProcessOwners
  private var lists: [UInt64: [SocketOwnerInfo]]? = nil

  /// A table over `owners`.
  public init(_ owners: ProcessOwners) { self.owners = owners }

  /// `PID/Program name` of the socket's first owner (lowest pid), uncut; nil when no visible
  /// process holds it.
  @inline(__always)
  public func label(of inode: UInt64) -> [UInt8]? { owners.label(of: inode) }

  /// The program (argv[0] as netstat trims it) of the socket's first owner.
  public func program(of inode: UInt64) -> [UInt8]? {
    owners.owner(of: inode).flatMap { owners.program(of: $0.pid) }
  }

  /// Every process holding the socket, in pid order (JSON's `owners`).
  public func all(of inode: UInt64) -> [SocketOwnerInfo] {
    if lists == nil {
      var all: [UInt64: [SocketOwnerInfo]] = [:]
      for (inode, o) in owners.owners {
        all[inode, default: []].append(
          SocketOwnerInfo(pid: o.pid, program: owners.program(of: o.pid) ?? [], fd: o.fd))
      }
      lists = all
    }
    return lists?[inode] ?? []
  }

  /// The sockets some owner of which `filter` wants (kept for the next call).
  public func inodes(matching filter: OwnerFilter) -> Set<UInt64> {
    if let matched, matched.filter == filter { return matched.inodes }
    var wanted = Set<UInt64>()
    for (inode, o) in owners.owners where filter.matches(pid: o.pid, in: owners) {
      wanted.insert(inode)
    }
    matched = (filter, wanted)
    return wanted
  }
  private var matched: (filter: OwnerFilter, inodes: Set<UInt64>)? = nil

  /// Whether some process could not be looked at (netstat's "should be root" note).
  public var permissionDenied: Bool { owners.permissionDenied }
  /// Whether no socket of any process could be seen.
  public var isEmpty: Bool { owners.isEmpty }
}

/// One process holding a socket, for `owners` in JSON.
public struct SocketOwnerInfo: Sendable, Equatable {
  /// The process id.
  public var pid: Int32
  /// argv[0] as netstat trims it (its basename when it is a path), not cut to a column.
  public var program: [UInt8]
  /// The descriptor number in that process.
  public var fd: Int32
  /// An owner from its parts.
  public init(pid: Int32, program: [UInt8], fd: Int32) {
    self.pid = pid
    self.program = program
    self.fd = fd
  }
}

/// Where a run's owners come from: one walk of /proc per run, or a cache kept across the ticks
/// of a live mode. `start` is told before the dump, so a walk can run beside it on a second
/// core; `finish` gets the dump's inodes.
public protocol OwnerLookup: AnyObject {
  /// The dump is about to begin. `everyOwner`: JSON and owner filters need every process
  /// holding a socket, not only the first.
  func start(listeningOnly: Bool, everyOwner: Bool)
  /// The owners of the dump whose inodes are `inodes`.
  func finish(inodes: [UInt64]) -> ProcessOwners
}

/// One walk of `<procRoot>/[pid]/fd` per run: beside the dump on a second thread for a whole
/// table; after it, stopping once every socket has an owner, for servers only (few sockets).
public final class OwnerWalk: OwnerLookup {
  private let procRoot: String
  private var background: BackgroundOwnerScan? = nil
  private var firstOwnerOnly = true

  /// A walk of `<procRoot>`.
  public init(procRoot: String = "/proc") { self.procRoot = procRoot }

  public func start(listeningOnly: Bool, everyOwner: Bool) {
    firstOwnerOnly = !everyOwner
    background = listeningOnly ? nil : BackgroundOwnerScan(procRoot: procRoot)
  }

  public func finish(inodes: [UInt64]) -> ProcessOwners {
    if let background {
      self.background = nil
      return background.join()
    }
    return ProcessOwners.scan(
      procRoot: procRoot, wanted: Set(inodes.lazy.filter { $0 != 0 }),
      firstOwnerOnly: firstOwnerOnly)
  }
}

extension OwnerCache: OwnerLookup {
  public func start(listeningOnly: Bool, everyOwner: Bool) {}
  public func finish(inodes: [UInt64]) -> ProcessOwners { refresh(inodes: inodes) }
}
