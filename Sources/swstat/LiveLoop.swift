import Glibc

/// The write end of the self-pipe the signal handler writes to (async-signal-safe).
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1

/// Ticks for the live modes (-c, --watch, --events): sleeps until the next tick on a
/// monotonic clock while watching, with poll(2), for signals (through a self-pipe), keys on a
/// terminal and one more descriptor (the destroy-event socket). Collecting and drawing share
/// no state with it.
final class LiveLoop {
  /// What ended a wait.
  enum Wake: Equatable {
    /// The tick is due.
    case tick
    /// SIGINT, SIGTERM or SIGHUP: stop.
    case stop
    /// SIGWINCH: the terminal changed size.
    case resize
    /// A key was pressed on the terminal.
    case key(UInt8)
    /// The extra descriptor is readable.
    case readable
  }

  /// Nanoseconds between ticks.
  let period: Int64
  private var next: Int64
  /// When the last tick was handed out, until the work it started is measured.
  private var tickedAt: Int64? = nil
  private let signalRead: Int32
  private var stdinOpen = true

  /// A loop ticking every `seconds`; installs handlers for SIGINT, SIGTERM, SIGHUP, SIGWINCH.
  init(seconds: Double) {
    period = max(1_000_000, Int64(seconds * 1e9))
    var fds: [Int32] = [0, 0]
    _ = pipe(&fds)
    for fd in fds {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    }
    signalRead = fds[0]
    signalPipeWrite = fds[1]
    // A parent may have started us with these blocked (a thread's mask survives exec).
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] { sigaddset(&unblock, sig) }
    sigprocmask(SIG_UNBLOCK, &unblock, nil)
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { sig in
        var byte = UInt8(truncatingIfNeeded: sig)
        _ = write(signalPipeWrite, &byte, 1)
      }
      action.sa_flags = SA_RESTART
      sigaction(sig, &action, nil)
    }
    next = LiveLoop.now() + period
  }

  /// CLOCK_MONOTONIC in nanoseconds.
  static func now() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  /// CLOCK_REALTIME in nanoseconds since the epoch (for timestamps).
  static func wallClock() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  /// Waits for the next tick or an event. `keys`: read keys from stdin (a terminal in raw
  /// mode); `extra`: one more descriptor to watch.
  func wait(keys: Bool = false, extra: Int32? = nil) -> Wake {
    let keys = keys && stdinOpen
    if let started = tickedAt {
      // The tick's work (a dump, its rows) is done. When it took more than half a period, the
      // next tick waits as long again: swstat never keeps more than half of one core busy,
      // however large the table and however short the interval.
      tickedAt = nil
      let work = LiveLoop.now() - started
      if 2 * work > period { next = max(next, started + 2 * work) }
    }
    while true {
      // A signal first: when ticks take longer than the period, the loop must still stop.
      var pending: UInt8 = 0
      if read(signalRead, &pending, 1) == 1 {
        if Int32(pending) == SIGWINCH { return .resize }
        return .stop
      }
      let remaining = next - LiveLoop.now()
      if remaining <= 0 {
        // Keep the cadence; after a long stall start again from now rather than burst.
        next += period
        let now = LiveLoop.now()
        if next < now { next = now + period }
        tickedAt = now
        return .tick
      }
      var fds = [pollfd(fd: signalRead, events: Int16(POLLIN), revents: 0)]
      if keys { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
      if let extra { fds.append(pollfd(fd: extra, events: Int16(POLLIN), revents: 0)) }
      let timeout = Int32(min(Int64(Int32.max), (remaining + 999_999) / 1_000_000))
      let n = poll(&fds, nfds_t(fds.count), timeout)
      if n <= 0 { continue }
      if fds[0].revents != 0 {
        var byte: UInt8 = 0
        while read(signalRead, &byte, 1) == 1 {
          if Int32(byte) == SIGWINCH { return .resize }
          return .stop
        }
      }
      if keys && fds[1].revents != 0 {
        var byte: UInt8 = 0
        let n = read(STDIN_FILENO, &byte, 1)
        if n == 1 { return .key(byte) }
        if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
          // The terminal went away (EOF, hang-up): stop listening to it, or poll spins.
          stdinOpen = false
          return wait(keys: false, extra: extra)
        }
      }
      if extra != nil && fds[fds.count - 1].revents != 0 { return .readable }
    }
  }

  /// Makes the next `wait` return a tick at once.
  func tickNow() { next = LiveLoop.now() }
}

/// `2026-11-25T12:00:00.123Z` for CLOCK_REALTIME nanoseconds (`milliseconds: false` drops the
/// fraction).
func isoTimestamp(_ nanoseconds: Int64, milliseconds: Bool = true) -> String {
  var t = time_t(nanoseconds / 1_000_000_000)
  var tm = tm()
  gmtime_r(&t, &tm)
  func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
  var s = "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T"
  s += "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
  if milliseconds {
    let ms = Int((nanoseconds / 1_000_000) % 1000)
    s += "." + (ms < 10 ? "00" : ms < 100 ? "0" : "") + String(ms)
  }
  return s + "Z"
}
