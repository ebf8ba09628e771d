import SwstatCore

/// The command line as given, in plain values: what both swstat's `Options` (ArgumentParser)
/// and its `FastArguments` produce, before `PlanBuilder` turns it into a plan. Option values
/// stay the strings the user typed; each is parsed once, there.
public struct Flags: Equatable, Sendable {
  public init() {}

  public var tcp = false, udp = false, all = false, listening = false
  public var numeric = false, numericHosts = false, numericPorts = false, numericUsers = false
  public var programs = false, inet = false, inet6 = false, wide = false, extend = 0
  public var json = false, noHeader = false, quiet = false, timers = false, verbose = false
  public var count = false, continuous = false, watch = false, events = false
  public var unix = false, raw = false, statistics = false, allNetns = false
  public var countBy: String? = nil
  public var expect: [String] = []
  public var interval: String? = nil
  public var state: String? = nil, sport: String? = nil, dport: String? = nil, port: String? = nil
  public var src: String? = nil, dst: String? = nil
  public var pid: String? = nil
  /// `--program` as the bytes typed (a name need not be UTF-8).
  public var program: [UInt8]? = nil
  public var source: SourceChoice = .auto
  public var procRoot = "/proc"
  public var netns: String? = nil
  public var transitions: String? = nil
  public var resets = false, retransmits = false
  /// ss's depth: `--info`, `--memory`, `--cgroup`, `-K`.
  public var info = false, memory = false, cgroup = false, kill = false
  /// ss's filter language: the words after the flags (`state established '( dport = :ssh )'`).
  public var expression: [String] = []
}
