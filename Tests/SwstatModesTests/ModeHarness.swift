import Foundation
import SwstatCore
import SwstatModes
import SwstatRender

/// A source that answers each dump with the next of its snapshots (the last one again once
/// they run out), filtering with the query as a real source does.
final class RecordedSource: SocketSource, @unchecked Sendable {
  let name = "recorded"
  private var snapshots: [[SocketRecord]]
  private var dumps = 0
  private let lock = NSLock()

  init(_ snapshots: [[SocketRecord]]) { self.snapshots = snapshots }

  func forEach(
    _ table: SocketTable, _ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    lock.lock()
    let index = min(dumps, snapshots.count - 1)
    lock.unlock()
    for r in snapshots[index]
    where r.transport == table.transport && r.family == table.family && query.matches(r) {
      try body(r)
    }
    // A dump is the tcp then udp tables of one query: it ends after the last table.
    if table == query.tables.last {
      lock.lock()
      dumps += 1
      lock.unlock()
    }
  }
}

/// A clock that hands out scripted wakes; each tick moves wall time on by a second.
final class ScriptedTicker: Ticker {
  private var wakes: [Wake]
  private(set) var now: Int64 = 1_764_547_200_000_000_000  // 2025-12-01T00:00:00Z
  private(set) var suspended = 0

  init(_ wakes: [Wake]) { self.wakes = wakes }

  func wait(keys: Bool, extra: [Int32]) -> Wake {
    let wake = wakes.isEmpty ? .stop : wakes.removeFirst()
    if wake == .tick { now += 1_000_000_000 }
    return wake
  }
  func tickNow() {}
  func wallClock() -> Int64 { now }
  func suspend() { suspended += 1 }
}

/// Owners known in advance, for every run and every tick.
final class KnownOwners: OwnerLookup {
  let owners: ProcessOwners
  init(_ owners: ProcessOwners) { self.owners = owners }
  func start(listeningOnly: Bool, everyOwner: Bool) {}
  func finish(inodes: [UInt64]) -> ProcessOwners { owners }
}

/// A screen that keeps what is drawn.
final class RecordingScreen: TerminalControl {
  var frames: [[String]] = []
  var restored = 0
  var entered = 0
  var size: (columns: Int, rows: Int) { (100, 30) }
  func draw(_ lines: [String]) { frames.append(lines) }
  func restore() { restored += 1 }
  func enter() { entered += 1 }
}

/// Runs `plan` against recorded sockets and returns stdout, stderr and the status.
func runMode(
  _ plan: Plan, snapshots: [[SocketRecord]], owners: ProcessOwners = ProcessOwners(),
  wakes: [Wake] = [], screen: RecordingScreen? = nil
) throws -> (out: String, err: String, status: Int32) {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent(
    "swstat-mode-\(getpid())-\(UUID().uuidString)"
  ).path
  let fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0o600)
  defer {
    close(fd)
    unlink(path)
  }
  let source = RecordedSource(snapshots)
  var errors = ""
  let ticker = ScriptedTicker(wakes)
  let env = Environment(
    source: { _ in source }, unixSource: { _ in .proc(root: "/nonexistent") },
    ownerWalk: { KnownOwners(owners) }, ownerCache: { KnownOwners(owners) },
    output: OutputBuffer(fd: fd), errors: { errors += $0 }, ticker: { _ in ticker },
    terminal: { screen })
  let status = try Modes.run(plan, in: env)
  let out = try String(contentsOfFile: path, encoding: .utf8)
  return (out, errors, status)
}

func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ port: UInt16) -> Endpoint {
  Endpoint(address: IPAddress(family: .inet, bytes: [a, b, c, d]), port: port)
}

/// A TCP socket on loopback.
func tcp(
  _ local: UInt16, _ remote: UInt16, _ state: SocketState, inode: UInt64, cookie: UInt64 = 0,
  uid: UInt32 = 0
) -> SocketRecord {
  SocketRecord(
    transport: .tcp, family: .inet, local: v4(127, 0, 0, 1, local),
    remote: remote == 0 ? v4(0, 0, 0, 0, 0) : v4(127, 0, 0, 1, remote), stateCode: state.rawValue,
    uid: uid, inode: inode, cookie: cookie == 0 ? inode : cookie)
}

/// A plan for `mode` over TCP and UDP, servers included, numeric.
func plan(_ mode: Plan.Mode, json: Bool = false, programs: Bool = false) -> Plan {
  var p = Plan()
  p.mode = mode
  p.json = json
  p.programs = programs
  p.tables.tcp = true
  p.tables.udp = true
  p.query = SocketQuery(scope: .all)
  p.look.scope = .all
  p.look.numericHosts = true
  p.look.numericPorts = true
  p.look.numericUsers = true
  p.look.programs = programs
  p.look.names = .visible
  // The recorded sockets are the source: never the live kernel's tracepoint.
  p.transitions = .poll
  return p
}
