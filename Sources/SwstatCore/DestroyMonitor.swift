import CSwstat
import Glibc
import SystemPackage

/// The sock_diag destroy notifications (the SKNLGRP_INET{,6}_{TCP,UDP}_DESTROY multicast
/// groups, what `ss -E` reads): the kernel tells of every socket it destroys, so a connection
/// that opens and closes between two dumps is still seen. A full socket moving to TIME_WAIT is
/// destroyed too (its cookie lives on in the TIME_WAIT socket), so a notification only says
/// "gone unless the next dump still has it".
public final class DestroyMonitor {
  /// The multicast socket, for poll(2).
  public let fd: Int32

  /// Subscribes to the groups for TCP and/or UDP, with a receive buffer of `receiveBuffer`
  /// bytes (raised past rmem_max when root).
  public init(tcp: Bool, udp: Bool, receiveBuffer: Int32 = 8 << 20) throws {
    let rc = swstat_diag_destroy_open(tcp ? 1 : 0, udp ? 1 : 0, receiveBuffer)
    guard rc >= 0 else {
      throw SocketSourceError.unavailable(
        source: "netlink destroy events", errno: Errno(rawValue: -rc))
    }
    fd = rc
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
    let (rc, sink) = withSink(all, admit) { fn, ctx in swstat_diag_destroy_read(fd, fn, ctx) }
    if let error = sink.error { throw error }
    if rc == -ENOBUFS { return false }
    if rc < 0 {
      throw SocketSourceError.failed(source: "netlink destroy events", errno: Errno(rawValue: -rc))
    }
    return true
  }
}
