import Glibc
import SwstatCore
import SwstatTestSupport
import Testing

/// netstat's State words, as the fixture writes them, by transport and kernel number.
func netstatState(_ r: SocketRecord) -> String {
  if r.transport == .udp {
    return r.stateCode == 1 ? "ESTABLISHED" : r.stateCode == 7 ? "" : "UNKNOWN"
  }
  let names = [
    "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
    "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
  ]
  return Int(r.stateCode) < names.count ? names[Int(r.stateCode)] : "?\(r.stateCode)"
}

/// The records of one fixture socket: same transport, family and ports.
func records(
  _ all: [SocketRecord], for e: SocketFixture.Expected
) -> [SocketRecord] {
  let transport: TransportProtocol = e.proto.hasPrefix("tcp") ? .tcp : .udp
  let family: AddressFamily = e.proto.hasSuffix("6") ? .inet6 : .inet
  return all.filter {
    $0.transport == transport && $0.family == family && Int($0.local.port) == e.localPort
      && Int($0.remote.port) == e.remotePort
  }
}

/// Real loopback sockets held in every TCP state loopback can hold, read by each source.
@Suite(.timeLimit(.minutes(2)))
struct LiveSocketTests {
  /// Each source sees each fixture socket exactly once, in its state.
  @Test(arguments: ["netlink", "proc"])
  func everySocketInItsState(source: String) throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let src: any SocketSource = source == "netlink" ? NetlinkSource() : ProcNetSource()
    let all = try src.snapshot(SocketQuery(scope: .all))
    let states = Set(fixture.sockets.map(\.state))
    #expect(
      states.isSuperset(of: [
        "LISTEN", "ESTABLISHED", "SYN_SENT", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE_WAIT",
        "LAST_ACK", "CLOSING", "",
      ]))
    for e in fixture.sockets {
      let found = records(all, for: e)
      #expect(found.count == 1, "\(source): \(e.proto) \(e.local) \(e.remote)")
      guard let r = found.first else { continue }
      #expect(netstatState(r) == e.state, "\(source): \(e.proto) \(e.local) \(e.remote)")
      #expect((r.inode != 0) == e.owned, "\(source): inode of \(e.local) \(e.remote) \(e.state)")
    }
  }

  /// The kernel state mask reaches the kernel: asking for LISTEN returns listeners only.
  @Test func stateMaskIsPushedDown() throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let listening = try NetlinkSource().snapshot(
      SocketQuery(transports: [.tcp], scope: .listening))
    #expect(!listening.isEmpty)
    #expect(listening.allSatisfy { $0.state == .listen })
    let connected = try NetlinkSource().snapshot(SocketQuery(transports: [.tcp], scope: .connected))
    #expect(connected.allSatisfy { $0.state != .listen })
    let mine = fixture.sockets.filter { $0.proto.hasPrefix("tcp") && $0.state == "LISTEN" }
    for e in mine { #expect(records(listening, for: e).count == 1, "\(e.local)") }
  }

  /// Netlink knows what /proc cannot: a listener's backlog, and each socket's cookie.
  @Test func netlinkExtras() throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let nl = try NetlinkSource().snapshot(SocketQuery(scope: .all))
    let proc = try ProcNetSource().snapshot(SocketQuery(scope: .all))
    for e in fixture.sockets where e.proto.hasPrefix("tcp") && e.state == "LISTEN" {
      let n = records(nl, for: e).first
      let p = records(proc, for: e).first
      #expect(n?.listenBacklog != nil, "\(e.local)")
      #expect(n?.sendQueue == 0 && p?.sendQueue == 0, "\(e.local)")
      #expect(p?.listenBacklog == nil)
    }
    let cookies = nl.map(\.cookie).filter { $0 != 0 }
    #expect(Set(cookies).count == cookies.count)
    // Half-closed sockets report the direction shut down.
    for e in fixture.sockets where e.state == "FIN_WAIT2" && e.owned {
      let r = records(nl, for: e).first
      #expect(r?.shutdown.map { $0 & 2 } == 2, "\(e.local) \(e.remote)")
    }
  }

  /// The same sockets come out of both sources with the same fields netstat prints.
  @Test func sourcesAgree() throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let nl = try NetlinkSource().snapshot(SocketQuery(scope: .all))
    let proc = try ProcNetSource().snapshot(SocketQuery(scope: .all))
    for e in fixture.sockets {
      guard let n = records(nl, for: e).first, let p = records(proc, for: e).first else {
        Issue.record("missing \(e.local) \(e.remote)")
        continue
      }
      #expect(n.local == p.local && n.remote == p.remote)
      #expect(n.stateCode == p.stateCode && n.uid == p.uid && n.inode == p.inode)
      #expect(
        n.receiveQueue == p.receiveQueue && n.sendQueue == p.sendQueue, "\(e.local) \(e.state)")
      #expect(n.timerCode == p.timerCode, "\(e.local) \(e.state)")
    }
  }

  /// One walk of /proc/*/fd finds the fixture as owner of its sockets; with a forked child
  /// holding the same fds, the lower pid wins, as in netstat.
  @Test func ownersByInode() throws {
    let fixture = try SocketFixture(fork: true)
    defer { fixture.stop() }
    let nl = try NetlinkSource().snapshot(SocketQuery(scope: .all))
    let owners = ProcessOwners.scan()
    for e in fixture.sockets {
      guard let r = records(nl, for: e).first else { continue }
      if e.owned {
        #expect(owners.owner(of: r.inode)?.pid == fixture.pid, "\(e.local) \(e.state)")
        let label = owners.label(of: r.inode).map { String(decoding: $0, as: UTF8.self) }
        #expect(label?.hasPrefix("\(fixture.pid)/") == true)
        #expect((label?.utf8.count ?? 0) <= 19)
      } else {
        #expect(owners.owner(of: r.inode) == nil)
      }
    }
    // Every fd of both processes is recorded.
    let mineOwned = fixture.sockets.filter(\.owned).count
    let pairs = owners.owners.filter { $0.owner.pid == fixture.pid }
    #expect(pairs.count >= mineOwned)
  }
}
