import Glibc
import SwstatCore
import SwstatRender

/// Which of netstat's tables a listing prints, decided as netstat's main() decides: with no
/// protocol flag, every table (tcp, udp, udplite, raw, then UNIX sockets); -4/-6 alone pick the
/// internet tables only; otherwise the ones named.
struct TableSelection: Equatable {
  var tcp = false
  var udp = false
  var udplite = false
  var raw = false
  var unix = false
  /// Whether the "Active Internet connections" section is printed at all.
  var internet: Bool { tcp || udp || udplite || raw }
}

/// A pass over the tables: where its output goes and how rows are labelled (--all-netns).
struct TablePass {
  let out: OutputBuffer
  let owners: ProcessOwners?
  /// The namespace label written before each row (padded) and as "netns" in JSON; nil outside
  /// --all-netns.
  let netns: String?
  /// The label column's width: `%-16s ` (longer labels are kept whole, like netstat's columns).
  static let labelWidth = 16

  var rowPrefix: [UInt8] {
    guard let netns else { return [] }
    var b = Array(netns.utf8)
    if b.count < Self.labelWidth { b += [UInt8](repeating: 0x20, count: Self.labelWidth - b.count) }
    return b + [0x20]
  }
  var headerPrefix: String {
    netns == nil ? "" : "Netns" + String(repeating: " ", count: Self.labelWidth - 5) + " "
  }
}

extension Listing {
  var protocolFlagGiven: Bool { options.tcp || options.udp || options.raw || options.unix }

  var tableSelection: TableSelection {
    var t = TableSelection()
    let inetNamed = options.tcp || options.udp || options.raw
    if !protocolFlagGiven && !(options.inet || options.inet6) {
      t.tcp = true
      t.udp = true
      t.udplite = true
      t.raw = true
      t.unix = true
    } else if (options.inet || options.inet6) && !inetNamed {
      // netstat: -4/-6 without -t/-u/-w turn on every internet table (-x still adds UNIX).
      t.tcp = true
      t.udp = true
      t.udplite = true
      t.raw = true
      t.unix = options.unix
    } else {
      t.tcp = options.tcp
      t.udp = options.udp
      t.raw = options.raw
      t.unix = options.unix
    }
    return t
  }

  /// Whether a mode other than the plain listing was asked for (counts, checks, live modes).
  var otherMode: Bool {
    counting || options.quiet || options.continuous || options.watch || options.events
  }

  /// Issue 5's modes, or nil when the run is none of them (then the tcp/udp modes run).
  func runExtraTables() throws -> Int32? {
    if options.netns != nil || options.allNetns { return try runNamespaces() }
    if options.statistics {
      try writeStatistics()
      return 0
    }
    if options.unix || options.raw {
      if otherMode {
        throw ExtraTablesError(
          "-x/-w: --count, --count-by, --expect, -q, -c, --watch and --events count TCP and UDP only"
        )
      }
      try writeAllTables()
      return 0
    }
    // No protocol flag: netstat's every table, for the plain table listing. JSON, the count
    // modes and the filters keep to TCP and UDP.
    if protocolFlagGiven || options.json || otherMode || options.filter != SocketFilter()
      || options.filtersByOwner
    {
      return nil
    }
    try writeAllTables()
    return 0
  }

  /// The /proc/[pid]/fd walk for -p, with netstat's note on stderr before the first banner.
  func scanOwners() -> ProcessOwners? {
    guard options.needsOwners else { return nil }
    let owners = ProcessOwners.scan(procRoot: options.procRoot, firstOwnerOnly: false)
    writeOwnerNote(owners)
    return owners
  }

  /// Every selected table of this namespace, with banners and headers.
  func writeAllTables() throws {
    let pass = TablePass(out: OutputBuffer(), owners: scanOwners(), netns: nil)
    let selection = tableSelection
    if selection.internet {
      if !options.json && !options.noHeader { writeInternetHeader(pass) }
      try writeInternetRows(selection, pass)
    }
    if selection.unix {
      if !options.json && !options.noHeader { writeUnixHeader(pass) }
      try writeUnixRows(pass, explicit: options.unix)
    }
    try pass.out.flush()
  }

  /// "Active Internet connections (…)" and the column header, with the label column in front
  /// under --all-netns.
  func writeInternetHeader(_ pass: TablePass) {
    if pass.netns == nil {
      NetstatRenderer(options: renderOptions, output: pass.out).writeHeader()
      return
    }
    let o = renderOptions
    pass.out.append("Active Internet connections ")
    pass.out.append(
      o.scope == .all
        ? "(servers and established)\n"
        : o.scope == .listening ? "(only servers)\n" : "(w/o servers)\n")
    pass.out.append(pass.headerPrefix)
    pass.out.append(
      "Proto Recv-Q Send-Q Local Address           Foreign Address         State      ")
    if o.extend { pass.out.append(" User       Inode     ") }
    if o.programs { pass.out.append(" PID/Program name    ") }
    if o.timers { pass.out.append(" Timer") }
    pass.out.append("\n")
  }

  /// The internet rows in netstat's order: tcp, tcp6, udp, udp6, udpl, udpl6, raw, raw6.
  func writeInternetRows(_ selection: TableSelection, _ pass: TablePass) throws {
    var q = query
    q.transports = (selection.tcp ? [.tcp] : []) + (selection.udp ? [.udp] : [])
    let owners = pass.owners
    let label: ((UInt64) -> [UInt8]?)? = owners.map { o in { o.label(of: $0) } }
    let ownerInfo = owners.map { ownerLists($0) }
    let prefix = pass.rowPrefix
    if !q.transports.isEmpty {
      if options.json {
        let json = JSONRenderer(
          output: pass.out, owners: ownerInfo.map { all in { all[$0] ?? [] } })
        json.netns = pass.netns.map { Array($0.utf8) }
        try source.forEach(q) { try json.write($0) }
      } else {
        let renderer = NetstatRenderer(options: renderOptions, output: pass.out, owner: label)
        try source.forEach(q) {
          if !prefix.isEmpty { pass.out.append(prefix) }
          try renderer.write($0)
        }
      }
    }
    var tables: [ExtraInetTable] = []
    for proto in [ExtraInetProtocol.udplite, .raw]
    where proto == .udplite ? selection.udplite : selection.raw {
      for family in q.families { tables.append(ExtraInetTable(proto: proto, family: family)) }
    }
    guard !tables.isEmpty else { return }
    let extra = ExtraInetSource(root: options.netRoot ?? options.procRoot)
    let rows = ExtraTablesRenderer(options: renderOptions, output: pass.out, owner: label)
    rows.rowPrefix = prefix
    let json = ExtraTablesJSON(output: pass.out, owners: ownerInfo.map { all in { all[$0] ?? [] } })
    json.netns = pass.netns.map { Array($0.utf8) }
    for table in tables {
      do {
        try extra.forEach(table, scope: scope) {
          if options.json {
            try json.writeInet($0, table: table)
          } else {
            try rows.writeInet($0, table: table)
          }
        }
      } catch SocketSourceError.unavailable(let path, let errno) {
        // netstat skips a missing table unless it was asked for by name (-w) and is the IPv4 one.
        if options.raw && table.proto == .raw && table.family == .inet {
          throw SocketSourceError.unavailable(source: path, errno: errno)
        }
      }
    }
  }
}

/// A request swstat cannot serve, said in one line.
struct ExtraTablesError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
