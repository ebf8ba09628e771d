import SwstatCore
import SwstatRender

/// What one run of swstat does, decided from the command line before anything is read: every
/// string already parsed, every conflict already refused. A mode is built from it and run
/// against an `Environment`.
public struct Plan: Sendable {
  /// What the run produces.
  public enum Mode: Sendable, Equatable {
    /// The listing: netstat's table, or NDJSON.
    case rows
    /// `--count`.
    case count
    /// `--count-by KEYS`.
    case groupedCount([CountKey])
    /// `-q`: exit 0 when a socket matches, 1 when none does.
    case quiet
    /// `--expect`: exit 1 unless every comparison holds.
    case expect([Expectation])
    /// `-c`: the listing again every interval.
    case continuous
    /// `--watch`.
    case watch
    /// `--events`.
    case events
    /// `-s`.
    case statistics
  }

  /// Which of netstat's tables a listing covers, decided as netstat's main() decides: with no
  /// protocol flag every table (tcp, udp, udplite, raw, then UNIX sockets); -4/-6 alone the
  /// internet tables; otherwise the ones named.
  public struct Tables: Sendable, Equatable {
    /// tcp, tcp6.
    public var tcp = false
    /// udp, udp6.
    public var udp = false
    /// udpl, udpl6 (never named on the command line: netstat's every-table listing only).
    public var udplite = false
    /// raw, raw6 (-w).
    public var raw = false
    /// UNIX domain sockets (-x).
    public var unix = false
    /// Whether -w was given (a missing raw table is then an error, as in netstat).
    public var rawNamed = false
    /// Whether -x was given (a missing /proc/net/unix is then an error).
    public var unixNamed = false
    /// Tables from their parts.
    public init() {}
    /// Whether the "Active Internet connections" section is printed at all.
    public var internet: Bool { tcp || udp || udplite || raw }
    /// Whether any table beyond tcp and udp is listed.
    public var beyondTCPAndUDP: Bool { udplite || raw || unix }
  }

  /// The mode.
  public var mode: Mode = .rows
  /// The sockets wanted: tables of tcp/udp, families, netstat's scope, the filter.
  public var query = SocketQuery()
  /// The tables listed (the rows mode and -c list raw, UDP-Lite and UNIX sockets too).
  public var tables = Tables()
  /// `--pid`, `--program`.
  public var ownerFilter: OwnerFilter? = nil
  /// -p (or an owner filter): owners are looked up.
  public var programs = false
  /// How the table looks.
  public var look = NetstatOptions()
  /// `--json`.
  public var json = false
  /// Seconds between passes of -c, --watch, --events.
  public var interval: Double = 1
  /// `--source`.
  public var source: SourceChoice = .auto
  /// `--proc-root`: where /proc is read (the tables and the -p walk).
  public var procRoot = "/proc"
  /// `-v`: say on stderr when a table falls back to /proc.
  public var verbose = false
  /// `--netns` (a path that opens it, and the name given) or `--all-netns`.
  public var namespace: NamespaceChoice? = nil
  /// The namespace the run is inside (`--netns NAME`): the events are labelled with it.
  public var namespaceLabel: [UInt8]? = nil
  /// `--transitions`: where --events and --watch take TCP state changes from.
  public var transitions: TransitionChoice = .auto
  /// `--resets`, `--retransmits`: those tracepoints' events too (--events, tracepoint only).
  public var resets = false, retransmits = false
  /// `--info`, `--memory`, `--cgroup`: what the listing shows beyond netstat (netlink only).
  public var extras: SocketExtras.Kinds = []
  /// `-K`: the listed sockets are closed (SOCK_DESTROY), each listed once closed.
  public var kill = false

  /// Where the live modes take TCP state changes from.
  public enum TransitionChoice: String, Sendable, CaseIterable {
    /// The tracepoint when it can be read here (root or CAP_PERFMON), else polling.
    case auto
    /// The kernel's tracepoint `sock:inet_sock_set_state`: every change, as it happens.
    case tracepoint
    /// A dump every interval and destroy notifications: misses the brief states.
    case poll
  }

  /// Where `--netns`/`--all-netns` look.
  public enum NamespaceChoice: Sendable, Equatable {
    /// One namespace: the path to open and the name as given (for messages).
    case one(path: String, given: String)
    /// Every namespace on the host.
    case all
  }

  /// A plan with netstat's defaults: TCP and UDP connections, listed.
  public init() {}

  /// The owners a run looks up: every process holding a socket for JSON and owner filters.
  public var everyOwner: Bool { json || ownerFilter != nil }
}
