import SwstatCore
import SwstatRender

/// The listing: netstat's table, or NDJSON with --json.
extension Listing {
  func writeRows() throws {
    let out = OutputBuffer()
    if options.json {
      guard options.needsOwners else {
        let json = JSONRenderer(output: out)
        try source.forEach(query) { try json.write($0) }
        return try out.flush()
      }
      let (records, owners) = try recordsWithOwners()
      let all = ownerLists(owners)
      let json = JSONRenderer(output: out, owners: { all[$0] ?? [] })
      for r in records { try json.write(r) }
      return try out.flush()
    }
    guard options.needsOwners else {
      // The plain listing streams: each row is written as its record arrives.
      let renderer = NetstatRenderer(options: renderOptions, output: out)
      if !options.noHeader { renderer.writeHeader() }
      try source.forEach(query) { try renderer.write($0) }
      return try out.flush()
    }
    let (records, owners) = try recordsWithOwners()
    let renderer = NetstatRenderer(
      options: renderOptions, output: out, owner: { owners.label(of: $0) })
    if !options.noHeader { renderer.writeHeader() }
    for record in records { try renderer.write(record) }
    try out.flush()
  }

  /// Every process holding each inode, in walk order (lowest pid first).
  func ownerLists(_ owners: ProcessOwners) -> [UInt64: [SocketOwnerInfo]] {
    var all: [UInt64: [SocketOwnerInfo]] = [:]
    for (inode, o) in owners.owners {
      all[inode, default: []].append(
        SocketOwnerInfo(pid: o.pid, program: owners.program(of: o.pid) ?? [], fd: o.fd))
    }
    return all
  }
}
