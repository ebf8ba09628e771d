import SwstatCore

/// The command line as given, in plain values: what both `Options` (ArgumentParser) and
/// `FastArguments` produce, before `PlanBuilder` turns it into a plan. Option values stay the
/// strings the user typed; each is parsed once, there.
struct Flags: Equatable {
  var tcp = false, udp = false, all = false, listening = false
  var numeric = false, numericHosts = false, numericPorts = false, numericUsers = false
  var programs = false, inet = false, inet6 = false, wide = false, extend = 0
  var json = false, noHeader = false, quiet = false, timers = false, verbose = false
  var count = false, continuous = false, watch = false, events = false
  var unix = false, raw = false, statistics = false, allNetns = false
  var countBy: String? = nil
  var expect: [String] = []
  var interval: String? = nil
  var state: String? = nil, sport: String? = nil, dport: String? = nil, port: String? = nil
  var src: String? = nil, dst: String? = nil
  var pid: String? = nil
  /// `--program` as the bytes typed (a name need not be UTF-8).
  var program: [UInt8]? = nil
  var source: SourceChoice = .auto
  var procRoot = "/proc"
  var netns: String? = nil
  var transitions: String? = nil
  var resets = false, retransmits = false
  /// ss's depth: `--info`, `--memory`, `--cgroup`, `-K`.
  var info = false, memory = false, cgroup = false, kill = false
  /// ss's filter language: the words after the flags (`state established '( dport = :ssh )'`).
  var expression: [String] = []
}

/// The argument vectors nearly every run uses — netstat-style flag groups (`-tanp`, `-tulpn`)
/// and the valueless long flags — decoded without swift-argument-parser. The parser's reflection
/// over its property wrappers costs about 1.2 ms and 3 MiB of resident memory per run, more than
/// listing 1k sockets. Anything else (a value, --help, an unknown or repeated spelling) returns
/// nil and goes to ArgumentParser, which stays the one definition of the flags, their help and
/// their errors; a test checks that both read every accepted vector the same way.
enum FastArguments {
  nonisolated(unsafe) static let longs: [String: WritableKeyPath<Flags, Bool>] = [
    "--tcp": \.tcp, "--udp": \.udp, "--all": \.all, "--listening": \.listening,
    "--numeric": \.numeric, "--numeric-hosts": \.numericHosts, "--numeric-ports": \.numericPorts,
    "--numeric-users": \.numericUsers, "--programs": \.programs, "--json": \.json,
    "--no-header": \.noHeader, "--quiet": \.quiet, "--timers": \.timers,
    "--continuous": \.continuous, "--watch": \.watch, "--events": \.events, "--inet": \.inet,
    "--inet6": \.inet6, "--wide": \.wide, "--count": \.count, "--verbose": \.verbose,
    "--unix": \.unix, "--raw": \.raw, "--statistics": \.statistics, "--all-netns": \.allNetns,
    "--info": \.info, "--memory": \.memory, "--cgroup": \.cgroup, "--kill": \.kill,
  ]
  nonisolated(unsafe) static let shorts: [UInt8: WritableKeyPath<Flags, Bool>] = [
    0x74: \.tcp, 0x75: \.udp, 0x61: \.all, 0x6c: \.listening, 0x6e: \.numeric, 0x70: \.programs,
    0x34: \.inet, 0x36: \.inet6, 0x57: \.wide, 0x76: \.verbose, 0x6a: \.json, 0x48: \.noHeader,
    0x71: \.quiet, 0x78: \.unix, 0x77: \.raw, 0x73: \.statistics, 0x6f: \.timers,
    0x63: \.continuous, 0x4b: \.kill,
  ]

  static func parse(_ arguments: ArraySlice<String>) -> Flags? {
    var f = Flags()
    for argument in arguments {
      let bytes = argument.utf8
      guard bytes.count >= 2, bytes.first == 0x2d else { return nil }  // "-"
      if argument.hasPrefix("--") {
        if argument == "--extend" {
          f.extend += 1
        } else if let key = longs[argument] {
          f[keyPath: key] = true
        } else {
          return nil
        }
        continue
      }
      for b in bytes.dropFirst() {
        if b == 0x65 {  // -e counts: -ee
          f.extend += 1
        } else if let key = shorts[b] {
          f[keyPath: key] = true
        } else {
          return nil
        }
      }
    }
    return f
  }
}
