import ArgumentParser
import Glibc
import SwstatCore
import SwstatModes

/// `--source auto|netlink|proc`.
extension SourceChoice: ExpressibleByArgument {}

/// The flags, as netstat users know them where netstat has them; short ones combine (`-tanp`).
/// Options whose values may start with `-` (`--interval -1`, `--program -bash`) take the next
/// word whatever it looks like, so a bad value is named in its own message.
struct Options: ParsableArguments {
  @Flag(name: [.customShort("t"), .customLong("tcp")], help: "List TCP sockets.") var tcp = false
  @Flag(name: [.customShort("u"), .customLong("udp")], help: "List UDP sockets.") var udp = false
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
    name: [.customShort("e"), .customLong("extend")], help: "Show the User and Inode columns.")
  var extend: Int
  @Flag(name: [.customShort("x"), .customLong("unix")], help: "List UNIX domain sockets.")
  var unix = false
  @Flag(name: [.customShort("w"), .customLong("raw")], help: "List raw sockets.")
  var raw = false
  @Flag(
    name: [.customShort("j"), .customLong("json")],
    help: "Print NDJSON: one object per socket (or per count, event, tick) per line.")
  var json = false
  @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Leave out the header lines.")
  var noHeader = false
  @Flag(
    name: [.customShort("q"), .customLong("quiet")],
    help: "Print nothing; exit 0 when some socket matches, 1 when none does.")
  var quiet = false
  @Flag(
    name: .customLong("count"),
    help: "Print sockets per state and table instead of rows (servers included unless -l).")
  var count = false
  @Option(
    name: .customLong("count-by"), parsing: .unconditional,
    help: ArgumentHelp(
      "Count sockets grouped by keys: state, lport, rport, peer, program, uid.", valueName: "keys"))
  var countBy: String?
  @Option(
    name: .customLong("expect"), parsing: .unconditionalSingleValue,
    help: ArgumentHelp(
      "Exit 1 unless the counts meet EXPR, e.g. 'time_wait<5000' or 'close_wait==0'.",
      valueName: "expr"))
  var expect: [String] = []
  @Flag(name: [.customShort("o"), .customLong("timers")], help: "Show the Timer column.")
  var timers = false
  @Flag(
    name: [.customShort("c"), .customLong("continuous")],
    help: "List again every second (or --interval), every table of the listing.")
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
    name: .customLong("interval"), parsing: .unconditional,
    help: ArgumentHelp(
      "Seconds between passes of -c, --watch and --events (0.01-86400; default 1, 0.1 for --events).",
      valueName: "secs"))
  var interval: String?
  @Option(
    name: .customLong("state"), parsing: .unconditional,
    help: ArgumentHelp(
      "Only these states: netstat or ss names (new_syn_recv = syn_recv), or the groups connected, synchronized, bucket, big, all.",
      valueName: "list"))
  var state: String?
  @Option(
    name: .customLong("sport"), parsing: .unconditional,
    help: ArgumentHelp("Local port or range.", valueName: "port[-port]"))
  var sport: String?
  @Option(
    name: .customLong("dport"), parsing: .unconditional,
    help: ArgumentHelp("Remote port or range.", valueName: "port[-port]"))
  var dport: String?
  @Option(
    name: .customLong("port"), parsing: .unconditional,
    help: ArgumentHelp("Either end's port or range.", valueName: "port[-port]"))
  var port: String?
  @Option(
    name: .customLong("src"), parsing: .unconditional,
    help: ArgumentHelp("Local address or prefix.", valueName: "addr[/prefix]"))
  var src: String?
  @Option(
    name: .customLong("dst"), parsing: .unconditional,
    help: ArgumentHelp("Remote address or prefix.", valueName: "addr[/prefix]"))
  var dst: String?
  @Option(
    name: .customLong("pid"), parsing: .unconditional,
    help: ArgumentHelp("Only sockets this process holds (1-4194304; implies -p).", valueName: "pid")
  )
  var pid: String?
  @Option(
    name: .customLong("program"), parsing: .unconditional,
    help: ArgumentHelp(
      "Only sockets held by a program of this name, argv[0] as -p shows it, compared whole (implies -p).",
      valueName: "name"))
  var program: String?
  @Flag(
    name: [.customShort("s"), .customLong("statistics")],
    help: "Print protocol statistics (/proc/net/snmp, snmp6, netstat) as netstat -s does.")
  var statistics = false
  @Option(
    name: [.customShort("N"), .customLong("netns")], parsing: .unconditional,
    help: ArgumentHelp(
      "Run inside another network namespace: an ip netns name or a path such as /proc/PID/ns/net (needs root).",
      valueName: "name|path"))
  var netns: String?
  @Flag(
    name: .customLong("all-netns"),
    help: "Every network namespace, each row (or --events line) labelled (needs root).")
  var allNetns = false
  @Option(
    name: .customLong("transitions"),
    help: ArgumentHelp(
      "Where --events and --watch take TCP state changes from: auto, tracepoint (every change; root or CAP_PERFMON) or poll.",
      valueName: "source"))
  var transitions: String?
  @Flag(name: .customLong("resets"), help: "With --events: resets sent and received too.")
  var resets = false
  @Flag(name: .customLong("retransmits"), help: "With --events: retransmissions too.")
  var retransmits = false
  @Flag(
    name: .customLong("info"),
    help: "Under each TCP socket, the kernel's tcp_info as ss -i shows it (netlink only).")
  var info = false
  @Flag(
    name: .customLong("memory"),
    help: "The socket's memory as ss -m shows it: skmem:(r,rb,t,tb,f,w,o,bl,d) (netlink only).")
  var memory = false
  @Flag(
    name: .customLong("cgroup"),
    help: "The cgroup v2 path each socket was created in (netlink only).")
  var cgroup = false
  @Flag(
    name: [.customShort("K"), .customLong("kill")],
    help:
      "Close the selected sockets (SOCK_DESTROY, as ss -K) and list each one closed; needs a filter."
  )
  var kill = false
  @Option(name: .customLong("source"), help: "Where to read sockets: auto, netlink or proc.")
  var source: SourceChoice = .auto
  @Option(
    name: .customLong("proc-root"),
    help: ArgumentHelp("Read /proc from this folder (a captured tree).", valueName: "dir"))
  var procRoot = "/proc"
  @Flag(
    name: [.customShort("v"), .customLong("verbose")],
    help:
      "Say on stderr when swstat falls back to /proc/net, and where live modes take changes from.")
  var verbose = false
  @Argument(
    parsing: .remaining,
    help: ArgumentHelp(
      "ss's filter: [state STATE...] [exclude STATE...] EXPR, e.g. state established '( dport = :ssh or sport = :ssh )'.",
      valueName: "filter"))
  var expression: [String] = []

  /// The plain values. `--program`'s bytes are taken from argv itself: Swift's arguments
  /// replace bytes that are not UTF-8.
  var flags: Flags {
    var f = Flags()
    (f.tcp, f.udp, f.all, f.listening, f.numeric) = (tcp, udp, all, listening, numeric)
    (f.numericHosts, f.numericPorts, f.numericUsers) = (numericHosts, numericPorts, numericUsers)
    (f.programs, f.inet, f.inet6, f.wide, f.extend) = (programs, inet, inet6, wide, extend)
    (f.json, f.noHeader, f.quiet, f.timers, f.verbose) = (json, noHeader, quiet, timers, verbose)
    (f.count, f.continuous, f.watch, f.events) = (count, continuous, watch, events)
    (f.unix, f.raw, f.statistics, f.allNetns) = (unix, raw, statistics, allNetns)
    (f.countBy, f.expect, f.interval, f.state) = (countBy, expect, interval, state)
    (f.sport, f.dport, f.port, f.src, f.dst, f.pid) = (sport, dport, port, src, dst, pid)
    f.program = program.map { RawArguments.value(of: "--program") ?? Array($0.utf8) }
    (f.source, f.procRoot, f.netns, f.expression) = (source, procRoot, netns, expression)
    (f.transitions, f.resets, f.retransmits) = (transitions, resets, retransmits)
    (f.info, f.memory, f.cgroup, f.kill) = (info, memory, cgroup, kill)
    return f
  }
}

/// argv as bytes.
enum RawArguments {
  /// The bytes of the last value given to `option` (`--option VALUE` or `--option=VALUE`).
  static func value(of option: String) -> [UInt8]? {
    let argv = CommandLine.unsafeArgv
    let name = Array(option.utf8)
    var found: [UInt8]? = nil
    var i = 1
    while i < Int(CommandLine.argc) {
      guard let p = argv[i] else { break }
      let arg = Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
      if arg == name, i + 1 < Int(CommandLine.argc), let v = argv[i + 1] {
        found = Array(UnsafeRawBufferPointer(start: v, count: strlen(v)))
        i += 2
        continue
      }
      if arg.starts(with: name + [0x3d]) { found = Array(arg.dropFirst(name.count + 1)) }
      if arg == [0x2d, 0x2d] { break }  // "--"
      i += 1
    }
    return found
  }
}
