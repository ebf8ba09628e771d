import CSwstat
import Glibc
import SystemPackage

/// Why SOCK_DESTROY did not close a socket.
public enum SocketKillError: Error, Equatable, CustomStringConvertible {
  /// EOPNOTSUPP: the kernel was built without CONFIG_INET_DIAG_DESTROY (or the protocol has no
  /// destroy).
  case notSupported
  /// EPERM: closing another's socket needs CAP_NET_ADMIN.
  case permissionDenied
  /// ENOENT: no such socket any more (closed meanwhile, or its cookie now names another).
  case gone
  /// Anything else the kernel or the netlink socket said.
  case failed(Errno)

  /// The error for a negative errno from the shim.
  init(errno: Int32) {
    switch errno {
    case EOPNOTSUPP: self = .notSupported
    case EPERM: self = .permissionDenied
    case ENOENT: self = .gone
    default: self = .failed(Errno(rawValue: errno))
    }
  }

  /// One line, for `swstat: ` to lead.
  public var description: String {
    switch self {
    case .notSupported:
      "cannot close sockets: the kernel was built without CONFIG_INET_DIAG_DESTROY "
        + "(SOCK_DESTROY: Operation not supported)"
    case .permissionDenied:
      "cannot close sockets: closing a socket needs CAP_NET_ADMIN (SOCK_DESTROY: Operation not "
        + "permitted)"
    case .gone: "socket already closed (SOCK_DESTROY: No such file or directory)"
    case .failed(let errno): "SOCK_DESTROY: \(errno) (errno \(errno.rawValue))"
    }
  }
}

/// Closes sockets as `ss -K` does: one SOCK_DESTROY request per socket over a NETLINK_SOCK_DIAG
/// socket of its own, naming the socket by its whole inet_diag_sockid (ends, interface and
/// cookie, so a socket that closed and whose ends were reused is not taken for it) and waiting
/// for the kernel's acknowledgement. The peer of a closed TCP connection gets a reset
/// (ECONNRESET); the local owner's next call fails with ECONNABORTED.
///
/// Kills may be made from inside a dump's body (the dump reads on another socket).
public final class SocketKiller {
  private let fd: Int32

  /// Opens the request socket. Throws `.unavailable` when netlink cannot be opened.
  public init() throws {
    let rc = swstat_diag_kill_open()
    guard rc >= 0 else {
      throw SocketSourceError.unavailable(source: "netlink", errno: Errno(rawValue: -rc))
    }
    fd = rc
  }

  deinit { close(fd) }

  /// Closes the socket `record` names (as a dump delivered it: a cookie from /proc is 0, and the
  /// request then names it by its ends alone).
  public func kill(_ record: borrowing SocketRecord) throws(SocketKillError) {
    var s = swstat_sock()
    s.family = Kernel.family(record.family)
    s.protocol = Kernel.proto(record.transport)
    s.local_port = record.local.port
    s.remote_port = record.remote.port
    Self.fill(&s.local_addr, record.local.address)
    Self.fill(&s.remote_addr, record.remote.address)
    s.ifindex = record.interfaceIndex
    s.cookie = record.cookie
    let rc = swstat_diag_kill(fd, &s)
    if rc < 0 { throw SocketKillError(errno: -rc) }
  }

  private static func fill(
    _ out:
      inout (
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
      ), _ address: IPAddress
  ) {
    withUnsafeMutableBytes(of: &out) { raw in
      for (i, b) in address.bytes.enumerated() { raw[i] = b }
    }
  }
}
