import CSwstat
import Glibc
import SystemPackage

/// The sock_diag destroy notifications (the SKNLGRP_INET{,6}_{TCP,UDP}_DESTROY multicast
/// groups, what `ss -E` reads): the kernel tells of every socket it destroys, so a connection
/// that opens and closes between two dumps is still seen. A full socket moving to TIME_WAIT is
/// destroyed too (its cookie lives on in the TIME_WAIT socket), so a notification only says
/// "gone unless the next dump still has it".
///
/// What a notification carries (the kernel's inet_diag_handler_get_info, sent from a work queue
/// when the socket is freed, in the namespace of the listener only): the socket's ends, its
/// cookie, its last state, INET_DIAG_PROTOCOL, and — for TCP, always, without any request —
/// INET_DIAG_INFO, the socket's final tcp_info: what the connection carried (bytes sent,
/// acknowledged and received, segments, retransmissions). No uid, inode, memory or cgroup.
/// TIME_WAIT sockets are never announced (only the full socket they replace is).
public final class DestroyMonitor {
  /// The multicast socket, for poll(2).
  public let fd: Int32
  /// Where each TCP socket's final tcp_info goes when the store asks for `.info` (the other
  /// kinds never come with a notification): `extras?.take(for: record)` in `drain`'s body.
  public let extras: SocketExtrasStore?

  /// Subscribes to the groups for TCP and/or UDP, with a receive buffer of `receiveBuffer`
  /// bytes (raised past rmem_max when root); with a store asking for `.info` the final
  /// tcp_info of each socket goes there.
  public init(
    tcp: Bool, udp: Bool, receiveBuffer: Int32 = 8 << 20, extras: SocketExtrasStore? = nil
  ) throws {
    let rc = swstat_diag_destroy_open(tcp ? 1 : 0, udp ? 1 : 0, receiveBuffer)
    guard rc >= 0 else {
      throw SocketSourceError.unavailable(
        source: "netlink destroy events", errno: Errno(rawValue: -rc))
    }
    fd = rc
    self.extras = extras
  }

  deinit { close(fd) }

  /// Reads the waiting notifications that match `query` — a bounded batch (64 datagrams), so
  /// that a flood cannot starve the caller's ticks: poll again for the rest. Returns false when
  /// the kernel dropped some (ENOBUFS): the caller should re-dump, since it cannot know which.
  public func drain(_ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void) throws
    -> Bool
  {
    // The groups carry both families and both protocols; a query's tables are dumped one by
    // one, so `matches` never checks them — here they are checked. netstat's server test is
    // remote port 0, but an aborted connection is disconnected (its remote port zeroed) before
    // it is destroyed: a notification is a server's only when its remote address is none too.
    var all = query
    all.scope = .all
    all.extras = extras
    let admit: (borrowing SocketRecord) throws -> Void = { r in
      guard query.families.contains(r.family), query.transports.contains(r.transport) else {
        return
      }
      let server = r.isListening && (r.transport == .udp || r.remote.address.isUnspecified)
      switch query.scope {
      case .all: break
      case .listening: if !server { return }
      case .connected: if server { return }
      }
      try body(r)
    }
    let kinds = (extras?.kinds ?? []).intersection(.info)
    let (rc, sink) = withSink(all, admit) { fn, ctx in
      swstat_diag_destroy_read(fd, kinds.rawValue, fn, ctx)
    }
    if let error = sink.error { throw error }
    if rc == -ENOBUFS { return false }
    if rc < 0 {
      throw SocketSourceError.failed(source: "netlink destroy events", errno: Errno(rawValue: -rc))
    }
    return true
  }

  /// Decodes a buffer of destroy notifications as `drain` reads them (tests: recorded ones),
  /// their tcp_info into `extras` when it asks for `.info`.
  public static func decode(
    _ bytes: [UInt8], extras: SocketExtrasStore? = nil,
    _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    var query = SocketQuery.acceptAll
    query.extras = extras
    let kinds = (extras?.kinds ?? []).intersection(.info)
    let (_, sink) = bytes.withUnsafeBytes { buf in
      withSink(query, body) { fn, ctx in
        guard let base = buf.baseAddress else { return 0 }
        return swstat_diag_destroy_parse(base, buf.count, kinds.rawValue, fn, ctx)
      }
    }
    if let error = sink.error { throw error }
  }
}
