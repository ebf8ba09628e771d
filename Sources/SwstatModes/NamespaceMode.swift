import Glibc
import SwstatCore
import SwstatRender

/// `--netns NAME|PATH` and `--all-netns`: the same runs, inside other network namespaces. Each
/// namespace is entered with setns(CLONE_NEWNET) on a helper thread (`NetworkNamespaces.run`),
/// so the calling thread never moves; sock_diag sockets opened there belong to that namespace
/// and /proc/net is read from /proc/thread-self/net. The -p walk of /proc/[pid]/fd does not
/// depend on the namespace (socket inodes are unique host-wide), so it runs once.
struct NamespaceMode {
  let plan: Plan
  let env: Environment
  let choice: Plan.NamespaceChoice

  /// Where a namespace thread reads /proc/net.
  static let threadRoot = "/proc/thread-self"

  /// The plan as it runs inside a namespace thread.
  var inside: Plan {
    var p = plan
    p.namespace = nil
    return p
  }

  func run() throws -> Int32 {
    let flag = choice == .all ? "--all-netns" : "--netns"
    guard geteuid() == 0 else { throw NamespaceError(context: flag, errno: EPERM) }
    switch choice {
    case .one(let path, let given):
      let context = "--netns " + Visible.text(given)
      try NetworkNamespaces.check(path, context: context)
      var status: Int32 = 0
      var plan = inside
      plan.namespaceLabel = Array(given.utf8)
      let env = env
      try NetworkNamespaces.run(in: path, context: context) {
        status = try Modes.run(plan, in: env, netRoot: Self.threadRoot)
      }
      return status
    case .all:
      return try runAll()
    }
  }

  /// Every namespace in turn, section by section: one banner and header per section, then each
  /// namespace's rows with its label in a first column, `Netns`; in JSON, `"netns"`.
  func runAll() throws -> Int32 {
    if plan.mode == .events {
      // One tracepoint for every namespace; each namespace's dumps, lookups and notifications
      // inside it (`WatchedNamespaces`).
      return try EventsMode(plan: plan, env: env, netRoot: plan.procRoot).run()
    }
    let namespaces = NetworkNamespaces.all(procRoot: plan.procRoot)
    func each(_ body: (NetworkNamespaceInfo) throws -> Void) throws {
      for ns in namespaces {
        do {
          try NetworkNamespaces.run(in: ns.path, context: "--all-netns") { try body(ns) }
        } catch let e as NamespaceError where e.errno == ENOENT {
          continue  // the process that held it has exited
        }
      }
    }
    let root = Self.threadRoot
    if plan.mode == .statistics {
      let mode = StatisticsMode(plan: inside, env: env, netRoot: root)
      let out = StatisticsOutput(output: env.output, json: plan.json, selection: mode.selection)
      try each { ns in
        try out.begin(Section(.other, netns: Array(ns.label.utf8)))
        try out.write(mode.report())
      }
      try out.end()
      return 0
    }
    // One walk for every namespace, before the first banner (netstat's note goes first).
    var fixed: FixedOwners? = nil
    if let lookup = plan.programs ? env.ownerWalk() : nil {
      lookup.start(listeningOnly: false, everyOwner: plan.everyOwner)
      let table = OwnerTable(lookup.finish(inodes: []))
      OwnerNote.write(table, env)
      fixed = FixedOwners(table)
    }
    var trouble = ListingMode.Trouble()
    var inetPlan = inside
    inetPlan.tables.unix = false
    var unixPlan = inside
    unixPlan.tables = Plan.Tables()
    unixPlan.tables.unix = inside.tables.unix
    unixPlan.tables.unixNamed = inside.tables.unixNamed
    let listing = ListingMode(plan: inside, env: env, netRoot: root)
    func pass<I: OutputSink, U: OutputSink>(_ inet: inout I, _ unix: inout U) throws
    where I.Item == SocketRecord, U.Item == UnixSocketRecord {
      for part in [inetPlan, unixPlan] where part.tables.internet || part.tables.unix {
        try each { ns in
          try ListingMode(plan: part, env: env, netRoot: root, extras: listing.extras).list(
            netns: Array(ns.label.utf8), owners: fixed, noted: true, &inet, &unix, &trouble)
        }
      }
    }
    if plan.json {
      var inet = listing.json()
      var unix = UnixJSON(output: env.output, owners: plan.programs)
      try pass(&inet, &unix)
    } else {
      var inet = listing.table(labelled: true)
      var unix = UnixTable(options: plan.look, output: env.output, labelled: true)
      try pass(&inet, &unix)
    }
    return try ListingMode(plan: plan, env: env, netRoot: root).finish(trouble)
  }
}

/// Owners walked once and handed to every namespace's listing.
final class FixedOwners: OwnerLookup {
  let table: OwnerTable
  init(_ table: OwnerTable) { self.table = table }
  func start(listeningOnly: Bool, everyOwner: Bool) {}
  func finish(inodes: [UInt64]) -> ProcessOwners { table.owners }
}
