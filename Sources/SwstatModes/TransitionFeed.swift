import Glibc
import SwstatCore

/// The TCP state changes of the namespaces watched, as `--events` and `--watch` take them from
/// the tracepoint: the tracepoint's records joined with sock_diag by `TransitionTracker`, each
/// namespace's destroy notifications, records the kernel dropped made good by dumping again,
/// and — with `--all-netns` — namespaces made meanwhile primed and those gone let go.
///
/// The mode says how a namespace's TCP table is dumped (`dump`, with owners as it needs them)
/// and takes what comes out: `take()` the changes after each call, `packet` each reset or
/// retransmission on a watched socket, `otherDestroyed` each UDP notification.
final class TransitionFeed {
  let source: TransitionSource
  let spaces: WatchedNamespaces
  private(set) var tracker: TransitionTracker
  /// A namespace's TCP table now (run inside it): the first dump, and again after lost records.
  var dump: (WatchedPlace) throws -> [SocketRecord] = { _ in [] }
  /// A reset or a retransmission on a socket watched, with its namespace.
  var packet: (Transition, SocketRecord, WatchedPlace) throws -> Void = { _, _, _ in }
  /// A destroy notification that is not TCP's (UDP), from a place.
  var otherDestroyed: (SocketRecord, WatchedPlace) -> Void = { _, _ in }
  /// The kernel dropped tracepoint records (at CLOCK_REALTIME ns): called before the tables
  /// are dumped again and the differences come out of `take()`.
  var lost: (Int64) throws -> Void = { _ in }
  /// The kernel dropped a place's destroy notifications (TCP's only delay decisions: a
  /// socket's namespace is then found by lookup).
  var notificationsLost: (WatchedPlace) throws -> Void = { _ in }
  /// CLOCK_REALTIME − CLOCK_MONOTONIC, ns.
  let realtimeOffset: Int64
  private var lastScan: UInt64 = 0

  /// With `totals`, a GONE waits (briefly) for the destroy notification that says what the
  /// connection carried (the places' monitors must keep tcp_info: `destroyMonitor(totals:)`).
  init(
    source: TransitionSource, spaces: WatchedNamespaces, wallClock: () -> Int64,
    totals: Bool = false
  ) {
    self.source = source
    self.spaces = spaces
    realtimeOffset = wallClock() - Int64(TransitionEvents.monotonicNow())
    tracker = TransitionTracker(realtimeOffset: realtimeOffset)
    tracker.waitsForTotals = totals
  }

  /// The place with this number, if still watched.
  func place(_ namespace: Int) -> WatchedPlace? {
    spaces.watches(namespace) ? spaces.places[namespace] : nil
  }

  /// The file descriptors to poll: the tracepoint's rings, each namespace's notifications.
  var fileDescriptors: [Int32] {
    [source.fileDescriptor] + spaces.current.compactMap { $0.monitor?.fd }
  }

  /// Every namespace's first dump.
  func start() throws {
    for place in spaces.current {
      tracker.prime(try place.run { try dump(place) }, namespace: place.index, monotonic: now())
    }
    lastScan = now()
  }

  /// Records taken from the tracepoint at a time. In a burst (a host's other namespaces can
  /// open and close 40,000 connections a second) a drain falls behind the rings; undecided
  /// sockets would pile up across it — 190 MiB in four seconds — so after each chunk the
  /// destroy notifications are read, the sockets past their deadline decided and the mode
  /// writes what came out (`afterChunk`).
  static let chunk = 4096
  /// Called after each full chunk (the mode writes `take()`).
  var afterChunk: () throws -> Void = {}

  /// A loss not yet covered by a dump: the last of a few re-dumps in a row lost records too;
  /// the next drain starts over from it.
  private var uncovered: Int64? = nil

  /// Reads what the tracepoint has (`flush`: everything, the reorder window too).
  func drain(flush: Bool = false) throws {
    let newLoss = try read(flush: flush)
    let lostAt = uncovered ?? newLoss
    uncovered = nil
    try primeAdded()
    guard let lostAt else { return }
    // Whatever the rings hold goes in before the table is dumped again: a connection born and
    // gone to TIME_WAIT within the reorder window would be NEW in the dump and then again from
    // its records. A loss meanwhile is covered by the same dump.
    if !flush { _ = try read(flush: true) }
    try resynchronize(at: lostAt)
  }

  /// Applies the tracepoint's records, a chunk at a time; returns when the kernel dropped some
  /// (CLOCK_REALTIME ns), if it did.
  private func read(flush: Bool) throws -> Int64? {
    var lostAt: Int64? = nil
    while true {
      let taken = try source.drain(limit: Self.chunk, flush: flush) { event in
        switch event {
        case .transition(let t):
          if t.kind == .stateChange {
            tracker.apply(t, lookups: spaces)
          } else if let (r, ns) = tracker.socket(at: t.socketAddress), let place = place(ns) {
            try packet(t, r, place)
          }
        case .lost(_, let at):
          lostAt = lostAt ?? Int64(at) + realtimeOffset
        }
      }
      guard taken >= Self.chunk else { return lostAt }
      for place in spaces.current { try notifications(from: place) }
      tracker.tick(monotonic: now(), lookups: spaces)
      try afterChunk()
    }
  }

  /// A tick: the tracepoint read, undecided and timewait sockets looked at, and every few
  /// seconds (with `--all-netns`) the host's namespaces looked at.
  func tick() throws {
    try drain()
    let t = now()
    tracker.tick(monotonic: t, lookups: spaces)
    if t >= lastScan + 5_000_000_000 {
      lastScan = t
      spaces.scan(force: true)
    }
    try primeAdded()
  }

  /// A namespace's destroy notifications are readable (`fd`); false when `fd` is not one.
  func readable(_ fd: Int32) throws -> Bool {
    if fd == source.fileDescriptor {
      try drain()
      return true
    }
    guard let place = spaces.current.first(where: { $0.monitor?.fd == fd }) else { return false }
    try notifications(from: place)
    return true
  }

  /// Reads a place's waiting destroy notifications.
  private func notifications(from place: WatchedPlace) throws {
    guard let monitor = place.monitor else { return }
    // Every TCP notification is evidence of a socket's namespace, whatever the filter.
    let complete = try monitor.drain(SocketQuery(scope: .all)) { r in
      if r.transport == .tcp {
        tracker.noteDestroyed(
          copy r, extras: monitor.extras?.take(for: r), namespace: place.index, monotonic: now())
      } else {
        otherDestroyed(copy r, place)
      }
    }
    if !complete { try notificationsLost(place) }
  }

  /// The changes decided since the last call.
  func take() -> [TransitionTracker.Change] { tracker.take() }

  /// Lost records: every namespace dumped again, the differences reported. A socket the dump
  /// has that nothing known matches may have been born since the rings were last read: its
  /// records, read after the dump, tell its story, so it is NEW from the dump only when they
  /// do not (`settle`). A loss in that read is covered by one more dump: three in a row at
  /// most, then the next drain takes it up (`uncovered`), so output and ticks go on.
  private func resynchronize(at time: Int64) throws {
    var lostAt: Int64? = time
    for _ in 0..<3 {
      guard let time = lostAt else { return }
      try lost(time)
      for place in spaces.current {
        let records = try place.run { try dump(place) }
        tracker.resynchronize(records, namespace: place.index, monotonic: now())
      }
      lostAt = try read(flush: true)
      tracker.settle()
    }
    uncovered = lostAt
  }

  /// Namespaces found since (primed with their sockets) and gone since (their sockets GONE).
  private func primeAdded() throws {
    for place in spaces.takeAdded() {
      // One that went away before its dump is let go at the next scan.
      guard let records = try? place.run({ try dump(place) }) else { continue }
      tracker.prime(records, namespace: place.index, monotonic: now())
    }
    for index in spaces.takeGone() { tracker.leave(namespace: index, monotonic: now()) }
  }

  private func now() -> UInt64 { TransitionEvents.monotonicNow() }
}
