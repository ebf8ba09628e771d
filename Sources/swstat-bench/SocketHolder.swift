import Glibc
import Synchronization

/// Set by SIGTERM/SIGINT/SIGHUP in a `hold` worker; checked by every loop.
private let stopRequested = Atomic<Bool>(false)

/// Linux's IP_BIND_ADDRESS_NO_PORT (24): bind the source address now, the port at connect().
private let ipBindAddressNoPort: Int32 = 24
/// Connections per accept listener, well under the ~28k ephemeral ports per 4-tuple prefix.
private let connectionsPerListener = 8000
/// IPv4 clients rotate over 127.0.0.1 ... 127.0.0.4 as source addresses.
private let ipv4Sources: [UInt8] = [1, 2, 3, 4]

/// One socket-holding worker: `swstat-bench hold --listen N --established N --close-wait N
/// --time-wait N [--bound N] [--ipv6-half] --index I --workers K --create-timeout S`.
///
/// Creates its share of the mix on 127.0.0.x and ::1 only, prints `ready <counts>` on stdout
/// and holds the sockets until its stdin reaches end of file (the benchmark closed it, or died)
/// or a SIGTERM/SIGINT/SIGHUP arrives; then closes every socket with SO_LINGER {1, 0}, which
/// resets the connection and leaves no TIME_WAIT behind. `refresh` on stdin re-creates the
/// TIME_WAIT batch (the kernel drops TIME_WAIT sockets after 60 s) and answers `refreshed N`.
final class SocketHolder {
  private var mix = SocketMix()
  private var ipv6Half = false
  private var index = 0
  private var workers = 1
  private var deadline: UInt64 = 0
  private var createTimeout: UInt64 = 180
  private var backlog: Int32 = 512
  /// Every descriptor this worker holds.
  private var held: [Int32] = []
  private var listeners: [String: [LoopbackEndpoint]] = [:]
  private var allocators: [Int32: PortAllocator] = [:]
  private var sourceIndex = 0
  private var internalListeners = 0

  static func main(_ arguments: [String]) -> Never {
    let holder = SocketHolder()
    do {
      try holder.parse(arguments)
    } catch {
      writeError("swstat-bench hold: \(error)")
      exit(2)
    }
    exit(holder.run())
  }

  private func parse(_ arguments: [String]) throws {
    var rest = arguments[...]
    func number(_ flag: String) throws -> Int {
      guard let text = rest.popFirst(), let n = Int(text), n >= 0 else {
        throw BenchError("\(flag) needs a number")
      }
      return n
    }
    while let flag = rest.popFirst() {
      switch flag {
      case "--listen": mix.listen = try number(flag)
      case "--established": mix.establishedPairs = try number(flag)
      case "--close-wait": mix.closeWaitPairs = try number(flag)
      case "--time-wait": mix.timeWait = try number(flag)
      case "--bound": mix.boundInactive = try number(flag)
      case "--ipv6-half": ipv6Half = true
      case "--index": index = try number(flag)
      case "--workers": workers = max(1, try number(flag))
      case "--create-timeout": createTimeout = UInt64(max(1, try number(flag)))
      default: throw BenchError("unknown option '\(flag)'")
      }
    }
  }

  private func run() -> Int32 {
    installSignalHandlers()
    raiseDescriptorLimit()
    var somaxconn = 4096
    if let text = try? readSmallFile("/proc/sys/net/core/somaxconn"), let n = Int(text) {
      somaxconn = n
    }
    backlog = Int32(max(16, min(somaxconn, 4096)))
    var status: Int32 = 0
    do {
      let started = monotonicNanoseconds()
      deadline = started + createTimeout * 1_000_000_000
      try create()
      let milliseconds = (monotonicNanoseconds() - started) / 1_000_000
      reply(
        "ready listen=\(mix.listen) internal=\(internalListeners)"
          + " established=\(2 * mix.establishedPairs) closewait=\(mix.closeWaitPairs)"
          + " finwait2=\(mix.closeWaitPairs) timewait=\(mix.timeWait)"
          + " bound=\(mix.boundInactive) fds=\(held.count)"
          + " ms=\(milliseconds)")
      try hold()
    } catch {
      reply("error \(error)")
      status = 1
    }
    closeAll()
    return status
  }

  private var families: [Int32] { ipv6Half ? [AF_INET, AF_INET6] : [AF_INET] }

  private func familyCount(_ n: Int, _ family: Int32) -> Int {
    ipv6Half ? SocketMix.familyShare(n, ipv6: family == AF_INET6) : n
  }

  private func create() throws {
    for family in families {
      for _ in 0..<familyCount(mix.listen, family) {
        try checkTime()
        held.append(try makeListener(family, backlog: 16).fd)
      }
    }
    for family in families {
      try makePairs(family, familyCount(mix.establishedPairs, family), mode: .established)
      try makePairs(family, familyCount(mix.closeWaitPairs, family), mode: .closeWait)
    }
    try makeTimeWait()
    for family in families {
      for _ in 0..<familyCount(mix.boundInactive, family) {
        try checkTime()
        held.append(try makeBound(family))
      }
    }
  }

  private func makeTimeWait() throws {
    for family in families {
      try makePairs(family, familyCount(mix.timeWait, family), mode: .timeWait)
    }
  }

  /// Holds until stdin ends, a stop signal arrives or two hours pass (a backstop).
  private func hold() throws {
    let input = LineReader(fd: 0)
    let holdDeadline = monotonicNanoseconds() + 7200 * 1_000_000_000
    while !stopRequested.load(ordering: .relaxed) && monotonicNanoseconds() < holdDeadline {
      var poller = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
      if poll(&poller, 1, 1000) <= 0 { continue }
      guard let line = try input.readLine(within: 5, what: "stdin") else { return }
      if line == "refresh" {
        let started = monotonicNanoseconds()
        deadline = started + createTimeout * 1_000_000_000
        try makeTimeWait()
        reply("refreshed \(mix.timeWait) ms=\((monotonicNanoseconds() - started) / 1_000_000)")
      }
    }
  }

  private func reply(_ line: String) {
    writeLine(line, to: 1)
  }

  private func checkTime() throws {
    if stopRequested.load(ordering: .relaxed) { throw BenchError("stopped by a signal") }
    if monotonicNanoseconds() > deadline {
      throw BenchError("creating the sockets took longer than \(createTimeout) s")
    }
  }

  private func installSignalHandlers() {
    signal(SIGPIPE, SIG_IGN)
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
      stopRequested.store(true, ordering: .relaxed)
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    for signalNumber in [SIGTERM, SIGINT, SIGHUP] { sigaction(signalNumber, &action, nil) }
  }

  /// The soft RLIMIT_NOFILE goes up to the hard limit (raising the hard one needs privileges).
  private func raiseDescriptorLimit() {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    if getrlimit(resource, &limit) == 0 && limit.rlim_cur < limit.rlim_max {
      limit.rlim_cur = limit.rlim_max
      setrlimit(resource, &limit)
    }
  }

  // MARK: Sockets

  private func newSocket(_ family: Int32, nonBlocking: Bool = false) throws -> Int32 {
    var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    let fd = socket(family, type, 0)
    guard fd >= 0 else { throw BenchError.system("socket") }
    if family == AF_INET6 {
      setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
    }
    return fd
  }

  private func makeListener(_ family: Int32, backlog: Int32) throws -> LoopbackEndpoint {
    let fd = try newSocket(family, nonBlocking: true)
    setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
    let allocator = allocators[family] ?? PortAllocator(family: family, index: index, of: workers)
    defer { allocators[family] = allocator }
    do {
      var endpoint = try allocator.bind(fd)
      guard listen(fd, backlog) == 0 else { throw BenchError.system("listen \(endpoint)") }
      endpoint.fd = fd
      return endpoint
    } catch {
      close(fd)
      throw error
    }
  }

  /// A socket bound to a loopback port and left there: BOUND_INACTIVE.
  private func makeBound(_ family: Int32) throws -> Int32 {
    let fd = try newSocket(family)
    let allocator = allocators[family] ?? PortAllocator(family: family, index: index, of: workers)
    defer { allocators[family] = allocator }
    do {
      _ = try allocator.bind(fd)
      return fd
    } catch {
      close(fd)
      throw error
    }
  }

  private enum PairMode: String { case established, closeWait, timeWait }

  /// The accept listeners for one family and purpose; connections are spread over several
  /// ports so that no (source, destination) pair runs out of ephemeral ports.
  private func acceptListeners(_ family: Int32, _ mode: PairMode) throws -> [LoopbackEndpoint] {
    let purpose = mode == .timeWait ? "tw" : "conn"
    let key = "\(family)-\(purpose)"
    if let existing = listeners[key] { return existing }
    let connections =
      mode == .timeWait
      ? familyCount(mix.timeWait, family)
      : familyCount(mix.establishedPairs + mix.closeWaitPairs, family)
    let count = max(1, (connections + connectionsPerListener - 1) / connectionsPerListener)
    var made: [LoopbackEndpoint] = []
    for _ in 0..<count {
      let listener = try makeListener(family, backlog: backlog)
      held.append(listener.fd)
      made.append(listener)
    }
    internalListeners += count
    listeners[key] = made
    return made
  }

  private func makePairs(_ family: Int32, _ count: Int, mode: PairMode) throws {
    guard count > 0 else { return }
    let targets = try acceptListeners(family, mode)
    let batchLimit = Int(min(backlog, 512))
    var done = 0
    var round = 0
    while done < count {
      try checkTime()
      let target = targets[round % targets.count]
      round += 1
      let batch = min(batchLimit, count - done)
      var clients: [Int32] = []
      var servers: [Int32] = []
      do {
        for _ in 0..<batch {
          let client = try newSocket(family, nonBlocking: true)
          clients.append(client)
          if family == AF_INET {
            setOption(client, Int32(IPPROTO_IP), ipBindAddressNoPort, 1)
            let source = ipv4Sources[sourceIndex % ipv4Sources.count]
            sourceIndex += 1
            let local = LoopbackEndpoint(family: AF_INET, host: source, port: 0)
            guard local.withSockaddr({ bind(client, $0, $1) }) == 0 else {
              throw BenchError.system("bind \(local)")
            }
          }
          let rc = target.withSockaddr { connect(client, $0, $1) }
          if rc != 0 && errno != EINPROGRESS { throw BenchError.system("connect \(target)") }
        }
        try acceptConnections(from: target, count: batch, into: &servers)
        try waitConnected(clients)
      } catch {
        for fd in clients + servers { abortiveClose(fd) }
        throw error
      }
      switch mode {
      case .established:
        held.append(contentsOf: clients)
        held.append(contentsOf: servers)
      case .closeWait:
        for client in clients where shutdown(client, Int32(SHUT_WR)) != 0 {
          throw BenchError.system("shutdown")
        }
        held.append(contentsOf: clients)
        held.append(contentsOf: servers)
      case .timeWait:
        // The client closes first, so the client end is the one left in TIME_WAIT.
        for fd in clients + servers { close(fd) }
      }
      done += batch
    }
  }

  private func acceptConnections(
    from listener: LoopbackEndpoint, count: Int, into servers: inout [Int32]
  ) throws {
    let giveUp = min(deadline, monotonicNanoseconds() + 30 * 1_000_000_000)
    while servers.count < count {
      let fd = accept(listener.fd, nil, nil)
      if fd >= 0 {
        servers.append(fd)
        continue
      }
      guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
        throw BenchError.system("accept on \(listener)")
      }
      try checkTime()
      if monotonicNanoseconds() > giveUp {
        throw BenchError("accept on \(listener): only \(servers.count) of \(count) arrived")
      }
      var poller = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
      _ = poll(&poller, 1, 50)
    }
  }

  /// On loopback the handshake is over once the server accepted; confirm it per client.
  private func waitConnected(_ clients: [Int32]) throws {
    for client in clients {
      var error: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      getsockopt(client, SOL_SOCKET, SO_ERROR, &error, &length)
      if error != 0 { throw BenchError.system("connect", errno: error) }
      var poller = pollfd(fd: client, events: Int16(POLLOUT), revents: 0)
      if poll(&poller, 1, 5000) != 1 { throw BenchError("connect did not complete in 5 s") }
    }
  }

  private func closeAll() {
    for fd in held { abortiveClose(fd) }
    held = []
  }
}

/// SO_LINGER {1, 0}: close() sends a reset and leaves no TIME_WAIT socket behind.
private func abortiveClose(_ fd: Int32) {
  var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
  close(fd)
}

private func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
  var value = value
  setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
}

/// Reads a small text file such as a sysctl, trimmed (unless `trimmed` is false).
func readSmallFile(_ path: String, limit: Int = 256, trimmed: Bool = true) throws -> String {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw BenchError.system(path) }
  defer { close(fd) }
  var buffer = [UInt8](repeating: 0, count: limit)
  var n = 0
  // One read takes a sysctl whole; a regular file may take several.
  while n < limit {
    let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + n, limit - n) }
    if got < 0 && errno == EINTR { continue }
    guard got >= 0 else { throw BenchError.system(path) }
    if got == 0 { break }
    n += got
  }
  let text = String(decoding: buffer[..<n], as: UTF8.self)
  return trimmed ? text.trimmingCharacters(in: " \n\t") : text
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    let bytes = Array(utf8)
    var start = 0
    var end = bytes.count
    while start < end && set.utf8.contains(bytes[start]) { start += 1 }
    while end > start && set.utf8.contains(bytes[end - 1]) { end -= 1 }
    return String(decoding: bytes[start..<end], as: UTF8.self)
  }
}
