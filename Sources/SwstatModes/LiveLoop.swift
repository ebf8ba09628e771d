import Glibc
import SwstatRender

/// The write end of the self-pipe the signal handler writes to (async-signal-safe).
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1

/// The live modes' real clock and signals: sleeps until the next tick on CLOCK_MONOTONIC while
/// watching, with poll(2), for signals (through a self-pipe), keys on a terminal and one more
/// descriptor (the destroy-event socket).
public final class LiveLoop: Ticker {
  /// The signals the loop takes: stop, resize, job control.
  static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP, SIGCONT]

  /// Nanoseconds between ticks.
  let period: Int64
  private var next: Int64
  /// When the last tick was handed out (or the loop made: the first pass counts too), and the
  /// process's CPU time then: the work since, on every thread, is measured at each wait.
  private var markWall: Int64
  private var markCPU: Int64
  private let signalRead: Int32
  private var stdinOpen = true

  /// A loop ticking every `seconds`; installs handlers for SIGINT, SIGTERM, SIGHUP, SIGQUIT,
  /// SIGWINCH, SIGTSTP and SIGCONT.
  public init(seconds: Double) {
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
    for sig in Self.signals { sigaddset(&unblock, sig) }
    sigprocmask(SIG_UNBLOCK, &unblock, nil)
    for sig in Self.signals { Self.install(sig) }
    next = LiveLoop.now() + period
    markWall = LiveLoop.now()
    markCPU = LiveLoop.processCPU()
  }

  /// CPU time of the whole process (every thread: the -p walk, a dump's reader), nanoseconds.
  static func processCPU() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  private static func install(_ sig: Int32) {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { sig in
      var byte = UInt8(truncatingIfNeeded: sig)
      _ = write(signalPipeWrite, &byte, 1)
    }
    action.sa_flags = SA_RESTART
    sigaction(sig, &action, nil)
  }

  /// CLOCK_MONOTONIC in nanoseconds.
  static func now() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  public func wallClock() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  /// What a signal number means to the caller; SIGTSTP without a terminal stops here and now
  /// (nothing to put back), and its SIGCONT then means nothing.
  private func meaning(_ sig: Int32, terminal: Bool) -> Wake? {
    switch sig {
    case SIGWINCH: return .resize
    case SIGTSTP:
      if terminal { return .suspend }
      suspend()
      return nil
    case SIGCONT: return terminal ? .resume : nil
    default: return .stop
    }
  }

  public func wait(keys: Bool, extra: [Int32]) -> Wake {
    let terminal = keys
    let keys = keys && stdinOpen
    // The CPU the process used since the last tick (its dump and rows, the events handled
    // since, every thread's share): the next tick comes no sooner than 2.1 times that after
    // the last, so the ticks never keep more than half of one core busy, however large the
    // table and however short the interval (twice measured 0.51 at 100k sockets: the waking
    // and the work between the reading and the mark come on top).
    let spacing = (LiveLoop.processCPU() - markCPU) * 21 / 10
    if spacing > period { next = max(next, markWall + spacing) }
    while true {
      // A signal first: when ticks take longer than the period, the loop must still stop.
      var pending: UInt8 = 0
      while read(signalRead, &pending, 1) == 1 {
        if let wake = meaning(Int32(pending), terminal: terminal) { return wake }
      }
      let remaining = next - LiveLoop.now()
      if remaining <= 0 {
        // Keep the cadence; after a long stall start again from now rather than burst.
        next += period
        let now = LiveLoop.now()
        if next < now { next = now + period }
        markWall = now
        markCPU = LiveLoop.processCPU()
        return .tick
      }
      var fds = [pollfd(fd: signalRead, events: Int16(POLLIN), revents: 0)]
      if keys { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
      let firstExtra = fds.count
      for fd in extra { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      let timeout = Int32(min(Int64(Int32.max), (remaining + 999_999) / 1_000_000))
      let n = poll(&fds, nfds_t(fds.count), timeout)
      if n <= 0 { continue }
      if fds[0].revents != 0 { continue }  // read at the top of the loop
      if keys && fds[1].revents != 0 {
        var byte: UInt8 = 0
        let n = read(STDIN_FILENO, &byte, 1)
        if n == 1 { return .key(byte) }
        if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
          // The terminal went away (EOF, hang-up): stop listening to it, or poll spins.
          stdinOpen = false
          return wait(keys: terminal, extra: extra)
        }
      }
      for p in fds[firstExtra...] where p.revents != 0 { return .readable(p.fd) }
    }
  }

  public func tickNow() { next = LiveLoop.now() }

  /// Stops the process as SIGTSTP's default action would, and returns once continued: the
  /// handler steps aside, the signal is raised again, and the handler comes back.
  public func suspend() {
    signal(SIGTSTP, SIG_DFL)
    raise(SIGTSTP)
    Self.install(SIGTSTP)
  }
}

/// CLOCK_REALTIME nanoseconds as `Timestamp.iso` writes them.
func isoTimestamp(_ nanoseconds: Int64, milliseconds: Bool = true) -> String {
  Timestamp.iso(nanoseconds, milliseconds: milliseconds)
}
