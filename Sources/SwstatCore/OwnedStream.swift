/// The one place that decides how a run reads its sockets, for every mode and the exporter
/// alike: straight through from the kernel to the output when no owner is needed, or collected
/// and joined with their owners first — and that applies every filter: the query (pushed into
/// the kernel as far as sock_diag goes, checked again in Swift by the source) and the owner
/// filter (`--pid`, `--program`), which only the walk of /proc can answer.
public struct OwnedStream {
  /// Where sockets come from.
  public var source: any SocketSource
  /// Which sockets: tables, netstat's scope, states, ports, addresses.
  public var query: SocketQuery
  /// `--pid`, `--program`.
  public var ownerFilter: OwnerFilter?
  /// Where owners come from; nil when the run needs none (no -p, no owner filter).
  public var owners: (any OwnerLookup)?
  /// Whether every process holding a socket is needed (JSON's `owners`), not only the first.
  public var everyOwner: Bool
  /// When set, a table the source cannot read is told here (after the others are read) and the
  /// run goes on (a listing: one table's trouble never hides the others); when nil it ends the
  /// run (a count missing a table would be wrong). When no table can be read, the first
  /// failure is thrown either way.
  public var onTableError: ((SocketSourceError) -> Void)? = nil
  /// For the live modes: the owner a socket had before it lost it (a TIME_WAIT socket has no
  /// owner of its own), which an owner filter then also accepts.
  public var formerOwner: ((borrowing SocketRecord) -> SocketOwnerInfo?)? = nil

  /// A stream from its parts. An owner filter needs `owners`.
  public init(
    source: any SocketSource, query: SocketQuery, ownerFilter: OwnerFilter? = nil,
    owners: (any OwnerLookup)? = nil, everyOwner: Bool = false
  ) {
    precondition(ownerFilter == nil || owners != nil, "an owner filter needs an owner lookup")
    self.source = source
    self.query = query
    self.ownerFilter = ownerFilter
    self.owners = owners
    self.everyOwner = everyOwner || ownerFilter != nil
  }

  /// Whether records reach `each` as the kernel sends them, nothing held.
  public var streams: Bool { owners == nil }

  /// Delivers every matching socket. `start` is called once, before the first record, with
  /// the owner table (nil when streaming); `each` once per socket. Returns the owners (nil when
  /// streaming), whose `permissionDenied` the caller reports. Throws the source's error, or
  /// whatever `start` or `each` throws.
  @discardableResult
  public func run(
    start: (OwnerTable?) throws -> Void, each: (borrowing SocketRecord) throws -> Void
  ) throws -> OwnerTable? {
    guard let lookup = owners else {
      try start(nil)
      try read(each)
      return nil
    }
    let (records, table) = try collect(lookup)
    try start(table)
    for r in records { try each(r) }
    return table
  }

  /// Like `run`, for modes that can take their owners after the records (a tracker that keeps
  /// the dump itself): records are delivered as the kernel sends them unless an owner filter
  /// must see owners first. Returns the owners of what was delivered (nil without a lookup).
  @discardableResult
  public func runOwnersAfter(_ each: (borrowing SocketRecord) throws -> Void) throws
    -> OwnerTable?
  {
    guard let lookup = owners else {
      try read(each)
      return nil
    }
    if ownerFilter != nil {
      let (records, table) = try collect(lookup)
      for r in records { try each(r) }
      return table
    }
    lookup.start(listeningOnly: query.scope == .listening, everyOwner: everyOwner)
    var inodes: [UInt64] = []
    do {
      try read { r in
        if r.inode != 0 { inodes.append(r.inode) }
        try each(r)
      }
    } catch {
      _ = lookup.finish(inodes: [])
      throw error
    }
    return OwnerTable(lookup.finish(inodes: inodes))
  }

  /// The matching records with their owners: the dump is held until the walk is done.
  private func collect(_ lookup: any OwnerLookup) throws -> ([SocketRecord], OwnerTable) {
    lookup.start(listeningOnly: query.scope == .listening, everyOwner: everyOwner)
    var records: [SocketRecord] = []
    do {
      try read { records.append(copy $0) }
    } catch {
      _ = lookup.finish(inodes: [])
      throw error
    }
    let table = OwnerTable(lookup.finish(inodes: records.map(\.inode)))
    if let ownerFilter {
      let wanted = table.inodes(matching: ownerFilter)
      records.removeAll { r in
        !(wanted.contains(r.inode) || (formerOwner?(r)).map(ownerFilter.matches) == true)
      }
    }
    return (records, table)
  }

  /// Whether the owner filter lets through a socket seen outside a dump (a destroy
  /// notification): by its owner in `owners`, or the one it had before.
  public func admits(_ r: borrowing SocketRecord, owners: OwnerTable?) -> Bool {
    guard let ownerFilter else { return true }
    if let owners, r.inode != 0, owners.inodes(matching: ownerFilter).contains(r.inode) {
      return true
    }
    return (formerOwner?(r)).map(ownerFilter.matches) == true
  }

  /// Every table of the query in order; a table's failure goes to `onTableError` when set, and
  /// the others are read — unless none can be, which throws the first failure.
  private func read(_ each: (borrowing SocketRecord) throws -> Void) throws {
    guard let onTableError else { return try source.forEach(query, each) }
    var failures: [SocketSourceError] = []
    for table in query.tables {
      do {
        try source.forEach(table, query, each)
      } catch let error as SocketSourceError {
        failures.append(error)
      }
    }
    if failures.count == query.tables.count, let first = failures.first { throw first }
    failures.forEach(onTableError)
  }
}
