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

  /// Streams every socket (netstat's -l/-a split is the caller's) to `body`, in /proc/net/unix's
  /// order where it is read. Returns what was skipped.
  @discardableResult
  public func forEachSocket(_ body: (UnixSocketRecord) throws -> Void) throws -> UnixProcText.Report
  {
    switch self {
    case .proc(let root):
      let path = root + "/net/unix"
      return try UnixProcText.parse(readWholeFile(path), path: path, body)
    case .netlink:
      try UnixShim.dump(body)
      return UnixProcText.Report()
    case .auto(let root):
      let path = root + "/net/unix"
      var diag: [UnixSocketRecord] = []
      do {
        try UnixShim.dump { diag.append($0) }
      } catch SocketSourceError.unavailable {
        return try UnixProcText.parse(readWholeFile(path), path: path, body)
      }
      let text: [UInt8]
      do {
        text = try readWholeFile(path)
      } catch SocketSourceError.unavailable {
        // No /proc/net/unix (a captured tree without it): unix_diag's view, RefCnt unknown.
        for r in diag { try body(r) }
        return UnixProcText.Report()
      }
      return try UnixProcText.merge(diag, procText: text, path: path, body)
    }
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
