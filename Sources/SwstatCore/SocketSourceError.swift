import Glibc
import SystemPackage

/// Why a source could not list sockets.
public enum SocketSourceError: Error, Equatable, CustomStringConvertible {
  /// The source cannot be used here (socket refused, file missing): try the next source.
  case unavailable(source: String, errno: Errno)
  /// The source failed after it had delivered records, so no other source can take over.
  case failed(source: String, errno: Errno)
  /// A table we cannot read: the file (or "netlink"), the 1-based line (0: the whole file), and
  /// why.
  case malformed(path: String, line: Int, reason: String)

  /// One line: the thing, then the reason, then the number.
  public var description: String {
    switch self {
    case .unavailable(let source, let errno), .failed(let source, let errno):
      "\(source): \(errno) (errno \(errno.rawValue))"
    case .malformed(let path, let line, let reason):
      line > 0 ? "\(path):\(line): \(reason)" : "\(path): \(reason)"
    }
  }
}

/// What a file that should hold text is, when it is not a regular file.
public enum FileKind {
  /// "a FIFO", "a character device", …, or nil for a regular file.
  public static func nonRegular(_ mode: mode_t) -> String? {
    switch mode & S_IFMT {
    case S_IFREG: nil
    case S_IFIFO: "a FIFO"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFDIR: "a directory"
    case S_IFSOCK: "a socket"
    case S_IFLNK: "a symbolic link"
    default: "not a regular file"
    }
  }
}

/// Opens a /proc table (or a file of a captured tree) for reading. What is not a regular file
/// (every /proc file is one) is refused, so a FIFO or a device planted in a `--proc-root` tree
/// cannot hang or feed a run: the open itself does not wait (O_NONBLOCK, O_NOCTTY), and fstat
/// decides before anything is read. Throws `.unavailable` naming the file when it cannot be
/// opened, `.malformed(line: 0)` when it is not a regular file.
func openProcFile(_ path: String) throws(SocketSourceError) -> FileDescriptor {
  let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
  guard fd >= 0 else { throw .unavailable(source: path, errno: Errno(rawValue: errno)) }
  var st = stat()
  guard fstat(fd, &st) == 0 else {
    let e = errno
    close(fd)
    throw .unavailable(source: path, errno: Errno(rawValue: e))
  }
  if let kind = FileKind.nonRegular(st.st_mode) {
    close(fd)
    throw .malformed(path: path, line: 0, reason: "not a regular file (\(kind))")
  }
  return FileDescriptor(rawValue: fd)
}
