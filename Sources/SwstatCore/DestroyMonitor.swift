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
  /// What notifications are decoded for: `.info` puts each TCP socket's final tcp_info in its
  /// record's `extras` (the other kinds never come with a notification).
  public let extras: SocketExtras.Kinds

  /// Subscribes to the groups for TCP and/or UDP, with a receive buffer of `receiveBuffer`
  /// bytes (raised past rmem_max when root); with `extras: .info` the records carry the final
  /// tcp_info.
  public init(
    tcp: Bool, udp: Bool, receiveBuffer: Int32 = 8 << 20, extras: SocketExtras.Kinds = []
  ) throws {
    let rc = swstat_diag_destroy_open(tcp ? 1 : 0, udp ? 1 : 0, receiveBuffer)
    guard rc >= 0 else {
      throw SocketSourceError.unavailable(
        source: "netlink destroy events", errno: Errno(rawValue: -rc))
    }
    fd = rc
    self.extras = extras.intersection(.info)
  }

  deinit { close(fd) }

  /// Reads the waiting notifications that match `query` — a bounded batch (64 datagrams), so
  /// that a flood cannot starve the caller's ticks: poll again for the rest. Returns false when
  /// the kernel dropped some (ENOBUFS): the caller should re-dump, since it cannot know which.
  public func drain(_ query: SocketQuery, _ body: (borrowing SocketRecord) throws -> Void) throws
    -> Bool
  {
    let (rc, sink) = withSink(query, body) { fn, ctx in
      swstat_diag_destroy_read(fd, extras.rawValue, fn, ctx)
    }
    if let error = sink.error { throw error }
    if rc == -ENOBUFS { return false }
    if rc < 0 {
      throw SocketSourceError.failed(source: "netlink destroy events", errno: Errno(rawValue: -rc))
    }
    return true
  }

  /// Decodes a buffer of destroy notifications as `drain` reads them (tests: recorded ones).
  public static func decode(
    _ bytes: [UInt8], extras: SocketExtras.Kinds = [],
    _ body: (borrowing SocketRecord) throws -> Void
  ) throws {
    let (_, sink) = bytes.withUnsafeBytes { buf in
      withSink(.acceptAll, body) { fn, ctx in
        guard let base = buf.baseAddress else { return 0 }
        return swstat_diag_destroy_parse(base, buf.count, extras.rawValue, fn, ctx)
      }
    }
    if let error = sink.error { throw error }
  }
}
