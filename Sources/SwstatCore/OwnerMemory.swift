/// The owners the live modes remember: a socket that has lost its owner (a TIME_WAIT socket,
/// an orphaned FIN_WAIT2, a socket gone) is shown with, and filtered by, the last owner known.
/// Each socket holds an index into the tick's distinct owners (a few hundred processes, not an
/// owner per socket), keyed by the tracker's compact identity where it has one.
public struct OwnerMemory: Sendable {
  private var byID: [UInt64: Int32] = [:]
  private var byKey: [SocketTracker.Key: Int32] = [:]
  private var known: [SocketOwnerInfo] = []
  private var labels: [[UInt8]] = []

  /// Nothing remembered.
  public init() {}

  /// Remembers the first owners of this tick's sockets — their owner now, else the one
  /// remembered — and forgets sockets no longer there.
  public mutating func update(_ records: [SocketRecord], _ owners: OwnerTable) {
    var nextID: [UInt64: Int32] = [:]
    nextID.reserveCapacity(byID.count)
    var nextKey: [SocketTracker.Key: Int32] = [:]
    var nextKnown: [SocketOwnerInfo] = []
    var nextLabels: [[UInt8]] = []
    var interned: [Int32: Int32] = [:]
    for r in records {
      let entry: (SocketOwnerInfo, [UInt8])
      if let o = owners.owners.owner(of: r.inode), let label = owners.label(of: r.inode) {
        entry = (
          SocketOwnerInfo(pid: o.pid, program: owners.owners.program(of: o.pid) ?? [], fd: o.fd),
          label
        )
      } else if let i = index(of: r) {
        entry = (known[Int(i)], labels[Int(i)])
      } else {
        continue
      }
      let index: Int32
      if let at = interned[entry.0.pid] {
        index = at
      } else {
        index = Int32(nextKnown.count)
        nextKnown.append(entry.0)
        nextLabels.append(entry.1)
        interned[entry.0.pid] = index
      }
      if let id = SocketTracker.compactID(r) {
        nextID[id] = index
      } else {
        nextKey[.init(r)] = index
      }
    }
    byID = nextID
    byKey = nextKey
    known = nextKnown
    labels = nextLabels
  }

  /// The owner last known for a socket.
  public func owner(of r: borrowing SocketRecord) -> SocketOwnerInfo? {
    index(of: r).map { known[Int($0)] }
  }

  /// The `PID/Program name` last known for a socket, uncut.
  public func label(of r: borrowing SocketRecord) -> [UInt8]? {
    index(of: r).map { labels[Int($0)] }
  }

  private func index(of r: borrowing SocketRecord) -> Int32? {
    if let id = SocketTracker.compactID(r) { return byID[id] }
    return byKey[SocketTracker.Key(r)]
  }
}
