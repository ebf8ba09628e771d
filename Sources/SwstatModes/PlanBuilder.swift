import SwstatCore
import SwstatRender

/// A command line that cannot run: one line naming the flag and what is wrong (exit 64).
public struct UsageError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Turns the flags into a plan: each value parsed once, each conflict refused here.
public enum PlanBuilder {
  /// The plan for `f`. `terminal`: whether standard output is a terminal (names others chose
  /// are then written visibly in netstat's own columns too).
  public static func build(_ f: Flags, terminal: Bool) throws(UsageError) -> Plan {
    var plan = Plan()
    let modes: [(Bool, String)] = [
      (f.count, "--count"), (f.countBy != nil, "--count-by"), (!f.expect.isEmpty, "--expect"),
      (f.quiet, "-q"), (f.continuous, "-c"), (f.watch, "--watch"), (f.events, "--events"),
      (f.statistics, "-s"),
    ]
    let given = modes.filter(\.0).map(\.1)
    if given.count > 1 {
      throw UsageError("\(given.joined(separator: " and ")) are separate modes: give one")
    }
    var filter: SocketFilter
    do {
      filter = try SocketFilter.parse(
        state: f.state, sport: f.sport, dport: f.dport, port: f.port, src: f.src, dst: f.dst)
    } catch {
      throw UsageError(error.description)
    }
    if !f.expression.isEmpty {
      var environment = FilterEnvironment.system
      environment.transports = f.tcp == f.udp ? [.tcp, .udp] : f.tcp ? [.tcp] : [.udp]
      do {
        let e = try ExpressionFilter.parse(f.expression, environment: environment)
        filter.expression = e.isEmpty ? nil : e
      } catch {
        throw UsageError(error.description)
      }
      if let why = filter.refusal(for: f.source) { throw UsageError(why) }
      if f.events, let keyword = filter.expression?.kernelOnlyKeyword {
        throw UsageError(
          "filter: \"\(keyword)\" can only be tested by the kernel's dump; --events also sees sockets through destroy notifications"
        )
      }
    }
    if let text = f.countBy {
      switch CountKey.parseList(text) {
      case .success(let keys): plan.mode = .groupedCount(keys)
      case .failure(let bad): throw UsageError("--count-by: \(bad)")
      }
    } else if !f.expect.isEmpty {
      var all: [Expectation] = []
      for e in f.expect {
        do { all += try Expectation.parseList(e) } catch { throw UsageError("--expect: \(error)") }
      }
      plan.mode = .expect(all)
    } else if f.count {
      plan.mode = .count
    } else if f.quiet {
      plan.mode = .quiet
    } else if f.continuous {
      plan.mode = .continuous
    } else if f.watch {
      plan.mode = .watch
    } else if f.events {
      plan.mode = .events
    } else if f.statistics {
      plan.mode = .statistics
    }
    let live = f.continuous || f.watch || f.events
    if let text = f.transitions {
      guard f.events || f.watch else {
        throw UsageError("--transitions: applies to --events and --watch only")
      }
      guard let choice = Plan.TransitionChoice(rawValue: text) else {
        throw UsageError("--transitions: expected auto, tracepoint or poll, got \"\(text)\"")
      }
      plan.transitions = choice
    }
    if f.resets || f.retransmits {
      let flag = f.resets ? "--resets" : "--retransmits"
      guard f.events else { throw UsageError("\(flag): applies to --events only") }
      guard plan.transitions != .poll else {
        throw UsageError("\(flag): comes from the tracepoint; --transitions poll cannot see it")
      }
      if plan.transitions == .auto { plan.transitions = .tracepoint }
      (plan.resets, plan.retransmits) = (f.resets, f.retransmits)
    }
    if let text = f.interval {
      guard live else { throw UsageError("--interval: applies to -c, --watch and --events only") }
      plan.interval = try seconds(text)
    } else {
      plan.interval = f.events ? 0.1 : 1
    }
    if let text = f.pid {
      guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let pid = Int32(text),
        (1...4_194_304).contains(pid)
      else { throw UsageError("--pid: expected a process id from 1 to 4194304, got \"\(text)\"") }
      plan.ownerFilter = OwnerFilter(pid: pid)
    }
    if let program = f.program {
      guard !program.isEmpty else { throw UsageError("--program: expected a program name") }
      plan.ownerFilter = OwnerFilter(pid: plan.ownerFilter?.pid, program: program)
    }
    let namedFilter = filter != SocketFilter()
    // Tables, as netstat's main() picks them; JSON, counts, live modes and filters keep to TCP
    // and UDP unless -x or -w names the others.
    var tables = Plan.Tables()
    let protocolGiven = f.tcp || f.udp || f.raw || f.unix
    let familyGiven = f.inet || f.inet6
    if !protocolGiven {
      tables.tcp = true
      tables.udp = true
      let everyTable =
        !f.json && !namedFilter && plan.ownerFilter == nil
        && (plan.mode == .rows || plan.mode == .continuous)
      tables.udplite = everyTable
      tables.raw = everyTable
      tables.unix = everyTable && !familyGiven
    } else if familyGiven && !(f.tcp || f.udp || f.raw) {
      (tables.tcp, tables.udp, tables.udplite, tables.raw) = (true, true, true, true)
      tables.unix = f.unix
    } else {
      (tables.tcp, tables.udp, tables.raw, tables.unix) = (f.tcp, f.udp, f.raw, f.unix)
    }
    tables.rawNamed = f.raw
    tables.unixNamed = f.unix
    if plan.mode == .statistics {
      // -s: the protocols named pick the sections (none named: all of them).
      (tables.tcp, tables.udp, tables.raw, tables.udplite) = (f.tcp, f.udp, f.raw, false)
      tables.unix = false
    }
    plan.tables = tables
    if f.unix || f.raw {
      let flag = f.unix ? "-x" : "-w"
      switch plan.mode {
      case .rows, .continuous: break
      case .statistics:
        if f.unix { throw UsageError("-s: no statistics support for UNIX domain sockets (-x)") }
      default:
        throw UsageError(
          "\(flag): \(given.first ?? "") counts TCP and UDP sockets; -x and -w only list")
      }
      if namedFilter {
        throw UsageError(
          "\(flag): --state, --sport, --dport, --port, --src, --dst and filter words select TCP and UDP sockets; list \(f.unix ? "UNIX" : "raw") sockets apart"
        )
      }
    }
    if plan.mode == .statistics && (namedFilter || plan.ownerFilter != nil) {
      throw UsageError("-s prints counters; the socket filters do not apply to it")
    }
    var transports: [TransportProtocol] = []
    if tables.tcp { transports.append(.tcp) }
    if tables.udp { transports.append(.udp) }
    var families: [AddressFamily] = []
    if f.inet { families.append(.inet) }
    if f.inet6 { families.append(.inet6) }
    if families.isEmpty { families = [.inet, .inet6] }
    // A count covers servers too unless -l narrows it (a LISTEN row always zero would only
    // mislead), and so do the live modes; a --state list names the states wanted, as in ss.
    let counting: Bool
    switch plan.mode {
    case .count, .groupedCount, .expect, .watch, .events: counting = true
    default: counting = false
    }
    let statesNamed = filter.states != nil || filter.expression?.states != nil
    let scope: ListeningScope =
      f.all || ((counting || statesNamed) && !f.listening)
      ? .all : f.listening ? .listening : .connected
    plan.query = SocketQuery(
      transports: transports.isEmpty ? [.tcp, .udp] : transports,
      families: families, scope: scope, filter: filter)
    plan.programs = f.programs || plan.ownerFilter != nil
    plan.json = f.json
    var look = NetstatOptions()
    look.scope = scope
    look.wide = f.wide
    look.numericHosts = f.numeric || f.numericHosts
    look.numericPorts = f.numeric || f.numericPorts
    look.numericUsers = f.numeric || f.numericUsers
    look.extend = f.extend > 0
    look.programs = plan.programs
    look.timers = f.timers
    look.header = !f.noHeader
    look.names = terminal ? .visible : .netstat
    plan.look = look
    // A condition only the kernel can test must not fall back to /proc, where it would match
    // everything: --source auto becomes netlink for it.
    plan.source =
      f.source == .auto && filter.expression?.kernelOnlyKeyword != nil ? .netlink : f.source
    plan.procRoot = f.procRoot
    plan.verbose = f.verbose
    try depth(f, &plan, namedFilter: namedFilter)
    if f.allNetns {
      if f.netns != nil { throw UsageError("--netns and --all-netns exclude each other") }
      switch plan.mode {
      case .rows, .statistics: break
      case .events:
        // One tracepoint sees every namespace; polling would dump each one every tick.
        guard plan.transitions != .poll else {
          throw UsageError(
            "--all-netns --events follows every namespace through the tracepoint; --transitions poll follows one (--netns NAME)"
          )
        }
        guard plan.query.transports.contains(.tcp) else {
          throw UsageError("--all-netns --events follows TCP through the tracepoint: add -t")
        }
      default:
        throw UsageError(
          "--all-netns lists sockets and follows events; it does not count or watch them")
      }
      plan.namespace = .all
    } else if let name = f.netns {
      guard !name.isEmpty else { throw UsageError("--netns: expected a name or a path") }
      plan.namespace = .one(path: NetworkNamespaces.path(for: name), given: name)
    }
    return plan
  }

  /// `--info`, `--memory`, `--cgroup` and `-K`: what ss shows beyond netstat, and ss's kill.
  /// Listings only (the table, NDJSON, and -c for the first three), from netlink only.
  static func depth(_ f: Flags, _ plan: inout Plan, namedFilter: Bool) throws(UsageError) {
    var extras: SocketExtras.Kinds = []
    if f.info { extras.insert(.info) }
    if f.memory { extras.insert(.memory) }
    if f.cgroup { extras.insert(.cgroup) }
    guard !extras.isEmpty || f.kill else { return }
    let flag = f.kill ? "-K" : extras.flags[0]
    let listing = plan.mode == .rows || (plan.mode == .continuous && !f.kill)
    guard listing else {
      throw UsageError(
        f.kill
          ? "-K: closes the sockets it lists; it does not count, watch or repeat"
          : "\(flag): applies to listings (the table, --json, -c)")
    }
    if f.kill {
      // Without a filter -K would close every connection on the host.
      guard namedFilter || plan.ownerFilter != nil else {
        throw UsageError(
          "-K: would close every socket listed; select some: --state, a port, an address, --pid, --program or filter words"
        )
      }
      guard !f.unix && !f.raw else {
        throw UsageError("-K: closes TCP and UDP sockets; -x and -w only list")
      }
      if plan.source == .proc {
        throw UsageError("-K needs netlink (SOCK_DESTROY): not with --source proc")
      }
      plan.tables.udplite = false
      plan.tables.raw = false
      plan.tables.unix = false
    }
    if let why = extras.refusal(for: plan.source) { throw UsageError(why) }
    plan.extras = extras
    plan.kill = f.kill
  }

  /// Seconds as decimal digits with an optional fraction (no sign, exponent or hex: `0x10` is
  /// not 16 s), from 0.01 to 86400.
  static func seconds(_ text: String) throws(UsageError) -> Double {
    let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let digits = parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    guard digits, text.utf8.count <= 12, let value = Double(text), value >= 0.01, value <= 86400
    else {
      throw UsageError("--interval: expected seconds from 0.01 to 86400, got \"\(text)\"")
    }
    return value
  }
}
