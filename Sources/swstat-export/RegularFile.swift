import Glibc
import SystemPackage

/// Reading the exporter's files under `--proc-root` (net/netstat, [pid]/comm) without hanging: a
/// FIFO or a device put in place of one would block a plain open() or read() forever (issue 11,
/// item 7). The file is opened with O_NONBLOCK, checked with fstat, and read only when it is a
/// regular file (as every /proc file is).
enum RegularFile {
  /// Why a file could not be read.
  enum Failure: Error, Equatable {
    /// open() or read() failed.
    case system(Errno)
    /// The path names something else than a regular file; the words say what ("a FIFO").
    case notRegular(kind: String)
  }

  /// The whole file at `path`, read to end of file (/proc hands out one page per read()).
  static func read(_ path: String) throws(Failure) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
    guard fd >= 0 else { throw .system(Errno(rawValue: errno)) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .system(Errno(rawValue: errno)) }
    guard st.st_mode & S_IFMT == S_IFREG else { throw .notRegular(kind: kind(of: st.st_mode)) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n >= 0 else { throw .system(Errno(rawValue: errno)) }
      if n == 0 { return out }
      out.append(contentsOf: chunk[..<n])
    }
  }

  /// What a non-regular file is, in words for a message: "a FIFO", "a character device".
  static func kind(of mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: "a regular file"
    case S_IFDIR: "a directory"
    case S_IFLNK: "a symbolic link"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFIFO: "a FIFO"
    case S_IFSOCK: "a socket"
    default: "of unknown type"
    }
  }
}
