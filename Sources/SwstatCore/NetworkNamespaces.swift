import Glibc

/// A network namespace found on the host: its nsfs inode, a path that opens it, and the label
/// rows carry (`ip netns` name when it has one, else `net:[inode]`, as /proc/PID/ns/net reads).
public struct NetworkNamespaceInfo: Hashable, Sendable {
  /// The namespace's inode on nsfs (the number in `net:[…]`).
  public var inode: UInt64
  /// A file that opens it: /run/netns/NAME or /proc/PID/ns/net.
  public var path: String
  /// The `ip netns` name, when it has one.
  public var name: String?
  /// The name, else `net:[inode]`.
  public var label: String { name ?? "net:[\(inode)]" }
  /// A namespace from its parts.
  public init(inode: UInt64, path: String, name: String? = nil) {
    self.inode = inode
    self.path = path
    self.name = name
  }
}

/// Why a namespace could not be entered.
public struct NamespaceError: Error, CustomStringConvertible, Equatable {
  /// What was being done ("--netns: /run/netns/x").
  public var context: String
  /// The errno.
  public var errno: Int32
  /// What the file is when it is not a network namespace ("a directory"), else nil.
  public var notANamespace: String? = nil
  /// "--netns: needs root (CAP_SYS_ADMIN): Operation not permitted", "--netns ../../etc:
  /// not a network namespace (a directory)".
  public var description: String {
    if let notANamespace { return "\(context): not a network namespace (\(notANamespace))" }
    let reason = String(cString: strerror(errno))
    return errno == EPERM
      ? "\(context): needs root (CAP_SYS_ADMIN): \(reason)" : "\(context): \(reason)"
  }
  /// An error from its parts.
  public init(context: String, errno: Int32, notANamespace: String? = nil) {
    self.context = context
    self.errno = errno
    self.notANamespace = notANamespace
  }
}

/// Finding network namespaces and running code inside one.
public enum NetworkNamespaces {
  /// `ip netns` names resolve to /run/netns/NAME; anything with a '/' is a path already.
  public static func path(for nameOrPath: String) -> String {
    nameOrPath.contains("/") ? nameOrPath : "/run/netns/" + nameOrPath
  }

  /// Checks that `path` opens a network namespace, naming what it is otherwise: `--netns
  /// ../../etc: not a network namespace (a directory)`, `--netns blue: /run/netns/blue: No such
  /// file or directory`. `given` is the name or path as the user typed it (shown visibly by
  /// the caller's message).
  public static func check(_ path: String, context: String) throws(NamespaceError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    guard fd >= 0 else { throw NamespaceError(context: context + ": " + path, errno: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw NamespaceError(context: context, errno: errno) }
    if let kind = FileKind.nonRegular(st.st_mode) {
      throw NamespaceError(context: context, errno: EINVAL, notANamespace: kind)
    }
    // A namespace file is a regular file on nsfs; NS_GET_NSTYPE says which kind it is.
    let nsGetType = UInt(0xb703)  // _IO(0xb7, 0x3)
    let type = ioctl(fd, nsGetType)
    if type < 0 {
      throw NamespaceError(context: context, errno: EINVAL, notANamespace: "a regular file")
    }
    if type != 0x4000_0000 {  // CLONE_NEWNET
      throw NamespaceError(
        context: context, errno: EINVAL, notANamespace: "another kind of namespace")
    }
  }

  /// Every distinct network namespace: those named in /run/netns and those any process is in
  /// (/proc/[pid]/ns/net), deduplicated by nsfs inode, in inode order.
  public static func all(procRoot: String = "/proc", runDir: String = "/run/netns")
    -> [NetworkNamespaceInfo]
  {
    var found: [UInt64: NetworkNamespaceInfo] = [:]
    for name in listDirectory(runDir).sorted() {
      let path = runDir + "/" + name
      guard let inode = nsInode(path) else { continue }
      if found[inode]?.name == nil {
        found[inode] = NetworkNamespaceInfo(inode: inode, path: path, name: name)
      }
    }
    for entry in listDirectory(procRoot) where !entry.isEmpty && entry.allSatisfy(\.isNumber) {
      let path = procRoot + "/" + entry + "/ns/net"
      // Keep a path this process may open: stat works where open() can still be refused
      // (EACCES from the ptrace check on another container's pid 1).
      guard let inode = nsInode(path), found[inode] == nil, canOpen(path) else { continue }
      found[inode] = NetworkNamespaceInfo(inode: inode, path: path)
    }
    return found.values.sorted { $0.inode < $1.inode }
  }

  /// The nsfs inode of a namespace file (stat follows the /proc magic link).
  public static func nsInode(_ path: String) -> UInt64? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return UInt64(st.st_ino)
  }

  static func canOpen(_ path: String) -> Bool {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd >= 0 { close(fd) }
    return fd >= 0
  }

  static func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let e = readdir(dir) {
      // d_name where it lies, up to its NUL: copying the whole 256-byte field reads past the
      // end of glibc's buffer at its last entry (as ProcessOwners.numericName learned).
      let name = withUnsafeMutablePointer(to: &e.pointee.d_name) { tuple in
        UnsafeRawPointer(tuple).withMemoryRebound(to: CChar.self, capacity: 256) {
          String(cString: $0)
        }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Runs `body` on a new thread that has entered the namespace at `path` with
  /// setns(CLONE_NEWNET); the calling thread never changes namespace. Sockets `body` opens
  /// (netlink included) belong to that namespace; its /proc/net is /proc/thread-self/net.
  /// Throws `NamespaceError` when the namespace cannot be opened or entered, or what `body`
  /// threw.
  public static func run(in path: String, context: String, _ body: () throws -> Void) throws {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw NamespaceError(context: context + ": " + path, errno: errno) }
    defer { close(fd) }
    try withoutActuallyEscaping(body) { body in
      let job = Job(fd: fd, body: body)
      var thread = pthread_t()
      let box = Unmanaged.passRetained(job).toOpaque()
      let rc = pthread_create(
        &thread, nil,
        { raw in
          // swift-format-ignore: NeverForceUnwrap
          let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
          job.run()
          return nil
        }, box)
      if rc != 0 {
        Unmanaged<Job>.fromOpaque(box).release()
        throw NamespaceError(context: "pthread_create", errno: rc)
      }
      pthread_join(thread, nil)
      if job.setnsErrno != 0 {
        throw NamespaceError(context: context, errno: job.setnsErrno)
      }
      if let e = job.error { throw e }
    }
  }

  final class Job: @unchecked Sendable {
    let fd: Int32
    let body: () throws -> Void
    var error: (any Error)?
    var setnsErrno: Int32 = 0
    init(fd: Int32, body: @escaping () throws -> Void) {
      self.fd = fd
      self.body = body
    }
    func run() {
      let rc = UnixShim.enterNetworkNamespace(fd)
      if rc != 0 {
        setnsErrno = -rc
        return
      }
      do { try body() } catch { self.error = error }
    }
  }
}
