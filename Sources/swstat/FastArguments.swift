import SwstatModes

/// The argument vectors nearly every run uses — netstat-style flag groups (`-tanp`, `-tulpn`)
/// and the valueless long flags — decoded without swift-argument-parser. The parser's reflection
/// over its property wrappers costs about 1.2 ms and 3 MiB of resident memory per run, more than
/// listing 1k sockets. Anything else (a value, --help, an unknown or repeated spelling) returns
/// nil and goes to ArgumentParser, which stays the one definition of the flags, their help and
/// their errors; a test checks that both read every accepted vector the same way.
enum FastArguments {
  // Plain switches rather than dictionaries of key paths: a dictionary's metadata is made at run
  // time by name, which checks its key type's Hashable conformance by scanning every conformance
  // record in the binary — touching pages of the whole static runtime (2 MiB of resident memory,
  // more than a listing of 100k sockets holds).

  /// Sets the flag a valueless long spelling names; false for anything else.
  static func setLong(_ argument: String, _ f: inout Flags) -> Bool {
    switch argument {
    case "--tcp": f.tcp = true
    case "--udp": f.udp = true
    case "--all": f.all = true
    case "--listening": f.listening = true
    case "--numeric": f.numeric = true
    case "--numeric-hosts": f.numericHosts = true
    case "--numeric-ports": f.numericPorts = true
    case "--numeric-users": f.numericUsers = true
    case "--programs": f.programs = true
    case "--json": f.json = true
    case "--no-header": f.noHeader = true
    case "--quiet": f.quiet = true
    case "--timers": f.timers = true
    case "--continuous": f.continuous = true
    case "--watch": f.watch = true
    case "--events": f.events = true
    case "--inet": f.inet = true
    case "--inet6": f.inet6 = true
    case "--wide": f.wide = true
    case "--count": f.count = true
    case "--verbose": f.verbose = true
    case "--unix": f.unix = true
    case "--raw": f.raw = true
    case "--statistics": f.statistics = true
    case "--all-netns": f.allNetns = true
    case "--info": f.info = true
    case "--memory": f.memory = true
    case "--cgroup": f.cgroup = true
    case "--kill": f.kill = true
    case "--extend": f.extend += 1
    default: return false
    }
    return true
  }

  /// Sets the flag a letter of a short group names (`-e` counts: `-ee`); false for any other.
  static func setShort(_ letter: UInt8, _ f: inout Flags) -> Bool {
    switch letter {
    case 0x74: f.tcp = true  // t
    case 0x75: f.udp = true  // u
    case 0x61: f.all = true  // a
    case 0x6c: f.listening = true  // l
    case 0x6e: f.numeric = true  // n
    case 0x70: f.programs = true  // p
    case 0x34: f.inet = true  // 4
    case 0x36: f.inet6 = true  // 6
    case 0x57: f.wide = true  // W
    case 0x76: f.verbose = true  // v
    case 0x6a: f.json = true  // j
    case 0x48: f.noHeader = true  // H
    case 0x71: f.quiet = true  // q
    case 0x78: f.unix = true  // x
    case 0x77: f.raw = true  // w
    case 0x73: f.statistics = true  // s
    case 0x6f: f.timers = true  // o
    case 0x63: f.continuous = true  // c
    case 0x4b: f.kill = true  // K
    case 0x65: f.extend += 1  // e
    default: return false
    }
    return true
  }

  static func parse(_ arguments: ArraySlice<String>) -> Flags? {
    var f = Flags()
    for argument in arguments {
      let bytes = argument.utf8
      guard bytes.count >= 2, bytes.first == 0x2d else { return nil }  // "-"
      if argument.hasPrefix("--") {
        guard setLong(argument, &f) else { return nil }
        continue
      }
      for b in bytes.dropFirst() where !setShort(b, &f) { return nil }
    }
    return f
  }
}
