/// How many sockets of each kind one load holds: at N sockets 1 % LISTEN, 70 % ESTABLISHED
/// (pairs), 10 % CLOSE_WAIT + FIN_WAIT2 (pairs), 19 % TIME_WAIT, each count split between
/// 127.0.0.x and ::1 (IPv4 gets the odd one).
struct SocketMix: Codable, Equatable {
  var listen = 0
  /// Connected pairs; each is two ESTABLISHED sockets.
  var establishedPairs = 0
  /// Pairs whose client called shutdown(SHUT_WR): one CLOSE_WAIT and one FIN_WAIT2 socket.
  var closeWaitPairs = 0
  /// Connections closed client first: one TIME_WAIT socket each, with no fd.
  var timeWait = 0
  /// Sockets bound to a loopback port but neither listening nor connected: BOUND_INACTIVE
  /// (kernel 6.8+), which swstat never asks for. Only `--check` makes them, to catch a floor
  /// that asks for every state; they are not part of `sockets`.
  var boundInactive = 0

  /// The mix for `total` sockets; TIME_WAIT takes the rounding remainder.
  static func forTotal(_ total: Int) -> SocketMix {
    var mix = SocketMix()
    mix.listen = total / 100
    mix.establishedPairs = total * 70 / 200
    mix.closeWaitPairs = total * 10 / 200
    mix.timeWait = total - mix.listen - 2 * mix.establishedPairs - 2 * mix.closeWaitPairs
    return mix
  }

  /// Sockets in the mix (the worker's own accept listeners come on top).
  var sockets: Int { listen + 2 * establishedPairs + 2 * closeWaitPairs + timeWait }

  /// File descriptors the mix keeps open (TIME_WAIT sockets have none).
  var heldDescriptors: Int { listen + 2 * (establishedPairs + closeWaitPairs) + boundInactive }

  /// Worker processes needed: one may hold at most 20,000 fds (the hard RLIMIT_NOFILE here,
  /// which cannot be raised), so each gets at most `perWorker`, leaving room for the batches
  /// in flight and the accept listeners.
  func workerCount(perWorker: Int = 15000) -> Int {
    max(1, (heldDescriptors + perWorker - 1) / perWorker)
  }

  /// Worker `index`'s part of the mix when it is split over `count` workers.
  func share(_ index: Int, of count: Int) -> SocketMix {
    func part(_ n: Int) -> Int { n / count + (index < n % count ? 1 : 0) }
    return SocketMix(
      listen: part(listen), establishedPairs: part(establishedPairs),
      closeWaitPairs: part(closeWaitPairs), timeWait: part(timeWait),
      boundInactive: part(boundInactive))
  }

  /// This count's share for one address family: IPv4 gets the odd one.
  static func familyShare(_ n: Int, ipv6: Bool) -> Int { ipv6 ? n / 2 : n - n / 2 }

  /// The `hold` subcommand's flags for this mix.
  var holdArguments: [String] {
    [
      "--listen", String(listen), "--established", String(establishedPairs),
      "--close-wait", String(closeWaitPairs), "--time-wait", String(timeWait),
      "--bound", String(boundInactive), "--ipv6-half",
    ]
  }
}
