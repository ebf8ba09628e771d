import Glibc
import SwstatCore
import SwstatRender

/// What a mode runs against, passed in: where sockets come from, where owners come from, where
/// output and messages go, the clock of the live modes and the terminal. The executable builds
/// the real one (`Environment.system`); tests build one from recorded sources, a fake clock and
/// a buffer.
public struct Environment {
  /// The tcp/udp source for a /proc root (the root changes inside a network namespace).
  public var source: (_ netRoot: String) -> any SocketSource
  /// The UNIX socket source for a /proc root.
  public var unixSource: (_ netRoot: String) -> UnixSocketSource
  /// A fresh one-run owner lookup (the walk of /proc/[pid]/fd).
  public var ownerWalk: () -> any OwnerLookup
  /// A lookup kept across the ticks of a live mode.
  public var ownerCache: () -> any OwnerLookup
  /// Standard output.
  public var output: OutputBuffer
  /// Writes one line (with its newline) to standard error.
  public var errors: (String) -> Void
  /// The clock and signals of the live modes.
  public var ticker: (_ seconds: Double) -> any Ticker
  /// The terminal for the dashboard, or nil when standard output is not one.
  public var terminal: () -> (any TerminalControl)?

  /// An environment from its parts.
  public init(
    source: @escaping (String) -> any SocketSource,
    unixSource: @escaping (String) -> UnixSocketSource,
    ownerWalk: @escaping () -> any OwnerLookup, ownerCache: @escaping () -> any OwnerLookup,
    output: OutputBuffer, errors: @escaping (String) -> Void,
    ticker: @escaping (Double) -> any Ticker,
    terminal: @escaping () -> (any TerminalControl)?
  ) {
    self.source = source
    self.unixSource = unixSource
    self.ownerWalk = ownerWalk
    self.ownerCache = ownerCache
    self.output = output
    self.errors = errors
    self.ticker = ticker
    self.terminal = terminal
  }

  /// The real system for `plan`: sock_diag and /proc as `--source` says, /proc/[pid]/fd under
  /// `--proc-root`, stdout and stderr, CLOCK_MONOTONIC, the terminal on stdin/stdout.
  public static func system(_ plan: Plan) -> Environment {
    let procRoot = plan.procRoot
    let verbose = plan.verbose
    let choice = plan.source
    return Environment(
      source: { root in
        choice.source(procRoot: root) { table, reason in
          if verbose {
            writeStandardError(
              "swstat: netlink unavailable for \(table.procName) (\(reason)); reading /proc/net\n")
          }
        }
      },
      unixSource: { root in
        switch choice {
        case .netlink: .netlink
        case .proc: .proc(root: root)
        case .auto: .auto(root: root)
        }
      },
      ownerWalk: { OwnerWalk(procRoot: procRoot) },
      ownerCache: { OwnerCache(procRoot: procRoot) },
      output: OutputBuffer(), errors: writeStandardError,
      ticker: { LiveLoop(seconds: $0) },
      terminal: { isatty(STDOUT_FILENO) == 1 ? Terminal() : nil })
  }
}

/// Writes `text` to standard error unbuffered (`StandardError.write`).
public func writeStandardError(_ text: String) { StandardError.write(text) }

/// What ended a live mode's wait.
public enum Wake: Equatable, Sendable {
  /// The tick is due.
  case tick
  /// SIGINT, SIGTERM, SIGHUP or SIGQUIT: stop (the terminal is put back first).
  case stop
  /// SIGWINCH: the terminal changed size.
  case resize
  /// SIGTSTP (Ctrl-Z): put the terminal back, then stop the process (`suspend()`).
  case suspend
  /// SIGCONT: the process was continued; take the terminal again and redraw.
  case resume
  /// A key was pressed on the terminal.
  case key(UInt8)
  /// One of the extra descriptors is readable.
  case readable(Int32)
}

/// The clock and signals of the live modes (-c, --watch, --events): ticks on a monotonic clock,
/// stops on signals, keys on a terminal, one more descriptor to watch.
public protocol Ticker: AnyObject {
  /// Waits for the next tick or an event. `keys`: read keys from stdin; `extra`: more
  /// descriptors to watch (a destroy-notification socket, the tracepoint's rings).
  func wait(keys: Bool, extra: [Int32]) -> Wake
  /// Makes the next `wait` return a tick at once.
  func tickNow()
  /// CLOCK_REALTIME now, in nanoseconds since the epoch (for timestamps).
  func wallClock() -> Int64
  /// Stops the process (SIGTSTP's default action) until SIGCONT; returns when continued.
  func suspend()
}

/// The terminal the dashboard takes over: raw keys, the alternate screen, no cursor.
public protocol TerminalControl: Screen {
  /// Puts the terminal back as it was (idempotent).
  func restore()
  /// Takes the terminal again after a stop (the shell has put it back meanwhile).
  func enter()
}
