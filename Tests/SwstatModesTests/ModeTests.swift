import Foundation
import SwstatCore
import SwstatModes
import SwstatRender
import Testing

/// The modes with plain values: recorded sockets, a scripted clock, a file for stdout.
@Suite struct ModeTests {
  static let listener = tcp(8000, 0, .listen, inode: 100)
  static let server = tcp(8000, 40001, .established, inode: 101, uid: 1000)
  static let client = tcp(40001, 8000, .established, inode: 102, uid: 1000)
  static let owners = ProcessOwners.known(
    [(100, 4242, 3), (101, 4242, 4), (102, 77, 5)],
    argv0: [4242: Array("/usr/bin/nginx".utf8), 77: Array("curl\u{1b}]0;x\u{07}".utf8)])

  /// -c: the listing again at every tick, banner included, each pass from a new dump.
  @Test func continuousListsEachTick() throws {
    let first = [Self.listener]
    let second = [Self.listener, Self.server, Self.client]
    let r = try runMode(
      plan(.continuous), snapshots: [first, second], wakes: [.tick, .resize, .tick, .stop])
    let banners = r.out.components(separatedBy: "Active Internet connections").count - 1
    #expect(banners == 3, "\(r.out)")
    let passes = r.out.components(separatedBy: "Active Internet connections").dropFirst()
    #expect(passes.first?.contains("ESTABLISHED") == false)
    #expect(passes.last?.split(separator: "\n").count == 2 + 3, "\(r.out)")
    #expect(r.status == 0)
  }

  /// --watch --json: one object per tick with every counted state, new and gone.
  @Test func watchJSON() throws {
    let r = try runMode(
      plan(.watch, json: true), snapshots: [[Self.listener], [Self.listener, Self.server]],
      wakes: [.tick, .stop])
    let lines = r.out.split(separator: "\n")
    #expect(lines.count == 2)
    let last = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any]
    let states = last?["states"] as? [String: Int]
    #expect(states?["LISTEN"] == 1 && states?["ESTABLISHED"] == 1)
    #expect(states?.count == SocketState.counted.count)
    #expect(last?["total"] as? Int == 2 && last?["new"] as? Int == 1 && last?["gone"] as? Int == 0)
    #expect(lines[0].hasPrefix("{\"time\":\"2025-12-01T00:00:00Z\""))
  }

  /// --watch -p on a terminal: programs by name, written visibly; Ctrl-Z puts the terminal back
  /// before the stop and `fg` takes it again and redraws; q quits.
  @Test func watchDashboardWithPrograms() throws {
    let screen = RecordingScreen()
    var p = plan(.watch, programs: true)
    p.interval = 1
    let r = try runMode(
      p, snapshots: [[Self.listener, Self.server, Self.client]], owners: Self.owners,
      wakes: [.suspend, .resume, .tick, .key(UInt8(ascii: "q"))], screen: screen)
    #expect(r.status == 0 && r.out.isEmpty)
    #expect(screen.restored >= 2 && screen.entered == 1)
    #expect(screen.frames.count == 3, "first frame, redraw after fg, the tick")
    let text = screen.frames.last?.joined(separator: "\n") ?? ""
    #expect(text.contains("BUSIEST PROGRAMS"))
    #expect(text.contains("nginx") && text.contains("curl\\x1b]0;x\\x07"), "\(text)")
    #expect(!text.contains("\u{1b}"))
    for frame in screen.frames { #expect(frame.allSatisfy { Visible.columns(of: $0) <= 100 }) }
  }

  /// --count-by with every key, as a table and as NDJSON.
  @Test(arguments: CountKey.allCases)
  func countByEachKey(key: CountKey) throws {
    let sockets = [Self.listener, Self.server, Self.client]
    let text = try runMode(
      plan(.groupedCount([key]), programs: key == .program), snapshots: [sockets],
      owners: Self.owners)
    let json = try runMode(
      plan(.groupedCount([key]), json: true, programs: key == .program), snapshots: [sockets],
      owners: Self.owners)
    let expected: [String: Int] =
      switch key {
      case .state: ["LISTEN": 1, "ESTABLISHED": 2]
      case .lport: ["8000": 2, "40001": 1]
      case .rport: ["0": 1, "40001": 1, "8000": 1]
      case .peer: ["0.0.0.0": 1, "127.0.0.1": 2]
      case .program: ["nginx": 2, "curl\\x1b]0;x\\x07": 1]
      case .uid: ["0": 1, "1000": 2]
      }
    var table: [String: Int] = [:]
    for line in text.out.split(separator: "\n").dropFirst() {
      let cells = line.split(separator: " ", maxSplits: 1).map(String.init)
      table[cells[1].trimmingCharacters(in: .whitespaces)] = Int(cells[0])
    }
    #expect(table == expected, "\(text.out)")
    #expect(text.out.hasPrefix("COUNT  \(key.rawValue.uppercased())"))
    var objects: [String: Int] = [:]
    for line in json.out.split(separator: "\n") {
      let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      let value = o?[key.rawValue].map { "\($0)" } ?? "?"
      objects[value] = o?["count"] as? Int
    }
    let jsonExpected = Dictionary(
      uniqueKeysWithValues: expected.map {
        (
          $0.key.replacingOccurrences(of: "\\x1b", with: "\u{1b}").replacingOccurrences(
            of: "\\x07", with: "\u{07}"), $0.value
        )
      })
    #expect(objects == jsonExpected, "\(json.out)")
  }

  /// --events: NEW, a state change, GONE with the owner it had, timestamped; and the same as
  /// NDJSON with `from` and `owner`.
  @Test func eventsFormatting() throws {
    let established = Self.server
    var closing = Self.server
    closing.stateCode = SocketState.closeWait.rawValue
    let snapshots = [
      [Self.listener], [Self.listener, established], [Self.listener, closing],
      [
        Self.listener
      ],
    ]
    var p = plan(.events, programs: true)
    p.interval = 1
    let text = try runMode(
      p, snapshots: snapshots, owners: Self.owners, wakes: [.tick, .tick, .tick, .stop])
    let lines = text.out.split(separator: "\n").map(String.init)
    #expect(lines.count == 3, "\(text.out)")
    #expect(
      lines[0]
        == "2025-12-01T00:00:01.000Z NEW    tcp  127.0.0.1:8000          127.0.0.1:40001         ESTABLISHED 4242/nginx"
    )
    #expect(
      lines[1].contains(" STATE  tcp ") && lines[1].hasSuffix("ESTABLISHED → CLOSE_WAIT 4242/nginx")
    )
    #expect(lines[2].contains(" GONE   tcp ") && lines[2].hasSuffix("CLOSE_WAIT (was 4242/nginx)"))
    p.json = true
    let json = try runMode(
      p, snapshots: snapshots, owners: Self.owners, wakes: [.tick, .tick, .tick, .stop])
    var objects = try json.out.split(separator: "\n").map {
      try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    // First, where the state changes come from.
    #expect(objects.first??["transitions"] as? String == "poll")
    objects.removeFirst()
    #expect(objects.map { $0?["event"] as? String } == ["new", "state", "gone"])
    #expect(objects[1]?["from"] as? String == "ESTABLISHED")
    #expect(objects[1]?["state"] as? String == "CLOSE_WAIT")
    #expect(objects[2]?["owner"] as? String == "(was 4242/nginx)")
  }

  /// The owner filter narrows the live modes: --watch counts and --events lines are only the
  /// wanted program's.
  @Test func ownerFilterNarrowsLiveModes() throws {
    var watch = plan(.watch, json: true, programs: true)
    watch.ownerFilter = OwnerFilter(program: Array("curl\u{1b}]0;x\u{07}".utf8))
    let w = try runMode(
      watch, snapshots: [[Self.listener, Self.server, Self.client]], owners: Self.owners,
      wakes: [.stop])
    let frame = try JSONSerialization.jsonObject(with: Data(w.out.utf8)) as? [String: Any]
    #expect(frame?["total"] as? Int == 1, "\(w.out)")
    var events = plan(.events, programs: true)
    events.ownerFilter = OwnerFilter(pid: 77)
    let e = try runMode(
      events, snapshots: [[], [Self.listener, Self.server, Self.client]], owners: Self.owners,
      wakes: [.tick, .stop])
    let lines = e.out.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].contains("127.0.0.1:40001"), "\(e.out)")
  }
}
