import SwstatCore
import Testing

/// The tracker after lost records, with plain values: a re-dump that catches sockets born
/// after the rings were last read, whose records arrive after the dump. Seen in CI as
/// `[6, 2, 1, 4, 5, 6]` for the kernel's `[2, 1, 4, 5, 6]`: NEW TIME_WAIT from the dump, then
/// the whole story again from the records.
struct ResynchronizeTests {
  /// One namespace, whose lookups answer from `table` (4-tuple → the socket as sock_diag has it).
  struct Lookups: SocketLookups {
    var table: [String: SocketRecord] = [:]
    var namespaceCount: Int { 1 }
    func socket(in namespace: Int, family: AddressFamily, local: Endpoint, remote: Endpoint)
      -> SocketRecord?
    { table["\(local.port)-\(remote.port)"] }
    func listeners(in namespace: Int, family: AddressFamily, local: Endpoint) -> [SocketRecord] {
      []
    }
    func watches(_ namespace: Int) -> Bool { true }
    func discover() -> NamespaceDiscovery { .nothingNew }
  }

  static let loopback = IPAddress(family: .inet, bytes: [127, 0, 0, 1])
  static func endpoint(_ port: UInt16) -> Endpoint { Endpoint(address: loopback, port: port) }

  static func record(_ local: UInt16, _ remote: UInt16, _ state: SocketState, cookie: UInt64)
    -> SocketRecord
  {
    let timewait = state == .timeWait
    return SocketRecord(
      transport: .tcp, family: .inet, local: endpoint(local), remote: endpoint(remote),
      stateCode: state.rawValue, cookie: cookie,
      timerCode: timewait ? SocketTimer.timewait.rawValue : 0,
      timerExpiresMilliseconds: timewait ? 60_000 : 0)
  }

  static func transition(
    _ at: UInt64, _ address: UInt64, _ local: UInt16, _ remote: UInt16, _ old: SocketState,
    _ new: SocketState
  ) -> Transition {
    Transition(
      kind: .stateChange, monotonicNanoseconds: at, family: .inet, oldStateCode: old.rawValue,
      newStateCode: new.rawValue, local: endpoint(local), remote: endpoint(remote),
      socketAddress: address)
  }

  /// How many times each socket (by local-remote port) was reported NEW.
  static func news(_ changes: [TransitionTracker.Change]) -> [String: Int] {
    var out: [String: Int] = [:]
    for c in changes where c.event.change == .new {
      out["\(c.event.record.local.port)-\(c.event.record.remote.port)", default: 0] += 1
    }
    return out
  }

  /// The states each socket (by local-remote port) was reported in, in order.
  static func visits(_ changes: [TransitionTracker.Change]) -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for c in changes {
      let key = "\(c.event.record.local.port)-\(c.event.record.remote.port)"
      switch c.event.change {
      case .new, .state: out[key, default: []].append(c.event.record.stateCode)
      case .gone, .brief: break
      }
    }
    return out
  }

  /// A client born, closed and in TIME_WAIT between the last read and the re-dump, and a
  /// server connection accepted before the dump and closed by its peer after it; beside them
  /// a socket whose records were all lost, which only the dump shows.
  @Test func socketsBornBeforeTheDumpAreToldOnce() {
    let dumpEnd: UInt64 = 1_000
    var lookups = Lookups()
    let client = Self.record(40938, 7300, .timeWait, cookie: 0)
    let server = Self.record(7300, 40940, .established, cookie: 12)
    let unseen = Self.record(7300, 40950, .established, cookie: 13)
    lookups.table["40938-7300"] = client
    lookups.table["7300-40940"] = server
    lookups.table["7300-40950"] = unseen
    var tracker = TransitionTracker(realtimeOffset: 0)
    tracker.resynchronize(
      [client, server, unseen], namespace: 0, monotonic: dumpEnd)
    // The records the rings held: up to the dump's end, and some after it.
    let records = [
      Self.transition(500, 0xa1, 0, 7300, .close, .synSent),  // no local port yet
      Self.transition(510, 0xa2, 7300, 40940, .listen, .synReceived),
      Self.transition(520, 0xa1, 40938, 7300, .synSent, .established),
      Self.transition(530, 0xa2, 7300, 40940, .synReceived, .established),
      Self.transition(600, 0xa1, 40938, 7300, .established, .finWait1),
      Self.transition(700, 0xa1, 40938, 7300, .finWait1, .finWait2),
      Self.transition(800, 0xa1, 40938, 7300, .finWait2, .close),
      Self.transition(1_100, 0xa2, 7300, 40940, .established, .closeWait),
      Self.transition(1_200, 0xa2, 7300, 40940, .closeWait, .lastAck),
    ]
    for t in records { tracker.apply(t, lookups: lookups) }
    tracker.settle()
    tracker.tick(monotonic: 10_000_000_000, lookups: lookups)
    let changes = tracker.take()
    let seen = Self.visits(changes)
    #expect(Self.news(changes).values.allSatisfy { $0 == 1 }, "one NEW each")
    #expect(seen["40938-7300"] == [2, 1, 4, 5, 6], "the client: its records, not the dump")
    #expect(seen["7300-40940"] == [3, 1, 8, 9], "the server side: its records, not the dump")
    #expect(seen["7300-40950"] == [1], "records lost: NEW from the dump")
  }

  /// A connection known from its records (`before`, decided by a second), then records lost:
  /// `after` at the same kernel address, the table as `dump` says, the re-dump, its settling.
  static func reuse(
    known: SocketRecord, before: [Transition], dump: [SocketRecord], after: [Transition]
  ) -> [TransitionTracker.Change] {
    var lookups = Lookups()
    func key(_ r: SocketRecord) -> String { "\(r.local.port)-\(r.remote.port)" }
    lookups.table[key(known)] = known
    var tracker = TransitionTracker(realtimeOffset: 0)
    for t in before { tracker.apply(t, lookups: lookups) }
    tracker.tick(monotonic: 1_000_000_000, lookups: lookups)
    for r in dump { lookups.table[key(r)] = r }
    for t in after { tracker.apply(t, lookups: lookups) }
    tracker.resynchronize(dump, namespace: 0, monotonic: 1_000_001_000)
    tracker.settle()
    tracker.tick(monotonic: 3_000_000_000, lookups: lookups)
    return tracker.take()
  }

  /// A connection known in FIN_WAIT2 whose CLOSE record was lost, and whose kernel address a
  /// new connection took: the re-dump finds it in TIME_WAIT, a change, not a second NEW.
  @Test func aSocketWhoseAddressWasTakenIsMatchedByTheDump() {
    let changes = Self.reuse(
      known: Self.record(41000, 7300, .established, cookie: 21),
      before: [
        Self.transition(100, 0xb1, 0, 7300, .close, .synSent),
        Self.transition(110, 0xb1, 41000, 7300, .synSent, .established),
        Self.transition(300, 0xb1, 41000, 7300, .established, .finWait1),
        Self.transition(400, 0xb1, 41000, 7300, .finWait1, .finWait2),
      ],
      dump: [
        Self.record(41000, 7300, .timeWait, cookie: 21),
        Self.record(41001, 7300, .established, cookie: 22),
      ],
      // FIN_WAIT2 → CLOSE lost; the address is a new connection's.
      after: [
        Self.transition(1_000_000_100, 0xb1, 0, 7300, .close, .synSent),
        Self.transition(1_000_000_110, 0xb1, 41001, 7300, .synSent, .established),
      ])
    let seen = Self.visits(changes)
    #expect(Self.news(changes) == ["41000-7300": 1, "41001-7300": 1], "one NEW each")
    #expect(seen["41000-7300"] == [2, 1, 4, 5, 6])
    #expect(seen["41001-7300"] == [2, 1])
  }

  /// As above, with the new connection's start lost too: its first record found at the old
  /// one's address is another connection's, not a move of the old one.
  @Test func aRecordOfAnotherConnectionAtAKnownAddress() {
    let changes = Self.reuse(
      known: Self.record(42000, 7300, .established, cookie: 31),
      before: [
        Self.transition(100, 0xc1, 0, 7300, .close, .synSent),
        Self.transition(110, 0xc1, 42000, 7300, .synSent, .established),
        Self.transition(300, 0xc1, 42000, 7300, .established, .finWait1),
      ],
      dump: [
        Self.record(42000, 7300, .timeWait, cookie: 31),
        Self.record(42001, 7300, .finWait1, cookie: 32),
      ],
      // Lost: the old one's FIN_WAIT2 and CLOSE, the new one's CLOSE → SYN_SENT.
      after: [
        Self.transition(1_000_000_110, 0xc1, 42001, 7300, .synSent, .established),
        Self.transition(1_000_000_120, 0xc1, 42001, 7300, .established, .finWait1),
      ])
    #expect(Self.news(changes)["42000-7300"] == 1, "the old connection: NEW once")
    #expect(Self.visits(changes)["42000-7300"] == [2, 1, 4, 6])
    #expect(Self.visits(changes)["42001-7300"]?.last == 4)
  }

  /// Without the records, the dump alone: NEW at settle.
  @Test func aDumpAloneIsNew() {
    var tracker = TransitionTracker(realtimeOffset: 0)
    let r = Self.record(7300, 40960, .finWait2, cookie: 14)
    tracker.resynchronize([r], namespace: 0, monotonic: 1_000)
    #expect(tracker.take().isEmpty, "held until the rings are read past the dump")
    tracker.settle()
    #expect(Self.visits(tracker.take()) == ["7300-40960": [5]])
  }
}
