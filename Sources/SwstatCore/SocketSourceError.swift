import SystemPackage

/// Why a source could not list sockets.
public enum SocketSourceError: Error, Equatable, CustomStringConvertible {
  /// The source cannot be used here (socket refused, file missing): try the next source.
  case unavailable(source: String, errno: Errno)
  /// The source failed after it had delivered records, so no other source can take over.
  case failed(source: String, errno: Errno)
  /// A table we cannot read: the file (or "netlink"), the 1-based line, and why.
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

/// Opens a /proc table (or a file of a captured tree) for reading, or throws `.unavailable`
/// naming it.
func openProcFile(_ path: String) throws(SocketSourceError) -> FileDescriptor {
  do {
    return try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
  } catch {
    throw .unavailable(source: path, errno: (error as? Errno) ?? .ioError)
  }
}
