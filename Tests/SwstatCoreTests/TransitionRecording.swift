import Foundation
import Glibc
@_spi(Testing) import SwstatCore
import SwstatTestSupport
import SystemPackage
import Testing

/// Where the recorded tracepoint formats and samples live.
let traceFixtures = fixturesDirectory.appendingPathComponent("trace")

/// The tracepoints recorded, with their kinds and fixture names.
let recordedTracepoints: [(name: String, kind: Transition.Kind, file: String)] = [
  ("sock:inet_sock_set_state", .stateChange, "inet_sock_set_state.format"),
  ("tcp:tcp_send_reset", .resetSent, "tcp_send_reset.format"),
  ("tcp:tcp_receive_reset", .resetReceived, "tcp_receive_reset.format"),
  ("tcp:tcp_retransmit_skb", .retransmit, "tcp_retransmit_skb.format"),
]

/// What the recorded session did, for the replay tests to check the decoded records against:
/// the facts of the scenario, not what a decoder once printed.
struct RecordedSession: Codable {
  /// The server's port (every connection's remote or local port).
  var port: UInt16
  var v4: String
  var v6: String
  /// Client ports: an IPv4 connection the client closes first, an IPv6 one the server closes
  /// first, an IPv4 one the client resets (SO_LINGER 0), and an IPv4 client whose SYN the
  /// full accept queue dropped, so it was retransmitted (the first client held the queue).
  var clientFirst: UInt16
  var serverFirst: UInt16
  var reset: UInt16
  var queueHolder: UInt16
  var retransmitted: UInt16
  /// The kernel release it was recorded on.
  var kernel: String
}

/// Re-records the tracepoint fixtures from this machine's kernel: RECORD_FIXTURES=1 swift test
/// --filter TransitionRecording. Writes each tracepoint's tracefs format, the raw perf ring
/// records of a scripted session (`samples.bin`, as `TransitionSource.replay` reads it) and
/// the session's facts (`session.json`).
@Suite struct TransitionRecording {
  @Test(.enabled(if: ProcessInfo.processInfo.environment["RECORD_FIXTURES"] != nil))
  func record() throws {
    try FileManager.default.createDirectory(at: traceFixtures, withIntermediateDirectories: true)
    let tracefs = try Tracefs()
    for (name, _, file) in recordedTracepoints {
      let format = try tracefs.read(
        "events/" + name.replacingOccurrences(of: ":", with: "/") + "/format")
      try Data(format).write(to: traceFixtures.appendingPathComponent(file))
    }
    var uts = utsname()
    uname(&uts)
    let release = withUnsafeBytes(of: uts.release) {
      String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
    }

    let net = try TransitionSourceTests.Net()
    defer { net.ns.delete() }
    let source = try TransitionSource(
      .init(resets: true, retransmits: true, eitherPort: net.port...net.port))
    let path = traceFixtures.appendingPathComponent("samples.bin").path
    let fd = try FileDescriptor.open(
      FilePath(path), .writeOnly, options: [.create, .truncate],
      permissions: [.ownerReadWrite, .groupRead, .otherRead])
    defer { try? fd.close() }
    source.record(to: fd)

    let session = try net.ns.perform { () throws -> RecordedSession in
      let v4 = net.server(.inet)
      let v6 = net.server(.inet6)
      var listener = try TestSocket.listener(v4)
      let v6Listener = try TestSocket.listener(v6)
      let clientFirst = try Lifecycle.clientClosesFirst.run(
        listener: listener, at: v4, from: net.v4)
      let serverFirst = try Lifecycle.serverClosesFirst.run(
        listener: v6Listener, at: v6, from: net.v6)
      let reset = try Lifecycle.reset.run(listener: listener, at: v4, from: net.v4)
      listener.close()
      v6Listener.close()
      // A listener with backlog 0 holds one connection not yet accepted; the next SYN is
      // dropped and the client retransmits it after its first timeout (1 s).
      listener = try TestSocket.listener(v4, backlog: 0)
      defer { listener.close() }
      let holder = try TestSocket.connect(from: net.v4, to: v4)
      defer { holder.close() }
      let late = try TestSocket.make(.inet)
      defer { late.close() }
      _ = TestSocket.withSockaddr(Endpoint(address: net.v4, port: 0)) { bind(late.fd, $0, $1) }
      _ = fcntl(late.fd, F_SETFL, fcntl(late.fd, F_GETFL) | O_NONBLOCK)
      _ = TestSocket.withSockaddr(v4) { connect(late.fd, $0, $1) }
      usleep(1_300_000)
      return RecordedSession(
        port: net.port, v4: addressText(net.v4), v6: addressText(net.v6),
        clientFirst: clientFirst.port, serverFirst: serverFirst.port, reset: reset.port,
        queueHolder: holder.local.port, retransmitted: late.local.port, kernel: release)
    }
    usleep(20_000)
    try source.drain(flush: true) { _ in }
    source.record(to: nil)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(session).write(to: traceFixtures.appendingPathComponent("session.json"))
  }
}
