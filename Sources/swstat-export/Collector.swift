import Glibc
import SwstatCore
import SwstatRender

/// One listening address: what `swstat_listen_queue_*` are labelled with.
struct ListenerKey: Hashable, Comparable {
  var family: AddressFamily
  /// "127.0.0.1:8080", "[::1]:8080".
  var local: String

  static func < (a: Self, b: Self) -> Bool {
    (a.family.rawValue, a.local) < (b.family.rawValue, b.local)
  }
}

/// A listener's accept queue. Listeners sharing an address (SO_REUSEPORT) are summed, so the
/// series stays unique and the total is what the address can take.
struct ListenQueue: Equatable {
  /// Connections completed but not yet accepted (receiveQueue of a LISTEN socket).
  var length: UInt64 = 0
  /// The listen backlog; nil when the source does not know it (/proc/net).
  var max: UInt64?
}

/// Sockets of one local port and state, before the cap.
struct PortKey: Hashable {
  var transport: TransportProtocol
  var family: AddressFamily
  var port: UInt16
  var state: String
}

/// One row of `swstat_port_sockets` after the cap: `port` is the number or "other".
struct PortRow: Hashable {
  var transport: TransportProtocol
  var family: AddressFamily
  var port: String
  var state: String
}

/// One row of `swstat_program_sockets`.
struct ProgramKey: Hashable {
  /// argv[0] as netstat -p shows it, `[comm]` when that is empty or `-` (`programLabel`); "-"
  /// only when no process we can see holds the socket.
  var program: String
  var transport: TransportProtocol
  var state: String
}

/// Everything one scrape counted, before it is written out.
struct Scrape {
  /// Sockets per table and state code.
  var sockets: StateCounts
  /// Listen queues per TCP listening address.
  var listeners: [ListenerKey: ListenQueue] = [:]
  /// Per local port and state, already capped; nil without --by-port.
  var ports: [PortRow: Int]?
  /// Per program and state; nil without -p.
  var programs: [ProgramKey: Int]?
  /// TcpExt counters from /proc/net/netstat; nil when the file does not exist.
  var tcpExt: TcpExtCounters?
  /// How long the dump (and owner walk) took.
  var duration: Duration = .zero
}

/// Does one dump and counts it: sockets per state, listen queues, and the optional breakdowns.
struct Collector: Sendable {
  let source: any SocketSource
  let procRoot: String
  /// The port cap with --by-port, else nil.
  let byPort: Int?
  let programs: Bool

  /// Every table of both protocols and families.
  static let query = SocketQuery()

  /// The words for a state, `Vocabulary`'s data words; nil for a number outside the exported
  /// set (the counted states; UDP: ESTABLISHED or CLOSE).
  static func stateName(_ transport: TransportProtocol, _ code: UInt8) -> String? {
    let code = SocketState.countedCode(code)
    let exported = transport == .tcp ? exportedTCPStates : exportedUDPStates
    guard exported.contains(where: { $0.rawValue == code }) else { return nil }
    return Vocabulary.stateWord(code, transport)
  }

  /// The TCP states `swstat_sockets` always lists, zero or not: ESTABLISHED through CLOSING.
  static let exportedTCPStates = SocketState.counted

  /// The UDP states `swstat_sockets` always lists.
  static let exportedUDPStates = Vocabulary.countedUDPStates

  /// One scrape. Throws the source's `SocketSourceError`, or an `ExportError` for
  /// /proc/net/netstat.
  func collect() throws -> Scrape {
    let clock = ContinuousClock()
    let start = clock.now
    // The walk of /proc/[pid]/fd runs on a second core while the kernel dumps (as swstat -p).
    let ownerScan = programs ? BackgroundOwnerScan(procRoot: procRoot) : nil
    var scrape = Scrape(sockets: StateCounts(tables: Self.query.tables))
    var listeners: [ListenerKey: ListenQueue] = [:]
    var perPort: [PortKey: Int] = [:]
    var owned: [(inode: UInt64, transport: TransportProtocol, state: String)] = []
    let wantPorts = byPort != nil
    do {
      try source.forEach(Self.query) { record in
        scrape.sockets.add(record)
        if record.transport == .tcp && record.stateCode == SocketState.listen.rawValue {
          let key = ListenerKey(family: record.family, local: Self.text(record.local))
          var queue = listeners[key, default: ListenQueue()]
          queue.length += UInt64(record.receiveQueue)
          if let backlog = record.listenBacklog { queue.max = (queue.max ?? 0) + UInt64(backlog) }
          listeners[key] = queue
        }
        guard wantPorts || programs, let state = Self.stateName(record.transport, record.stateCode)
        else { return }
        if wantPorts {
          let key = PortKey(
            transport: record.transport, family: record.family, port: record.local.port,
            state: state)
          perPort[key, default: 0] += 1
        }
        if programs { owned.append((record.inode, record.transport, state)) }
      }
    } catch {
      _ = ownerScan?.join()
      throw error
    }
    scrape.listeners = listeners
    if let owners = ownerScan?.join() {
      var counts: [ProgramKey: Int] = [:]
      var names: [Int32: String] = [:]
      for (inode, transport, state) in owned {
        var program = "-"
        if let pid = owners.owner(of: inode)?.pid {
          if let name = names[pid] {
            program = name
          } else {
            program = programLabel(argv0: owners.program(of: pid), pid: pid)
            names[pid] = program
          }
        }
        counts[ProgramKey(program: program, transport: transport, state: state), default: 0] += 1
      }
      scrape.programs = counts
    }
    if let cap = byPort { scrape.ports = Self.capped(perPort, keep: cap) }
    scrape.tcpExt = try TcpExtCounters.read(procRoot: procRoot)
    scrape.duration = clock.now - start
    return scrape
  }

  /// The `program` label of a process: argv[0] as netstat trims it, or `[comm]` from
  /// /proc/PID/comm (as ps shows a process without a command line) when argv[0] is empty or
  /// exactly `-`, so that no process takes `-`, the value for sockets no visible process holds.
  /// Control characters and bytes that are not UTF-8 are written `\xHH` (`VisibleText`, the
  /// renderers' rule): Prometheus rejects a label that is not UTF-8, and a scrape read on a
  /// terminal must not steer it. A backslash is left to the exposition's own escaping.
  func programLabel(argv0: [UInt8]?, pid: Int32) -> String {
    if let argv0, !argv0.isEmpty, argv0 != [UInt8(ascii: "-")] {
      return VisibleText.escaped(argv0, backslash: false)
    }
    // The kernel ends comm with a newline; an unreadable one (the process is gone) is empty.
    var comm = (try? RegularFile.read("\(procRoot)/\(pid)/comm")) ?? []
    if comm.last == UInt8(ascii: "\n") { comm.removeLast() }
    return "[" + VisibleText.escaped(comm, backslash: false) + "]"
  }

  /// Keeps the `keep` ports with the most sockets (ties: the lower port) and sums the rest into
  /// port "other", so that ephemeral client ports cannot grow the series without bound.
  static func capped(_ perPort: [PortKey: Int], keep: Int) -> [PortRow: Int] {
    var totals: [UInt16: Int] = [:]
    for (key, n) in perPort { totals[key.port, default: 0] += n }
    let kept = Set(
      totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(keep)
        .map(\.key))
    var rows: [PortRow: Int] = [:]
    for (key, n) in perPort {
      let port = kept.contains(key.port) ? String(key.port) : "other"
      let row = PortRow(transport: key.transport, family: key.family, port: port, state: key.state)
      rows[row, default: 0] += n
    }
    return rows
  }

  /// "127.0.0.1:8080" or "[::1]:8080": the address form Prometheus users expect in a label.
  static func text(_ endpoint: Endpoint) -> String {
    let bytes = endpoint.address.bytes
    let af: Int32 = endpoint.address.family == .inet ? AF_INET : AF_INET6
    var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let ok = bytes.withUnsafeBytes { raw in
      inet_ntop(af, raw.baseAddress, &out, socklen_t(out.count)) != nil
    }
    let address =
      ok
      ? String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    return af == AF_INET ? "\(address):\(endpoint.port)" : "[\(address)]:\(endpoint.port)"
  }
}
