import Glibc
import Synchronization

/// Set by SIGTERM/SIGINT/SIGHUP in a `churn` worker; checked by its loop.
private let churnStopRequested = Atomic<Bool>(false)

/// Linux's IP_BIND_ADDRESS_NO_PORT (24): bind the source address now, the port at connect().
private let bindAddressNoPort: Int32 = 24

/// One connection-churn worker: `swstat-bench churn --rate R --seconds S --index I --workers K`.
///
/// Opens R connections a second on loopback (127.0.0.x and ::1 only, to listeners of its own),
/// each one its whole life: connect, accept, one byte each way, close. Four lifecycles in turn,
/// in both families: the client closes first (its end goes through FIN_WAIT1/2 to TIME_WAIT,
/// the server's through CLOSE_WAIT and LAST_ACK), the server closes first (the reverse), the
/// client resets (SO_LINGER {1, 0}: no TIME_WAIT), the server resets. Half leave a TIME_WAIT
/// socket, which the kernel drops 60 s later.
///
/// Rate-controlled: connection k is due k/R seconds after the start; a worker behind its
/// schedule catches up at most R/50 connections at a time, and forgets a backlog of more than
/// one second (the achieved rate, not the asked one, is what the benchmark reports). Bounded:
/// it stops after S seconds, when its stdin ends (the benchmark closed it, or died) or on a
/// stop signal, and every step of a connection waits at most one second.
///
/// stdin: `count` → `count C F` (connections completed and failed so far). stdout: `ready N`
/// once its N listeners are up, then the answers; `error ...` if it cannot start.
final class ChurnWorker {
  enum Lifecycle: CaseIterable { case clientCloses, serverCloses, clientResets, serverResets }

  private var rate = 100.0
  private var seconds = 60
  private var index = 0
  private var workers = 1
  /// Listening ports per family: the clients' ephemeral ports (and the TIME_WAIT sockets that
  /// hold them) spread over several destinations.
  private let listenersPerFamily = 4
  private var listeners: [(family: Int32, fd: Int32, endpoint: LoopbackEndpoint)] = []
  private var attempts = 0
  private var completed = 0
  private var failed = 0
  private var lastError = ""

  static func main(_ arguments: [String]) -> Never {
    let worker = ChurnWorker()
    do {
      try worker.parse(arguments)
    } catch {
      writeError("swstat-bench churn: \(error)")
      exit(2)
    }
    exit(worker.run())
  }

  private func parse(_ arguments: [String]) throws {
    var rest = arguments[...]
    func number(_ flag: String) throws -> Double {
      guard let text = rest.popFirst(), let n = Double(text), n >= 0, n.isFinite else {
        throw BenchError("\(flag) needs a number")
      }
      return n
    }
    while let flag = rest.popFirst() {
      switch flag {
      case "--rate": rate = max(1, min(100_000, try number(flag)))
      case "--seconds": seconds = Int(max(1, min(7200, try number(flag))))
      case "--index": index = Int(try number(flag))
      case "--workers": workers = max(1, Int(try number(flag)))
      default: throw BenchError("unknown option '\(flag)'")
      }
    }
  }

  private func run() -> Int32 {
    signal(SIGPIPE, SIG_IGN)
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
      churnStopRequested.store(true, ordering: .relaxed)
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    for signalNumber in [SIGTERM, SIGINT, SIGHUP] { sigaction(signalNumber, &action, nil) }
    do {
      try openListeners()
    } catch {
      writeLine("error \(error)", to: 1)
      closeListeners()
      return 1
    }
    writeLine("ready \(listeners.count)", to: 1)
    churn()
    closeListeners()
    return 0
  }

  private func openListeners() throws {
    for family in [AF_INET, AF_INET6] {
      // Ports from outside the ephemeral range, from an offset of this worker's own (the
      // socket-holding workers start from theirs; a port taken is skipped).
      let allocator = PortAllocator(family: family, index: 2 * index + 1, of: 2 * workers)
      for _ in 0..<listenersPerFamily {
        let fd = socket(
          family,
          Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw BenchError.system("socket") }
        if family == AF_INET6 { setIntOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        do {
          let endpoint = try allocator.bind(fd)
          guard listen(fd, 256) == 0 else { throw BenchError.system("listen \(endpoint)") }
          listeners.append((family, fd, endpoint))
        } catch {
          close(fd)
          throw error
        }
      }
    }
  }

  private func closeListeners() {
    for listener in listeners { close(listener.fd) }
    listeners = []
  }

  /// The schedule: connections at `rate` a second until stopped or `seconds` pass.
  private func churn() {
    let input = LineReader(fd: 0)
    let interval = 1e9 / rate
    let maxBatch = max(1, Int(rate / 50))
    var base = monotonicNanoseconds()
    let deadline = base + UInt64(seconds) * 1_000_000_000
    while !churnStopRequested.load(ordering: .relaxed) {
      let now = monotonicNanoseconds()
      if now >= deadline { return }
      var due = Int(Double(now - base) / interval) + 1
      if due - attempts > Int(rate) {
        // More than a second behind (the worker did not get the CPU): start the schedule
        // again from here rather than make up the backlog in one burst.
        base = now &- UInt64(Double(attempts) * interval)
        due = attempts + 1
      }
      var wait: Int32 = 0
      if attempts >= due {
        let next = base + UInt64(Double(attempts) * interval)
        wait = Int32(max(1, min(100, (next &- now) / 1_000_000)))
      } else {
        for _ in 0..<min(maxBatch, due - attempts) {
          let k = attempts
          attempts += 1
          if connectOnce(k) { completed += 1 } else { failed += 1 }
        }
      }
      var poller = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
      guard poll(&poller, 1, wait) > 0 else { continue }
      guard let line = try? input.readLine(within: 5, what: "stdin") else { return }
      if line == "count" { writeLine("count \(completed) \(failed)", to: 1) }
    }
  }

  /// One connection, its whole life; false (the descriptors closed) when a step fails.
  private func connectOnce(_ k: Int) -> Bool {
    let family = k % 2 == 0 ? AF_INET : AF_INET6
    let lifecycle = Lifecycle.allCases[(k / 2) % Lifecycle.allCases.count]
    let mine = listeners.filter { $0.family == family }
    let listener = mine[(k / 8) % mine.count]
    let client = socket(
      family,
      Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
      0)
    guard client >= 0 else { return false }
    var server: Int32 = -1
    func fail() -> Bool {
      resetClose(client)
      if server >= 0 { resetClose(server) }
      return false
    }
    if family == AF_INET6 {
      setIntOption(client, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
    } else {
      // Sources 127.0.0.1 ... 127.0.0.4 in turn: four times the ephemeral ports.
      setIntOption(client, Int32(IPPROTO_IP), bindAddressNoPort, 1)
      let source = LoopbackEndpoint(family: AF_INET, host: UInt8(1 + (k / 2) % 4), port: 0)
      guard source.withSockaddr({ bind(client, $0, $1) }) == 0 else { return fail() }
    }
    let rc = listener.endpoint.withSockaddr { connect(client, $0, $1) }
    guard rc == 0 || errno == EINPROGRESS else { return fail() }
    guard let port = localPort(client) else { return fail() }
    server = acceptPeer(listener.fd, port: port)
    guard server >= 0, wait(client, POLLOUT), socketError(client) == 0 else { return fail() }
    var byte: UInt8 = 0x78
    guard write(client, &byte, 1) == 1, wait(server, POLLIN), read(server, &byte, 1) == 1,
      write(server, &byte, 1) == 1, wait(client, POLLIN), read(client, &byte, 1) == 1
    else { return fail() }
    switch lifecycle {
    case .clientCloses:
      close(client)
      close(server)
    case .serverCloses:
      close(server)
      close(client)
    case .clientResets:
      resetClose(client)
      close(server)
    case .serverResets:
      resetClose(server)
      close(client)
    }
    return true
  }

  /// Accepts the connection from local `port` (one left over from a connect that failed is
  /// reset and skipped); -1 after a second without it.
  private func acceptPeer(_ listener: Int32, port: UInt16) -> Int32 {
    let giveUp = monotonicNanoseconds() + 1_000_000_000
    while monotonicNanoseconds() < giveUp {
      let fd = accept(listener, nil, nil)  // this process execs nothing: no CLOEXEC needed
      if fd >= 0 {
        if peerPort(fd) == port { return fd }
        resetClose(fd)
        continue
      }
      guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return -1 }
      var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
      _ = poll(&poller, 1, 100)
    }
    return -1
  }

  /// Waits at most a second for `events` on `fd`.
  private func wait(_ fd: Int32, _ events: Int32) -> Bool {
    var poller = pollfd(fd: fd, events: Int16(events), revents: 0)
    let giveUp = monotonicNanoseconds() + 1_000_000_000
    while monotonicNanoseconds() < giveUp {
      let ready = poll(&poller, 1, 1000)
      if ready > 0 { return poller.revents & Int16(events) != 0 }
      if ready < 0 && errno != EINTR { return false }
    }
    return false
  }
}

private func socketError(_ fd: Int32) -> Int32 {
  var error: Int32 = 0
  var length = socklen_t(MemoryLayout<Int32>.size)
  guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
  return error
}

/// getsockname or getpeername on one socket.
private typealias AddressCall = (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>)
  -> Int32

/// The port of the socket address `call` fills in (either family), or nil.
private func port(of call: AddressCall) -> UInt16? {
  var storage = sockaddr_storage()
  var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
  let rc = withUnsafeMutablePointer(to: &storage) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call($0, &length) }
  }
  guard rc == 0 else { return nil }
  return withUnsafePointer(to: &storage) {
    $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
      // sin_port and sin6_port sit at the same offset.
      UInt16(bigEndian: $0.pointee.sin_port)
    }
  }
}

private func localPort(_ fd: Int32) -> UInt16? { port { getsockname(fd, $0, $1) } }
private func peerPort(_ fd: Int32) -> UInt16? { port { getpeername(fd, $0, $1) } }

/// SO_LINGER {1, 0}: close() sends a reset and leaves no TIME_WAIT socket behind.
private func resetClose(_ fd: Int32) {
  var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
  close(fd)
}

private func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
  var value = value
  setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
}
