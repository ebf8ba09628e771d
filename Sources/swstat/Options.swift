import ArgumentParser
import SwstatCore
import SwstatRender

/// `--source auto|netlink|proc`.
extension SourceChoice: ExpressibleByArgument {}

/// The flags netstat users know, with netstat's meaning; they combine in one group (`-tanp`).
struct ListingOptions: ParsableArguments {
  @Flag(name: [.customShort("t"), .customLong("tcp")], help: "List TCP sockets.")
  var tcp = false

  @Flag(name: [.customShort("u"), .customLong("udp")], help: "List UDP sockets.")
  var udp = false

  @Flag(name: [.customShort("a"), .customLong("all")], help: "List servers and connections.")
  var all = false

  @Flag(name: [.customShort("l"), .customLong("listening")], help: "List servers only.")
  var listening = false

  @Flag(name: [.customShort("n"), .customLong("numeric")], help: "Do not resolve names.")
  var numeric = false

  @Flag(name: .customLong("numeric-hosts"), help: "Do not resolve host names.")
  var numericHosts = false

  @Flag(name: .customLong("numeric-ports"), help: "Do not resolve port names.")
  var numericPorts = false

  @Flag(name: .customLong("numeric-users"), help: "Do not resolve user names.")
  var numericUsers = false

  @Flag(
    name: [.customShort("p"), .customLong("programs")],
    help: "Show the PID/Program name owning each socket.")
  var programs = false

  @Flag(name: [.customShort("4"), .customLong("inet")], help: "IPv4 sockets only.")
  var inet = false

  @Flag(name: [.customShort("6"), .customLong("inet6")], help: "IPv6 sockets only.")
  var inet6 = false

  @Flag(name: [.customShort("W"), .customLong("wide")], help: "Do not truncate addresses.")
  var wide = false

  @Flag(
    name: [.customShort("e"), .customLong("extend")],
    help: "Show the User and Inode columns.")
  var extend: Int

  @Flag(
    name: [.customShort("j"), .customLong("json")],
    help: "Print NDJSON: one object per socket (or per count) per line.")
  var json = false

  @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Leave out the header lines.")
  var noHeader = false

  @Flag(
    name: [.customShort("q"), .customLong("quiet")],
    help: "Print nothing; exit 0 when some socket matches, 1 when none does.")
  var quiet = false

  @Option(
    name: .customLong("count-by"),
    help: ArgumentHelp(
      "Count sockets grouped by keys: state, lport, rport, peer, program, uid.",
      valueName: "keys"))
  var countBy: String?

  @Option(
    name: .customLong("expect"),
    help: ArgumentHelp(
      "Exit 1 unless the counts meet EXPR, e.g. 'time_wait<5000' or 'close_wait==0'.",
      valueName: "expr"))
  var expect: [String] = []

  @Flag(name: [.customShort("o"), .customLong("timers")], help: "Show the Timer column.")
  var timers = false

  @Flag(
    name: [.customShort("c"), .customLong("continuous")],
    help: "Print the listing again every second (or --interval).")
  var continuous = false

  @Flag(
    name: .customLong("watch"),
    help: "A live dashboard of counts, trends, top ports and peers (a line per tick when piped).")
  var watch = false

  @Flag(
    name: .customLong("events"),
    help: "Print each socket's changes as they happen: NEW, state changes, GONE.")
  var events = false

  @Option(
    name: .customLong("interval"),
    help: ArgumentHelp(
      "Seconds between passes of -c, --watch and --events (default 1; 0.1 for --events).",
      valueName: "secs"))
  var interval: Double?

  @Option(
    name: .customLong("state"),
    help: ArgumentHelp(
      "Only these states: netstat names, or the groups connected, synchronized, bucket, big, all.",
      valueName: "list"))
  var state: String?

  @Option(
    name: .customLong("sport"), help: ArgumentHelp("Local port or range.", valueName: "port[-port]")
  )
  var sport: String?

  @Option(
    name: .customLong("dport"),
    help: ArgumentHelp("Remote port or range.", valueName: "port[-port]"))
  var dport: String?

  @Option(
    name: .customLong("port"),
    help: ArgumentHelp("Either end's port or range.", valueName: "port[-port]"))
  var port: String?

  @Option(
    name: .customLong("src"),
    help: ArgumentHelp("Local address or prefix.", valueName: "addr[/prefix]"))
  var src: String?

  @Option(
    name: .customLong("dst"),
    help: ArgumentHelp("Remote address or prefix.", valueName: "addr[/prefix]"))
  var dst: String?

  @Option(
    name: .customLong("pid"),
    help: ArgumentHelp("Only sockets this process holds (implies -p).", valueName: "pid"))
  var pid: Int32?

  @Option(
    name: .customLong("program"),
    help: ArgumentHelp(
      "Only sockets held by a program of this name (implies -p).", valueName: "name"))
  var program: String?

  @Flag(
    name: .customLong("count"),
    help: "Print sockets per state and table instead of rows (servers included unless -l).")
  var count = false

  @Option(name: .customLong("source"), help: "Where to read sockets: auto, netlink or proc.")
  var source: SourceChoice = .auto

  @Option(
    name: .customLong("proc-root"),
    help: ArgumentHelp("Read /proc from this folder (a captured tree).", valueName: "dir"))
  var procRoot = "/proc"

  @Flag(
    name: [.customShort("v"), .customLong("verbose")],
    help: "Say on stderr when swstat falls back to /proc/net.")
  var verbose = false

  mutating func validate() throws {
    do {
      _ = try SocketFilter.parse(
        state: state, sport: sport, dport: dport, port: port, src: src, dst: dst)
    } catch {
      throw ValidationError(error.description)
    }
    if let interval, !(interval >= 0.01 && interval <= 86400) {
      throw ValidationError("--interval: expected seconds from 0.01 to 86400, got \(interval)")
    }
    if [continuous, watch, events].filter({ $0 }).count > 1 {
      throw ValidationError("-c, --watch and --events are separate modes: give one")
    }
    if let pid, pid <= 0 {
      throw ValidationError("--pid: expected a process id above 0, got \(pid)")
    }
    if let countBy, case .failure(let bad) = CountKey.parseList(countBy) {
      throw ValidationError("--count-by: \(bad)")
    }
    for e in expect {
      do { _ = try Expectation.parseList(e) } catch { throw ValidationError("--expect: \(error)") }
    }
  }

  /// The plain settings these flags resolve to.
  var config: ListingConfig {
    var c = ListingConfig(
      tcp: tcp, udp: udp, all: all, listening: listening, numeric: numeric,
      numericHosts: numericHosts, numericPorts: numericPorts, numericUsers: numericUsers,
      programs: programs, inet: inet, inet6: inet6, wide: wide, extend: extend, count: count,
      source: source, procRoot: procRoot, verbose: verbose)
    c.json = json
    c.noHeader = noHeader
    c.quiet = quiet
    if let countBy, case .success(let keys) = CountKey.parseList(countBy) { c.countBy = keys }
    c.expectations = expect.flatMap { (try? Expectation.parseList($0)) ?? [] }
    c.filter =
      (try? SocketFilter.parse(
        state: state, sport: sport, dport: dport, port: port, src: src, dst: dst))
      ?? SocketFilter()
    c.ownerPid = pid
    c.timers = timers
    c.continuous = continuous
    c.watch = watch
    c.events = events
    c.interval = interval
    c.ownerProgram = program
    return c
  }
}
