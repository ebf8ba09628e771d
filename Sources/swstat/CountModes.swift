import Glibc
import SwstatCore
import SwstatRender

/// Stopping a dump at the first match (-q).
struct FoundOne: Error {}

/// The modes that count instead of listing: --count, --count-by, --expect, -q.
extension Listing {
  /// Tallies per table and state, straight from the dump.
  func stateCounts() throws -> StateCounts {
    let q = query
    var counts = StateCounts(tables: q.tables)
    try forEachMatching { counts.add($0) }
    return counts
  }

  /// `--count`: one small table (or NDJSON).
  func writeCounts() throws {
    let counts = try stateCounts()
    let out = OutputBuffer()
    if options.json {
      try CountRenderer.writeJSON(counts, to: out)
    } else {
      CountRenderer.write(counts, to: out, header: !options.noHeader)
    }
    try out.flush()
  }

  /// `--count-by KEYS`: groups sorted by count.
  func writeGroupedCounts(_ keys: [CountKey]) throws {
    var groups: GroupedCounts
    if keys.contains(.program) || options.needsOwners {
      let (records, owners) = try recordsWithOwners()
      groups = GroupedCounts(keys: keys) { inode in
        owners.owner(of: inode).flatMap { owners.program(of: $0.pid) }
          .map { String(decoding: $0, as: UTF8.self) }
      }
      for r in records { groups.add(r) }
    } else {
      groups = GroupedCounts(keys: keys)
      try source.forEach(query) { groups.add(copy $0) }
    }
    let out = OutputBuffer()
    if options.json {
      try groups.writeJSON(to: out)
    } else {
      groups.writeTable(to: out, header: !options.noHeader)
    }
    try out.flush()
  }

  /// `-q`: whether any socket matches; the dump stops at the first.
  func anySocketMatches() throws -> Bool {
    do {
      try forEachMatching { _ in throw FoundOne() }
    } catch is FoundOne {
      return true
    }
    return false
  }

  /// `--expect`: 0 when every expectation holds; else each failing one on stderr and 1.
  func checkExpectations() throws -> Int32 {
    let counts = try stateCounts()
    var status: Int32 = 0
    for e in options.expectations where !e.holds(in: counts) {
      writeStderr("swstat: expectation failed: \(e) (\(e.name) is \(e.value(in: counts)))\n")
      status = 1
    }
    return status
  }
}
