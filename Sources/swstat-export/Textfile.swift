import Glibc

/// Writes the metrics file for node_exporter's textfile collector so that a reader sees the old
/// file or the new one, never a part: PATH.tmp.PID in the same folder, fsync, rename over PATH,
/// then fsync the folder so the rename itself survives a crash.
struct Textfile {
  let path: String

  /// The temporary file's name.
  var temporaryPath: String { "\(path).tmp.\(getpid())" }

  /// Replaces the file's content with `bytes`; on failure the temporary file is removed and
  /// PATH keeps its old content.
  func write(_ bytes: [UInt8]) throws(ExportError) {
    let tmp = temporaryPath
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .file(path: tmp, errno: .init(rawValue: errno)) }
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
