import Glibc
import Synchronization

/// The exporter's limits on what one client may cost it (issue 11, item 3).
struct HTTPLimits {
  /// The most bytes of a request line and header fields together; more is answered with 431
  /// (414 when the request line alone does not fit) and the connection closed.
  var headBytes = 8192
  /// A connection must deliver a whole request head within this many milliseconds of being
  /// accepted, or of its previous response being written: otherwise it is closed, with 408 when
  /// part of a request had arrived (slowloris), silently when none had (an idle keep-alive).
  var headTimeout: Int64 = 10_000
  /// A response whose client reads nothing of it for this long is dropped.
  var writeTimeout: Int64 = 10_000
  /// After an error answer, what the client still sends is read and thrown away for at most
  /// this long and this many bytes before closing, so that the close does not turn into a reset
  /// that destroys the answer before the client reads it.
  var lingerTime: Int64 = 2_000
  var lingerBytes = 1 << 20
  /// How long the listener rests when no connection can be closed to make room.
  var acceptBackoff: Int64 = 100
  /// The most connections open at once (`connectionCap`).
  var maxConnections = 1024

  /// Descriptors kept free for the scrape itself: the netlink socket, /proc files and folders
  /// of the owner walk (two threads), the listener and the wake-up pipes.
  static let reservedDescriptors = 64
  /// No more connections than this even with a high file limit: a scrape server has a few
  /// clients, and each connection may hold a head buffer of `headBytes`.
  static let connectionCeiling = 1024

  /// The connection cap for a soft RLIMIT_NOFILE of `softLimit`: what the limit leaves after
  /// the reserve, at least 4, at most `connectionCeiling`.
  static func connectionCap(softLimit: UInt64) -> Int {
    let room =
      softLimit > UInt64(reservedDescriptors + connectionCeiling)
      ? connectionCeiling : Int(softLimit) - reservedDescriptors
    return max(4, room)
  }

  /// The defaults, with the cap from this process's RLIMIT_NOFILE.
  static func current() -> HTTPLimits {
    var limit = rlimit()
    var limits = HTTPLimits()
    if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
      limits.maxConnections = connectionCap(softLimit: UInt64(limit.rlim_cur))
    }
    return limits
  }
}

/// What the application answers to a request head.
enum HTTPRoute: Equatable {
  /// This response, at once.
  case respond(HTTPResponse)
  /// A scrape in this format, answered when the worker's next dump is done.
  case scrape(ExpositionFormat)

  static func == (a: Self, b: Self) -> Bool {
    switch (a, b) {
    case (.respond(let x), .respond(let y)):
      x.status == y.status && x.body == y.body && x.contentType == y.contentType
        && x.extraFields.elementsEqual(y.extraFields, by: { $0 == $1 })
    case (.scrape(let x), .scrape(let y)): x == y
    default: false
    }
  }
}

/// Wakes the server's poll loop from other threads (the scrape worker, the signal thread)
/// through a pipe it polls.
final class LoopWaker: Sendable {
  /// The end the loop polls.
  let readEnd: Int32
  private let writeEnd: Int32
  /// Set once SIGTERM or SIGINT arrived.
  let stopping = Atomic<Bool>(false)

  init() throws(ExportError) {
    let ends = try makePipe(nonBlockingRead: true)
    readEnd = ends.read
    writeEnd = ends.write
  }

  /// Makes the loop look at its queues.
  func wake() {
    var byte: UInt8 = 1
    // EAGAIN: the pipe is full of wake-ups already, which is as good.
    _ = write(writeEnd, &byte, 1)
  }

  /// Makes the loop return.
  func stop() {
    stopping.store(true, ordering: .releasing)
    wake()
  }
}

/// A pipe with both ends close-on-exec, the write end non-blocking, the read end too when asked.
func makePipe(nonBlockingRead: Bool) throws(ExportError) -> (read: Int32, write: Int32) {
  var fds: [Int32] = [-1, -1]
  guard pipe(&fds) == 0 else { throw .file(path: "pipe", errno: .init(rawValue: errno)) }
  for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
  _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
  if nonBlockingRead { _ = fcntl(fds[0], F_SETFL, O_NONBLOCK) }
  return (fds[0], fds[1])
}

/// Milliseconds on the monotonic clock.
func monotonicMilliseconds() -> Int64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// One client connection and where it is in its request/response cycle.
final class HTTPConnection {
  enum Phase {
    /// Reading a request head (idle between requests too).
    case reading
    /// Waiting for the scrape worker's answer.
    case scraping
    /// Writing a response.
    case writing
    /// Answered and shut down for writing; reading and discarding until the client closes.
    case lingering
  }

  let id: UInt64
  private(set) var fd: Int32
  var phase = Phase.reading
  /// Bytes read and not yet used: the head being read, or the start of a pipelined request.
  var input: [UInt8] = []
  var parser: HTTPHeadParser
  /// When it last became ready for a request: accepted, or its previous response written. The
  /// connections whose request is outstanding for the longest are closed first to make room.
  var readySince: Int64
  /// When the current phase times out; Int64.max while scraping.
  var deadline: Int64
  var output: [UInt8] = []
  var written = 0
  var closeAfterWrite = false
  /// With a scrape pending: whether it was HEAD, and whether to keep the connection after.
  var pendingHead = false
  var pendingKeepAlive = false
  /// Bytes thrown away while lingering.
  var discarded = 0

  init(id: UInt64, fd: Int32, now: Int64, limits: HTTPLimits) {
    self.id = id
    self.fd = fd
    parser = HTTPHeadParser(limit: limits.headBytes)
    readySince = now
    deadline = now + limits.headTimeout
  }

  /// Whether `close()` ran.
  var isClosed: Bool { fd < 0 }

  func close() {
    if fd >= 0 { _ = Glibc.close(fd) }
    fd = -1
  }
}

/// swstat's own HTTP/1.1 server: one thread polls the listener and every connection, which are
/// all non-blocking, and never waits on any one client; dumps run on the scrape worker's thread.
/// What a client may cost is bounded by `HTTPLimits`: head size, time to send a head, time to
/// read an answer, and the number of connections. At the cap, or when accept() fails for want
/// of descriptors (EMFILE, ENFILE), the connection whose request has been outstanding longest
/// (idle, or slow to send its head) is closed to make room, so a new scraper always gets in;
/// when none can be closed the listener rests `acceptBackoff` ms. The server never exits for
/// lack of descriptors.
final class HTTPServer {
  let listener: Int32
  let limits: HTTPLimits
  let route: (HTTPRequestHead) -> HTTPRoute
  let worker: ScrapeWorker
  let waker: LoopWaker

  private var connections: [UInt64: HTTPConnection] = [:]
  private var nextID: UInt64 = 1
  /// The listener is not polled before this time (after a failed accept).
  private var restUntil: Int64 = 0
  /// Connections with a whole response written and input left (a pipelined request).
  private var ready: [HTTPConnection] = []
  private var scratch = [UInt8](repeating: 0, count: 16384)
  private var dateCache: (second: time_t, text: String) = (0, "")

  init(
    listener: Int32, limits: HTTPLimits, waker: LoopWaker, worker: ScrapeWorker,
    route: @escaping (HTTPRequestHead) -> HTTPRoute
  ) {
    self.listener = listener
    self.limits = limits
    self.waker = waker
    self.worker = worker
    self.route = route
  }

  /// Serves until `waker.stop()`.
  func run() {
    var fds: [pollfd] = []
    var polled: [HTTPConnection] = []
    while !waker.stopping.load(ordering: .acquiring) {
      var now = monotonicMilliseconds()
      expire(now)
      fds.removeAll(keepingCapacity: true)
      polled.removeAll(keepingCapacity: true)
      fds.append(pollfd(fd: waker.readEnd, events: Int16(POLLIN), revents: 0))
      let listening = now >= restUntil
      if listening { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
      var wakeAt = listening ? Int64.max : restUntil
      for c in connections.values {
        let events: Int32 =
          switch c.phase {
          case .reading, .lingering: Int32(POLLIN)
          case .writing: Int32(POLLOUT)
          case .scraping: 0
          }
        fds.append(pollfd(fd: c.fd, events: Int16(events), revents: 0))
        polled.append(c)
        wakeAt = min(wakeAt, c.deadline)
      }
      let timeout = wakeAt == .max ? -1 : Int32(clamping: max(0, wakeAt - now))
      if poll(&fds, nfds_t(fds.count), timeout) < 0 {
        if errno == EINTR { continue }
        // Only EFAULT, EINVAL or ENOMEM: rest rather than spin.
        usleep(10_000)
        continue
      }
      now = monotonicMilliseconds()
      if fds[0].revents != 0 {
        drainWakeups()
        deliverAnswers(now)
      }
      if listening && fds[1].revents != 0 { acceptConnections(now) }
      let first = listening ? 2 : 1
      for (i, c) in polled.enumerated() where fds[first + i].revents != 0 && !c.isClosed {
        handle(c, revents: Int32(fds[first + i].revents), now: now)
      }
      while let c = ready.popLast() {
        if !c.isClosed && c.phase == .reading { process(c, now: now) }
      }
    }
  }

  // MARK: Accepting

  /// Accepts what is waiting, a batch at a time, making room as needed.
  private func acceptConnections(_ now: Int64) {
    var evictionsForDescriptors = 0
    for _ in 0..<64 {
      if connections.count >= limits.maxConnections && !evictOne() {
        restUntil = now + limits.acceptBackoff
        return
      }
      let fd = accept(listener, nil, nil)
      if fd < 0 {
        switch errno {
        case EAGAIN, EWOULDBLOCK: return
        case EINTR, ECONNABORTED, EPROTO, EPERM: continue
        case EMFILE, ENFILE, ENOBUFS, ENOMEM:
          // Out of descriptors (or memory) below our cap: something else holds them. Close the
          // oldest waiting connections, a few, then rest.
          evictionsForDescriptors += 1
          if evictionsForDescriptors > 8 || !evictOne() {
            restUntil = now + limits.acceptBackoff
            return
          }
          continue
        default:
          restUntil = now + limits.acceptBackoff
          return
        }
      }
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      var one: Int32 = 1
      // Answers are written whole; no Nagle delay behind a delayed ACK on keep-alive.
      setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      let c = HTTPConnection(id: nextID, fd: fd, now: now, limits: limits)
      nextID += 1
      connections[c.id] = c
    }
  }

  /// Closes the connection whose request has been outstanding longest: lingering ones first,
  /// then those reading a head (idle or slow), then slow readers of an answer. A connection
  /// waiting for a dump is never closed. Returns false when there is none.
  @discardableResult
  private func evictOne() -> Bool {
    func rank(_ c: HTTPConnection) -> Int? {
      switch c.phase {
      case .lingering: 0
      case .reading: 1
      case .writing: 2
      case .scraping: nil
      }
    }
    var victim: HTTPConnection?
    var victimKey = (Int.max, Int64.max)
    for c in connections.values {
      guard let r = rank(c) else { continue }
      if (r, c.readySince) < victimKey {
        victim = c
        victimKey = (r, c.readySince)
      }
    }
    guard let victim else { return false }
    close(victim)
    return true
  }

  private func close(_ c: HTTPConnection) {
    connections[c.id] = nil
    c.close()
  }

  // MARK: Reading, answering

  private func handle(_ c: HTTPConnection, revents: Int32, now: Int64) {
    switch c.phase {
    case .reading: readHead(c, now: now)
    case .writing: flush(c, now: now)
    case .lingering: discard(c)
    case .scraping:
      // Polled for nothing: only POLLERR or POLLHUP come back, and the client is gone.
      close(c)
    }
  }

  /// Reads what the client sent, at most up to the head limit, and parses it.
  private func readHead(_ c: HTTPConnection, now: Int64) {
    let room = max(1, limits.headBytes - c.input.count)
    let n = scratch.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, min($0.count, room)) }
    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
    guard n > 0 else {
      close(c)
      return
    }
    c.input.append(contentsOf: scratch[..<n])
    process(c, now: now)
  }

  /// Parses the input read so far; answers a whole head, or a malformed one.
  private func process(_ c: HTTPConnection, now: Int64) {
    let head: HTTPRequestHead
    do {
      guard case .head(let h, let end) = try c.parser.advance(c.input) else { return }
      head = h
      c.input.removeFirst(end)
      c.parser = HTTPHeadParser(limit: limits.headBytes)
    } catch {
      c.input = []
      let text: String =
        switch error {
        case .badRequest(let reason): "swstat: bad request: \(reason)"
        case .uriTooLong: "swstat: request line longer than \(limits.headBytes) bytes"
        case .headTooLarge: "swstat: request head longer than \(limits.headBytes) bytes"
        case .versionNotSupported: "swstat: only HTTP/1.0 and HTTP/1.1 are served"
        }
      startWriting(c, .text(error.status, text), head: false, close: true, now: now)
      return
    }
    let isHead = head.method == "HEAD"
    switch route(head) {
    case .respond(let response):
      startWriting(c, response, head: isHead, close: !head.keepAlive, now: now)
    case .scrape(let format):
      c.phase = .scraping
      c.deadline = .max
      c.pendingHead = isHead
      c.pendingKeepAlive = head.keepAlive
      worker.submit(.init(connection: c.id, format: format))
    }
  }

  private func startWriting(
    _ c: HTTPConnection, _ response: HTTPResponse, head: Bool, close: Bool, now: Int64
  ) {
    c.output = response.serialized(head: head, close: close, date: date())
    c.written = 0
    c.closeAfterWrite = close
    c.phase = .writing
    c.deadline = now + limits.writeTimeout
    flush(c, now: now)
  }

  /// Writes what the socket takes; at the end, lingers and closes, or waits for the next
  /// request.
  private func flush(_ c: HTTPConnection, now: Int64) {
    while c.written < c.output.count {
      let n = c.output.withUnsafeBytes {
        send(c.fd, $0.baseAddress.map { $0 + c.written }, $0.count - c.written, Int32(MSG_NOSIGNAL))
      }
      if n > 0 {
        c.written += n
        c.deadline = now + limits.writeTimeout
      } else if n < 0 && errno == EINTR {
        continue
      } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
        return
      } else {
        close(c)
        return
      }
    }
    c.output = []
    if c.closeAfterWrite {
      shutdown(c.fd, Int32(SHUT_WR))
      c.phase = .lingering
      c.deadline = now + limits.lingerTime
      discard(c)
    } else {
      c.phase = .reading
      c.readySince = now
      c.deadline = now + limits.headTimeout
      if !c.input.isEmpty { ready.append(c) }
    }
  }

  /// Reads and throws away what a lingering client sends; closes at its end of stream or past
  /// the linger limits.
  private func discard(_ c: HTTPConnection) {
    while true {
      let n = scratch.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
      if n > 0 {
        c.discarded += n
        if c.discarded > limits.lingerBytes { break }
        continue
      }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      break
    }
    close(c)
  }

  /// Closes or answers the connections whose phase has timed out.
  private func expire(_ now: Int64) {
    for c in connections.values where c.deadline <= now {
      switch c.phase {
      case .reading where !c.input.isEmpty:
        c.input = []
        startWriting(
          c, .text(408, "swstat: request head not received within \(limits.headTimeout / 1000) s"),
          head: false, close: true, now: now)
      case .reading, .writing, .lingering: close(c)
      case .scraping: break
      }
    }
  }

  // MARK: Scrapes

  private func drainWakeups() {
    while scratch.withUnsafeMutableBytes({ read(waker.readEnd, $0.baseAddress, $0.count) }) > 0 {}
  }

  /// Starts writing the answers the worker finished; a connection closed meanwhile is skipped.
  private func deliverAnswers(_ now: Int64) {
    for answer in worker.takeAnswers() {
      guard let c = connections[answer.connection], c.phase == .scraping else { continue }
      startWriting(
        c, answer.response, head: c.pendingHead, close: !c.pendingKeepAlive, now: now)
    }
  }

  /// The Date field, formatted once a second.
  private func date() -> String {
    let now = time(nil)
    if dateCache.second != now { dateCache = (now, HTTPResponse.date(now)) }
    return dateCache.text
  }
}
