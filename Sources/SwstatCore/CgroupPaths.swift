import Glibc

/// cgroup v2 ids (INET_DIAG_CGROUP_ID) as paths, the way ss's `cgroup:` shows them: relative to
/// the cgroup2 mount, the root cgroup as `/`, an id no directory has (a cgroup removed since the
/// socket was made in it) as `unreachable:<hex id>`.
///
/// A cgroup's id is its directory's inode number on cgroup2 (kernfs), which readdir reports as
/// `d_ino`: one walk of the mount maps every id without a stat per directory. The walk happens
/// on the first lookup, not before, so a run that never shows a cgroup never walks; an id the
/// walk did not see makes it walk again, at most once a second (cgroups made during a long run).
/// Not for concurrent use.
public final class CgroupPaths {
  /// The cgroup2 mount point walked (nil: none was found).
  public private(set) var mount: String?
  private let givenMount: Bool
  private var paths: [UInt64: [UInt8]] = [:]
  private var walked = false
  private var lastWalk: Int64 = 0
  /// How many directories a walk reads at most, and how deep it goes.
  static let walkLimit = 1 << 20
  static let depthLimit = 128

  /// A map of the cgroup2 tree at `mount`, or at the first cgroup2 mount of /proc/self/mounts.
  public init(mount: String? = nil) {
    self.mount = mount
    givenMount = mount != nil
  }

  /// The path of the cgroup with `id`, relative to the mount (`/` for the root), as bytes (a
  /// directory's name may be anything but `/` and NUL); `unreachable:<hex>` when no directory
  /// has that id.
  public func path(of id: UInt64) -> [UInt8] {
    if let p = paths[id] { return p }
    let now = Self.monotonicNanoseconds()
    if !walked || now - lastWalk >= 1_000_000_000 {
      walk()
      lastWalk = now
      if let p = paths[id] { return p }
    }
    return Array("unreachable:\(String(id, radix: 16))".utf8)
  }

  /// `path(of:)` as a string (invalid UTF-8 replaced).
  public func pathString(of id: UInt64) -> String {
    String(decoding: path(of: id), as: UTF8.self)
  }

  /// How many cgroups the last walk found.
  public var count: Int { paths.count }

  /// The id of a cgroup v2 directory given by its path, the reverse of `path(of:)`: `path` as
  /// given when it is a directory on the cgroup2 mount, else under the mount (`/` is the root),
  /// as ss's get_cgroup2_id takes a `cgroup PATH` filter's path. Nil when there is no such
  /// cgroup. The filter's condition is `FilterCondition.cgroup(id:path:)`; it compiles to
  /// INET_DIAG_BC_CGROUP_COND.
  public static func id(ofPath path: String) -> UInt64? {
    guard !path.utf8.contains(0), let mount = systemMount() else { return nil }
    var root = stat()
    guard stat(mount, &root) == 0 else { return nil }
    if path != "/", let id = directoryID(path, device: root.st_dev) { return id }
    let relative = path.drop { $0 == "/" }
    return directoryID(relative.isEmpty ? mount : mount + "/" + relative, device: root.st_dev)
  }

  /// The first cgroup2 mount point in /proc/self/mounts (its octal escapes undone), or nil.
  public static func systemMount() -> String? {
    guard let text = readSmallFile("/proc/self/mounts") else { return nil }
    for line in text.split(separator: UInt8(ascii: "\n")) {
      let fields = line.split(separator: UInt8(ascii: " "))
      guard fields.count >= 3, fields[2].elementsEqual("cgroup2".utf8) else { continue }
      return String(decoding: unescapeMountField(fields[1]), as: UTF8.self)
    }
    return nil
  }

  /// A /proc/self/mounts field with its `\ooo` escapes undone.
  static func unescapeMountField(_ field: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    var i = field.startIndex
    while i < field.endIndex {
      let rest = field[i...]
      if rest.first == UInt8(ascii: "\\"), rest.count >= 4,
        let code = UInt8(String(decoding: rest.dropFirst().prefix(3), as: UTF8.self), radix: 8)
      {
        out.append(code)
        i = field.index(i, offsetBy: 4)
      } else {
        out.append(field[i])
        i = field.index(after: i)
      }
    }
    return out
  }

  /// The inode of a directory on the file system `device` (the cgroup2 mount's).
  private static func directoryID(_ path: String, device: dev_t) -> UInt64? {
    var st = stat()
    guard stat(path, &st) == 0, st.st_dev == device, st.st_mode & S_IFMT == S_IFDIR else {
      return nil
    }
    return UInt64(st.st_ino)
  }

  /// Maps every directory under the mount: the root by stat, the rest by readdir's d_ino, not
  /// crossing into other file systems (ss walks with nftw's FTW_MOUNT).
  private func walk() {
    walked = true
    if !givenMount && mount == nil { mount = Self.systemMount() }
    guard let mount else { return }
    let fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      close(fd)
      return
    }
    paths[UInt64(st.st_ino)] = [UInt8(ascii: "/")]
    var budget = Self.walkLimit
    walkDirectory(fd, prefix: [], device: st.st_dev, depth: 0, budget: &budget)
  }

  /// Reads the directory open at `fd` (and closes it), recording each subdirectory's id and
  /// path (`prefix` + `/` + name), then descends into each.
  private func walkDirectory(
    _ fd: Int32, prefix: [UInt8], device: dev_t, depth: Int, budget: inout Int
  ) {
    guard let dir = fdopendir(fd) else {
      close(fd)
      return
    }
    defer { closedir(dir) }
    while budget > 0, let entry = readdir(dir) {
      guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
      var name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
      if name == [0x2e] || name == [0x2e, 0x2e] { continue }
      budget -= 1
      let path = prefix + [UInt8(ascii: "/")] + name
      paths[UInt64(entry.pointee.d_ino)] = path
      guard depth < Self.depthLimit else { continue }
      name.append(0)
      let child = name.withUnsafeBytes { n in
        // swift-format-ignore: NeverForceUnwrap
        openat(
          dirfd(dir), n.baseAddress!.assumingMemoryBound(to: CChar.self),
          O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
      }
      guard child >= 0 else { continue }
      var st = stat()
      guard fstat(child, &st) == 0, st.st_dev == device else {
        close(child)
        continue
      }
      walkDirectory(child, prefix: path, device: device, depth: depth + 1, budget: &budget)
    }
  }

  private static func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }
}

extension SocketFilter {
  /// Keeps only the sockets created in the cgroup v2 at `path` (absolute, or under the cgroup2
  /// mount), on top of every other condition: the filter language's `cgroup PATH` condition
  /// (INET_DIAG_BC_CGROUP_COND, run by the kernel), ANDed into `expression`. Returns false,
  /// changing nothing, when there is no such cgroup. Netlink only (`refusal(for: .proc)` says
  /// so).
  public mutating func requireCgroup(path: String) -> Bool {
    guard let id = CgroupPaths.id(ofPath: path) else { return false }
    let condition = FilterExpression.condition(.cgroup(id: id, path: path))
    let current = expression
    expression = ExpressionFilter(
      states: current?.states,
      expression: current?.expression.map { .and($0, condition) } ?? condition)
    return true
  }
}
