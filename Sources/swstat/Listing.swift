import Glibc
import SwstatCore
import SwstatRender

/// `swstat [-tulanpeW46]`: the netstat listing, streamed from the source to standard output.
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
    return SocketQuery(transports: transports, families: families, scope: scope)
  }

  var scope: ListeningScope {
    // A count covers servers too unless -l narrows it: a table whose LISTEN row is always zero
    // would only mislead.
    options.all || (options.count && !options.listening)
      ? .all : options.listening ? .listening : .connected
  }

  var source: any SocketSource {
    let proc = ProcNetSource(root: options.procRoot)
    switch options.source {
    case .netlink: return NetlinkSource()
    case .proc: return proc
    case .auto:
      let verbose = options.verbose
      return FallbackSource(fallback: proc) { table, reason in
        if verbose {
          writeStderr("swstat: netlink unavailable for \(table.procName) (\(reason)); reading /proc/net\n")
        }
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
    o.programs = options.programs
    return o
  }

  func run() throws {
    if options.count { return try runCount() }
    guard options.programs else {
      // The plain listing streams: each row is written as its record arrives.
      let out = OutputBuffer()
      let renderer = NetstatRenderer(options: renderOptions, output: out)
      renderer.writeHeader()
      try source.forEach(query) { record in try renderer.write(record) }
      return try out.flush()
    }
    // -p: rows need their owners, so the records wait for the walk of /proc/[pid]/fd.
    var records: [SocketRecord] = []
    let owners: ProcessOwners
    if scope == .listening {
      // Few sockets: dump first, then walk only until each wanted inode is found.
      var wanted = Set<UInt64>()
      try source.forEach(query) {
        records.append(copy $0)
        if $0.inode != 0 { wanted.insert($0.inode) }
      }
      owners = ProcessOwners.scan(procRoot: options.procRoot, wanted: wanted)
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
    if owners.permissionDenied {
      // netstat's two notes, on stderr before the banner.
      if owners.isEmpty {
        writeStderr("(No info could be read for \"-p\": geteuid()=\(geteuid()) but you should be root.)\n")
      } else {
        writeStderr(
          "(Not all processes could be identified, non-owned process info\n will not be shown, you would have to be root to see it all.)\n"
        )
      }
    }
    let out = OutputBuffer()
    let renderer = NetstatRenderer(
      options: renderOptions, output: out, owner: { owners.label(of: $0) })
    renderer.writeHeader()
    for record in records { try renderer.write(record) }
    try out.flush()
  }

  /// `--count`: tallies straight from the dump, then one small table.
  func runCount() throws {
    let q = query
    var counts = StateCounts(tables: q.tables)
    try source.forEach(q) { counts.add($0) }
    let out = OutputBuffer()
    CountRenderer.write(counts, to: out)
    try out.flush()
  }
}
