import Glibc
import SwstatCore
import SwstatRender

/// One run of swstat: the query, the source and the owners the flags ask for, and the mode
/// (rows, counts, a check) that uses them. Returns the exit status.
struct Listing {
  let options: ListingConfig

  var query: SocketQuery {
    var transports: [TransportProtocol] = []
    if options.tcp { transports.append(.tcp) }
    if options.udp { transports.append(.udp) }
    if transports.isEmpty { transports = [.tcp, .udp] }
    var families: [AddressFamily] = []
    if options.inet { families.append(.inet) }
    if options.inet6 { families.append(.inet6) }
    if families.isEmpty { families = [.inet, .inet6] }
    return SocketQuery(
      transports: transports, families: families, scope: scope, filter: options.filter)
  }

  /// Whether this run counts rather than lists (--count, --count-by, --expect).
  var counting: Bool { options.count || options.countBy != nil || !options.expectations.isEmpty }

  var scope: ListeningScope {
    // A count covers servers too unless -l narrows it: a table whose LISTEN row is always zero
    // would only mislead.
    // A --state list names the states wanted, as in ss, so netstat's default split steps aside.
    options.all
      || ((counting || options.events || options.watch || options.filter.states != nil)
        && !options.listening)
      ? .all : options.listening ? .listening : .connected
  }

  var source: any SocketSource {
    let verbose = options.verbose
    return options.source.source(procRoot: options.netRoot ?? options.procRoot) { table, reason in
      if verbose {
        writeStderr(
          "swstat: netlink unavailable for \(table.procName) (\(reason)); reading /proc/net\n")
      }
    }
  }

  var renderOptions: NetstatOptions {
    var o = NetstatOptions()
    o.scope = scope
    o.wide = options.wide
    o.numericHosts = options.numeric || options.numericHosts
    o.numericPorts = options.numeric || options.numericPorts
    o.numericUsers = options.numeric || options.numericUsers
    o.extend = options.extend > 0
    o.programs = options.needsOwners
    o.timers = options.timers
    return o
  }

  func run() throws -> Int32 {
    if let status = try runExtraTables() { return status }
    if options.continuous {
      try runContinuous()
      return 0
    }
    if options.events {
      try runEvents()
      return 0
    }
    if options.watch {
      try runWatch()
      return 0
    }
    if options.quiet { return try anySocketMatches() ? 0 : 1 }
    if !options.expectations.isEmpty { return try checkExpectations() }
    if options.count {
      try writeCounts()
    } else if let keys = options.countBy {
      try writeGroupedCounts(keys)
    } else {
      try writeRows()
    }
    return 0
  }

  /// The records with their owners, for -p: the records wait for the walk of /proc/[pid]/fd.
  func recordsWithOwners() throws -> ([SocketRecord], ProcessOwners) {
    var records: [SocketRecord] = []
    let owners: ProcessOwners
    if scope == .listening {
      // Few sockets: dump first, then walk only until each wanted inode is found.
      var wanted = Set<UInt64>()
      try source.forEach(query) {
        records.append(copy $0)
        if $0.inode != 0 { wanted.insert($0.inode) }
      }
      // JSON lists every owner, so it walks on to the end.
      owners = ProcessOwners.scan(
        procRoot: options.procRoot, wanted: wanted,
        firstOwnerOnly: !options.json && !options.filtersByOwner)
    } else {
      // The whole table: the walk runs on a second core while the kernel dumps.
      let scan = BackgroundOwnerScan(procRoot: options.procRoot)
      do {
        try source.forEach(query) { records.append(copy $0) }
      } catch {
        _ = scan.join()
        throw error
      }
      owners = scan.join()
    }
    records = filterByOwner(records, owners)
    writeOwnerNote(owners)
    return (records, owners)
  }

  /// The records whose owners match --pid/--program (any owner of a socket may match).
  func filterByOwner(_ records: [SocketRecord], _ owners: ProcessOwners) -> [SocketRecord] {
    guard options.filtersByOwner else { return records }
    var wanted = Set<UInt64>()
    for (inode, o) in owners.owners where ownerMatches(o.pid, owners) { wanted.insert(inode) }
    return records.filter { wanted.contains($0.inode) }
  }

  /// netstat's notes when some processes could not be looked at, on stderr before the banner.
  func writeOwnerNote(_ owners: ProcessOwners) {
    guard owners.permissionDenied else { return }
    if owners.isEmpty {
      writeStderr(
        "(No info could be read for \"-p\": geteuid()=\(geteuid()) but you should be root.)\n")
    } else {
      writeStderr(
        "(Not all processes could be identified, non-owned process info\n will not be shown, you would have to be root to see it all.)\n"
      )
    }
  }

  private func ownerMatches(_ pid: Int32, _ owners: ProcessOwners) -> Bool {
    if let p = options.ownerPid, p != pid { return false }
    if let name = options.ownerProgram {
      guard let program = owners.program(of: pid), program.elementsEqual(name.utf8) else {
        return false
      }
    }
    return true
  }

  /// Every matching record, with owners looked up first when an owner filter needs them.
  func forEachMatching(_ body: (SocketRecord) throws -> Void) throws {
    guard options.filtersByOwner else {
      return try source.forEach(query) { try body(copy $0) }
    }
    let (records, _) = try recordsWithOwners()
    for r in records { try body(r) }
  }
}
