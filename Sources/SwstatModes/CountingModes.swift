import SwstatCore
import SwstatRender

/// Stopping a dump at the first match (-q).
struct FoundOne: Error {}

/// The modes that count instead of listing — `--count`, `--count-by`, `--expect`, `-q` — over
/// the TCP and UDP sockets the plan selects, every filter applied by the one owned stream. A
/// table that cannot be read ends the run: a count without it would be wrong.
struct CountingModes {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String

  /// The stream every counting mode reads.
  func stream(owners: Bool) -> OwnedStream {
    OwnedStream(
      source: env.source(netRoot), query: plan.query, ownerFilter: plan.ownerFilter,
      owners: owners || plan.ownerFilter != nil ? env.ownerWalk() : nil, everyOwner: false)
  }

  /// Feeds the stream to `sink` and ends it.
  func feed<S: OutputSink>(_ sink: inout S, owners: Bool = false) throws
  where S.Item == SocketRecord {
    let table = try stream(owners: owners).run(
      start: { try sink.begin(Section(.inet, owners: $0)) }, each: { try sink.write($0) })
    if let table, plan.programs { OwnerNote.write(table, env) }
    try sink.end()
  }

  /// `--count`: one small table (or NDJSON).
  func count() throws -> Int32 {
    var sink = CountTable(
      tables: plan.query.tables, output: env.output, json: plan.json, header: plan.look.header)
    try feed(&sink)
    return 0
  }

  /// `--count-by KEYS`: groups sorted by count.
  func groupedCount(_ keys: [CountKey]) throws -> Int32 {
    var sink = GroupedCountTable(
      keys: keys, output: env.output, json: plan.json, header: plan.look.header)
    try feed(&sink, owners: sink.needsOwners)
    return 0
  }

  /// `-q`: 0 when some socket matches (the dump stops at the first), 1 when none does.
  func quiet() throws -> Int32 {
    do {
      try stream(owners: false).run(start: { _ in }, each: { _ in throw FoundOne() })
    } catch is FoundOne {
      return 0
    }
    return 1
  }

  /// `--expect`: 0 when every comparison holds; else each failing one on stderr and 1.
  func expect(_ expectations: [Expectation]) throws -> Int32 {
    var counts = StateCounts(tables: plan.query.tables)
    try stream(owners: false).run(start: { _ in }, each: { counts.add($0) })
    var status: Int32 = 0
    for e in expectations where !e.holds(in: counts) {
      env.errors("swstat: expectation failed: \(e) (\(e.name) is \(e.value(in: counts)))\n")
      status = 1
    }
    return status
  }
}
