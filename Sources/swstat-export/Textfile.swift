import Glibc

/// Writes the metrics file for node_exporter's textfile collector so that a reader sees the old
/// file or the new one, never a part: a temporary file in the same folder, fsync, rename over
/// PATH, then fsync the folder so the rename itself survives a crash.
///
/// The folder is often writable by another user (node_exporter's), who may plant a symbolic
/// link at any name there; the exporter runs as root. So the temporary file has a random name
/// and is created with O_EXCL|O_NOFOLLOW: open() never follows or reuses an entry it did not
/// just make (another name is drawn when one exists). And PATH is checked with lstat before
/// each round: anything there but a regular file (a symbolic link, a device such as /dev/full,
/// a FIFO, a folder) is refused, as rename() would replace that entry itself.
struct Textfile {
  let path: String

  /// Names tried before giving up when each one exists already (it never happens by chance
  /// with 64 random bits; only someone filling the folder would get there).
  static let attempts = 100

  /// A fresh temporary name: PATH.tmp. and 16 random hex digits (node_exporter reads only
  /// *.prom, so it never picks this one up).
  func temporaryPath() -> String {
    let hex = String(UInt64.random(in: .min ... .max), radix: 16)
    return "\(path).tmp.\(String(repeating: "0", count: 16 - hex.count))\(hex)"
  }

  /// Refuses a PATH that exists and is not a regular file; a missing one is fine.
  func checkTarget() throws(ExportError) {
    var st = stat()
    if lstat(path, &st) == 0 && st.st_mode & S_IFMT != S_IFREG {
      throw .notRegular(path: "--textfile \(path)", kind: RegularFile.kind(of: st.st_mode))
    }
  }

  /// Creates a new temporary file, mode 0644 whatever the umask (node_exporter runs as another
  /// user and must read it); returns its descriptor and name.
  func createTemporary() throws(ExportError) -> (fd: Int32, path: String) {
    var tmp = temporaryPath()
    for _ in 0..<Self.attempts {
      let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
      if fd >= 0 {
        guard fchmod(fd, 0o644) == 0 else {
          let error = errno
          close(fd)
          unlink(tmp)
          throw .file(path: tmp, errno: .init(rawValue: error))
        }
        return (fd, tmp)
      }
      guard errno == EEXIST else { throw .file(path: tmp, errno: .init(rawValue: errno)) }
      tmp = temporaryPath()
    }
    throw .file(path: tmp, errno: .fileExists)
  }

  /// Replaces the file's content with `bytes`; on failure the temporary file is removed and
  /// PATH keeps its old content.
  func write(_ bytes: [UInt8]) throws(ExportError) {
    try checkTarget()
    let (fd, tmp) = try createTemporary()
    var failure: ExportError?
    var done = 0
    while done < bytes.count {
      let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        failure = .file(path: tmp, errno: .init(rawValue: n < 0 ? errno : EIO))
        break
      }
      done += n
    }
    if failure == nil && fsync(fd) != 0 {
      failure = .file(path: tmp, errno: .init(rawValue: errno))
    }
    if close(fd) != 0 && failure == nil {
      failure = .file(path: tmp, errno: .init(rawValue: errno))
    }
    if failure == nil && rename(tmp, path) != 0 {
      failure = .file(path: path, errno: .init(rawValue: errno))
    }
    if let failure {
      unlink(tmp)
      throw failure
    }
    let slash = path.lastIndex(of: "/")
    let folder = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dir >= 0 {
      fsync(dir)
      close(dir)
    }
  }
}

/// `--textfile`: one round, or a round every `interval` seconds until SIGTERM or SIGINT. The
/// signals are blocked and taken with sigtimedwait, which is also the sleep between rounds, so
/// a signal never lands in the middle of a write. A failure in the first round exits 1 (a wrong
/// path or source shows at once); later ones are reported, counted and retried.
struct TextfileLoop {
  let textfile: Textfile
  let collector: Collector
  let interval: Double?

  /// Runs until done; returns the exit status.
  func run(signals: sigset_t) -> Int32 {
    var signals = signals
    var errors = 0
    var round = 0
    let clock = ContinuousClock()
    while true {
      let started = clock.now
      do {
        let scrape = try collector.collect()
        try textfile.write(Exposition.render(scrape, errors: errors, format: .prometheus))
      } catch {
        writeStderr("swstat: \(error)\n")
        if round == 0 { return 1 }
        errors += 1
      }
      round += 1
      guard let interval else { return 0 }
      let next = started + .milliseconds(Int64(interval * 1000))
      // Sleep until the next round, waking for SIGTERM/SIGINT; EINTR (a stop/continue) resumes.
      while clock.now < next {
        let left = next - clock.now
        var timeout = timespec(
          tv_sec: Int(left.components.seconds),
          tv_nsec: Int(left.components.attoseconds / 1_000_000_000))
        let signal = sigtimedwait(&signals, nil, &timeout)
        if signal == SIGTERM || signal == SIGINT { return 0 }
      }
    }
  }
}
