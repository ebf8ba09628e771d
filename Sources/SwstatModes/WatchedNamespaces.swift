import Glibc
import SwstatCore

/// One network namespace a transition mode watches: where its dumps and lookups run (its own
/// thread, `NamespaceWorker`, unless it is the calling thread's namespace), its destroy
/// notifications, and the label its events carry.
final class WatchedPlace {
  /// Its number in the tracker (`SocketLookups`).
  let index: Int
  /// Its nsfs inode (nil: the calling thread's namespace, not looked for on the host).
  let inode: UInt64?
  /// The label its events carry (`--netns NAME`, `--all-netns`), or nil.
  let label: [UInt8]?
  /// Where /proc/net is read for it.
  let netRoot: String
  private let worker: NamespaceWorker?
  /// Its destroy notifications (nil when refused).
  var monitor: DestroyMonitor?
  /// Its UDP sockets, polled each tick by `--events`.
  var udpTracker = SocketTracker()
  var udpMemory = OwnerMemory()

  init(
    index: Int, inode: UInt64?, label: [UInt8]?, netRoot: String, worker: NamespaceWorker?
  ) {
    self.index = index
    self.inode = inode
    self.label = label
    self.netRoot = netRoot
    self.worker = worker
  }

  /// Runs `body` in the namespace (on its thread when it has one).
  func run<T>(_ body: () throws -> T) throws -> T {
    guard let worker else { return try body() }
    return try worker.perform(body)
  }

  /// Lets go of the namespace (its thread and notification socket hold it alive).
  func stop() {
    monitor = nil
    worker?.stop()
  }
}

/// The namespaces the transition modes watch, as the tracker asks them: the calling thread's
/// own (every mode, `--netns` included: that runs inside the namespace), or with `--all-netns`
/// every namespace on the host — those made while swstat runs found when a socket turns up
/// in none of those known (at most four times a second), and those that went away let go
/// (looked for every few seconds), so that swstat never keeps a dead namespace alive.
final class WatchedNamespaces: SocketLookups {
  private(set) var places: [WatchedPlace?] = []
  /// Places found since the last `takeAdded()`: their sockets are not primed yet.
  private var added: [WatchedPlace] = []
  private let everyNamespace: Bool
  private let procRoot: String
  private let open: (WatchedPlace) -> Void
  private var lastScan: UInt64 = 0
  /// The least time between two looks at the host's namespaces (a look reads every process's
  /// /proc/PID/ns/net: about a millisecond per thousand processes).
  static let scanSpacing: UInt64 = 250_000_000
  private var ownInode: UInt64?

  /// The calling thread's namespace, its events labelled `label`.
  init(own netRoot: String, label: [UInt8]?, open: @escaping (WatchedPlace) -> Void) {
    everyNamespace = false
    procRoot = netRoot
    self.open = open
    let place = WatchedPlace(index: 0, inode: nil, label: label, netRoot: netRoot, worker: nil)
    open(place)
    places = [place]
  }

  /// Every namespace on the host (`NetworkNamespaces.all`), each event labelled with its
  /// namespace's name or `net:[inode]`. `open` readies a new place (its destroy
  /// notifications), on the calling thread.
  init(allUnder procRoot: String, open: @escaping (WatchedPlace) -> Void) {
    everyNamespace = true
    self.procRoot = procRoot
    self.open = open
    ownInode = NetworkNamespaces.nsInode("/proc/thread-self/ns/net")
    _ = scan(force: true)
    added.removeAll()
  }

  var namespaceCount: Int { places.count }

  func watches(_ namespace: Int) -> Bool {
    namespace >= 0 && namespace < places.count && places[namespace] != nil
  }

  func socket(in namespace: Int, family: AddressFamily, local: Endpoint, remote: Endpoint)
    throws -> SocketRecord?
  {
    guard watches(namespace), let place = places[namespace] else { return nil }
    return try place.run {
      try NetlinkLookups().socket(in: 0, family: family, local: local, remote: remote)
    }
  }

  func listeners(in namespace: Int, family: AddressFamily, local: Endpoint) throws
    -> [SocketRecord]
  {
    guard watches(namespace), let place = places[namespace] else { return [] }
    return try place.run { try NetlinkLookups().listeners(in: 0, family: family, local: local) }
  }

  func discover() -> NamespaceDiscovery {
    guard everyNamespace else { return .nothingNew }
    guard TransitionEvents.monotonicNow() >= lastScan + Self.scanSpacing else { return .notYet }
    return scan(force: false) ? .added : .nothingNew
  }

  /// The places found since the last call (their sockets to be primed).
  func takeAdded() -> [WatchedPlace] {
    defer { added.removeAll() }
    return added
  }

  /// Every place watched now.
  var current: [WatchedPlace] { places.compactMap { $0 } }

  /// Looks at the host's namespaces (at most every `scanSpacing` unless `force`): adds those not
  /// known, lets go of those no longer there. Returns whether any was added.
  @discardableResult
  func scan(force: Bool) -> Bool {
    guard everyNamespace else { return false }
    let now = TransitionEvents.monotonicNow()
    guard force || now >= lastScan + Self.scanSpacing else { return false }
    lastScan = now
    let host = NetworkNamespaces.all(procRoot: procRoot)
    let known = Set(current.compactMap(\.inode))
    var grew = false
    for ns in host where !known.contains(ns.inode) {
      let mine = ns.inode == ownInode
      let worker = mine ? nil : try? NamespaceWorker(path: ns.path, context: "--all-netns")
      // One that cannot be entered (gone meanwhile) is looked for again at the next scan.
      if !mine && worker == nil { continue }
      let place = WatchedPlace(
        index: places.count, inode: ns.inode, label: Array(ns.label.utf8),
        netRoot: mine ? procRoot : NamespaceMode.threadRoot, worker: worker)
      open(place)
      places.append(place)
      added.append(place)
      grew = true
    }
    let present = Set(host.map(\.inode))
    for case let place? in places where place.inode.map({ !present.contains($0) }) ?? false {
      gone.append(place.index)
      place.stop()
      places[place.index] = nil
    }
    return grew
  }

  /// Namespaces let go since the last call (their sockets are gone with them).
  private var gone: [Int] = []
  func takeGone() -> [Int] {
    defer { gone.removeAll() }
    return gone
  }
}
