import Glibc
import SwstatCore
import SwstatRender

/// The listing: netstat's tables — tcp, tcp6, udp, udp6 streamed from the kernel, then the
/// UDP-Lite and raw tables, then UNIX sockets, as the plan's tables say — as netstat's text or
/// NDJSON. One table's trouble never hides the others: a table that cannot be read is reported
/// after the rest is listed, and the run exits 1.
struct ListingMode {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String
  /// Where the dumps put what `--info`, `--memory` and `--cgroup` ask of the kernel, for the
  /// rows to take as they are written; nil without them.
  let extras: SocketExtrasStore?
  /// cgroup ids to paths (`--cgroup`), the cgroup2 mount walked once.
  let cgroups: CgroupPaths?

  /// A listing; `extras`: the store another listing's sinks read (`--all-netns` lists each
  /// namespace into the same sinks), else one of its own when the plan asks for extras.
  init(plan: Plan, env: Environment, netRoot: String, extras: SocketExtrasStore? = nil) {
    self.plan = plan
    self.env = env
    self.netRoot = netRoot
    self.extras = extras ?? (plan.extras.isEmpty ? nil : SocketExtrasStore(kinds: plan.extras))
    cgroups = plan.extras.contains(.cgroup) ? CgroupPaths() : nil
  }

  /// netstat's table, with the extras' line under each row when asked for.
  func table(labelled: Bool = false) -> NetstatTable {
    let table = NetstatTable(options: plan.look, output: env.output, labelled: labelled)
    table.extras = extras.map {
      SocketExtrasText(
        store: $0, numeric: plan.look.numericHosts, options: plan.look.timers, cgroups: cgroups,
        names: plan.look.names)
    }
    return table
  }

  /// The NDJSON sink, with the extras' members when asked for.
  func json() -> SocketJSON {
    let json = SocketJSON(output: env.output, owners: plan.programs)
    json.extras = extras.map { SocketExtrasJSON(store: $0, cgroups: cgroups) }
    return json
  }

  /// What a pass met that did not stop it: the first failure, said at the end.
  struct Trouble {
    var first: String? = nil
    var listed = false
  }

  /// The sinks of a listing: the internet table and the UNIX table, or their NDJSON.
  func run() throws -> Int32 {
    let out = env.output
    var trouble = Trouble()
    if plan.json {
      var inet = json()
      var unix = UnixJSON(output: out, owners: plan.programs)
      try list(netns: nil, owners: ownerLookup(), &inet, &unix, &trouble)
    } else {
      var inet = table()
      var unix = UnixTable(options: plan.look, output: out)
      try list(netns: nil, owners: ownerLookup(), &inet, &unix, &trouble)
    }
    return try finish(trouble)
  }

  /// The lookup a one-off listing uses, or nil without -p.
  func ownerLookup() -> (any OwnerLookup)? { plan.programs ? env.ownerWalk() : nil }

  /// Flushes what was listed and reports the first table that could not be read; when no table
  /// could be, nothing is printed but the reason.
  func finish(_ trouble: Trouble) throws -> Int32 {
    guard let message = trouble.first else {
      try env.output.flush()
      return 0
    }
    if !trouble.listed { env.output.discard() }
    try env.output.flush()
    env.errors("swstat: \(message)\n")
    return 1
  }

  /// One listing of every table the plan names, rows labelled `netns` under --all-netns;
  /// `noted`: netstat's owner note was already written.
  func list<I: OutputSink, U: OutputSink>(
    netns: [UInt8]?, owners lookup: (any OwnerLookup)?, noted: Bool = false, _ inet: inout I,
    _ unix: inout U, _ trouble: inout Trouble
  ) throws where I.Item == SocketRecord, U.Item == UnixSocketRecord {
    let tables = plan.tables
    var owners: OwnerTable? = nil
    var noted = noted
    func note(_ table: OwnerTable?) {
      guard let table, !noted else { return }
      noted = true
      OwnerNote.write(table, env)
    }
    if tables.tcp || tables.udp {
      var query = plan.query
      query.transports = (tables.tcp ? [.tcp] : []) + (tables.udp ? [.udp] : [])
      query.extras = extras
      // -K: each socket closed as it is listed (a socket gone meanwhile is skipped).
      let killer = plan.kill ? try SocketKiller() : nil
      var stream = OwnedStream(
        source: env.source(netRoot), query: query, ownerFilter: plan.ownerFilter,
        owners: lookup, everyOwner: plan.everyOwner)
      var failures: [SocketSourceError] = []
      stream.onTableError = { failures.append($0) }
      do {
        owners = try stream.run(
          start: { table in
            note(table)
            try inet.begin(Section(.inet, owners: table, netns: netns))
          },
          each: { r in
            if let killer {
              do { try killer.kill(r) } catch SocketKillError.gone { return }
            }
            try inet.write(r)
          })
        trouble.listed = true
      } catch let error as SocketSourceError {
        failures.insert(error, at: 0)
      }
      if let first = failures.first, trouble.first == nil { trouble.first = first.description }
    }
    if tables.udplite || tables.raw || tables.unix, lookup != nil, owners == nil {
      // -w or -x without tcp/udp: the walk is still needed, for every socket.
      lookup?.start(listeningOnly: false, everyOwner: plan.everyOwner)
      owners = lookup.map { OwnerTable($0.finish(inodes: [])) }
      note(owners)
    }
    let wanted = plan.ownerFilter.flatMap { f in owners.map { $0.inodes(matching: f) } }
    if tables.udplite || tables.raw {
      try listExtra(netns, owners, wanted, &inet, &trouble)
    }
    if tables.unix {
      try listUnix(netns, owners, wanted, &unix, &trouble)
    }
  }

  /// The UDP-Lite and raw tables (netstat's order: udpl, udpl6, raw, raw6), from /proc.
  private func listExtra<I: OutputSink>(
    _ netns: [UInt8]?, _ owners: OwnerTable?, _ wanted: Set<UInt64>?,
    _ inet: inout I, _ trouble: inout Trouble
  ) throws where I.Item == SocketRecord {
    let source = ExtraInetSource(root: netRoot)
    for proto in [ExtraInetProtocol.udplite, .raw]
    where proto == .udplite ? plan.tables.udplite : plan.tables.raw {
      for family in plan.query.families {
        let table = ExtraInetTable(proto: proto, family: family)
        try inet.begin(Section(.extra(table), owners: owners, netns: netns))
        do {
          try source.forEach(table, scope: plan.query.scope) { r in
            if let wanted, !wanted.contains(r.inode) { return }
            try inet.write(r)
          }
          trouble.listed = true
        } catch let error as SocketSourceError {
          // netstat skips a missing table unless it was named (-w) and is the IPv4 raw one.
          guard case .unavailable = error,
            !(plan.tables.rawNamed && proto == .raw && family == .inet)
          else {
            if trouble.first == nil { trouble.first = error.description }
            continue
          }
        }
      }
    }
  }

  /// The UNIX sockets netstat's -l/-a split keeps; a missing /proc/net/unix is skipped unless -x
  /// asked for it, and lines that are not sockets are skipped and said once on stderr.
  private func listUnix<U: OutputSink>(
    _ netns: [UInt8]?, _ owners: OwnerTable?, _ wanted: Set<UInt64>?,
    _ unix: inout U, _ trouble: inout Trouble
  ) throws where U.Item == UnixSocketRecord {
    try unix.begin(Section(.unix, owners: owners, netns: netns))
    let scope = plan.query.scope
    do {
      let report = try env.unixSource(netRoot).forEachSocket { r in
        guard r.matches(scope) else { return }
        if let wanted, !wanted.contains(r.inode) { return }
        try unix.write(r)
      }
      trouble.listed = true
      if let line = report.skippedLines.first {
        let more = report.skippedLines.count - 1
        env.errors(
          "swstat: \(report.path):\(line): skipped a line that is not a socket"
            + (more > 0 ? " (and \(more) more)" : "")
            + " (a socket name holding a line break?)\n")
      }
    } catch let error as SocketSourceError {
      if case .unavailable = error, !plan.tables.unixNamed { return }
      if trouble.first == nil { trouble.first = error.description }
    }
  }
}

/// netstat's notes when some processes could not be looked at, on stderr before the banner.
enum OwnerNote {
  static func write(_ owners: OwnerTable, _ env: Environment) {
    guard owners.permissionDenied else { return }
    if owners.isEmpty {
      env.errors(
        "(No info could be read for \"-p\": geteuid()=\(geteuid()) but you should be root.)\n")
    } else {
      env.errors(
        "(Not all processes could be identified, non-owned process info\n will not be shown, you would have to be root to see it all.)\n"
      )
    }
  }
}
