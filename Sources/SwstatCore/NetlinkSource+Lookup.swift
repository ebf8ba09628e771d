import SystemPackage

extension NetlinkSource {
  /// The one socket with this 4-tuple, asked of sock_diag without NLM_F_DUMP (the kernel looks
  /// it up in its hash tables instead of walking them); nil when there is none. A timewait
  /// socket comes back in `.timeWait` with its timer: how a `FIN_WAIT2 → CLOSE` transition is
  /// told apart from a real close. A listener on the local port is not taken for the socket
  /// (the kernel's lookup falls back to one). A non-zero `cookie` must match too. Runs in the
  /// calling thread's network namespace.
  public static func lookup(
    _ transport: TransportProtocol = .tcp, family: AddressFamily, local: Endpoint,
    remote: Endpoint, cookie: UInt64 = 0
  ) throws(SocketSourceError) -> SocketRecord? {
    let (rc, record) = TraceShim.lookup(
      transport, family: family, local: local, remote: remote, cookie: cookie)
    if rc == 0 { return record }
    let errno = Errno(rawValue: -rc)
    if errno == .noSuchFileOrDirectory { return nil }
    throw .unavailable(source: "netlink", errno: errno)
  }

  /// The socket a transition happened to, as sock_diag knows it now (TIME_WAIT after a
  /// `FIN_WAIT2 → CLOSE`); nil when it is gone.
  public static func lookup(_ transition: Transition) throws(SocketSourceError) -> SocketRecord? {
    try lookup(
      .tcp, family: transition.family, local: transition.local, remote: transition.remote)
  }
}
