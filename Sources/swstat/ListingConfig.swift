/// What a listing run was asked for, resolved from the command line: plain values, apart from
/// the parser's property wrappers (ripgrep keeps parsed flags and resolved settings apart the
/// same way), so both `ListingOptions` and `FastArguments` can produce it.
import SwstatCore
import SwstatRender

struct ListingConfig: Equatable {
  var tcp = false
  var udp = false
  var all = false
  var listening = false
  var numeric = false
  var numericHosts = false
  var numericPorts = false
  var numericUsers = false
  var programs = false
  var inet = false
  var inet6 = false
  var wide = false
  var extend = 0
  var count = false
  var source: SourceChoice = .auto
  var procRoot = "/proc"
  var verbose = false
  var json = false
  var noHeader = false
  var quiet = false
  var countBy: [CountKey]? = nil
  var expectations: [Expectation] = []
  var filter = SocketFilter()
  var timers = false
  var continuous = false
  var watch = false
  var events = false
  var interval: Double? = nil
  var ownerPid: Int32? = nil
  var ownerProgram: String? = nil
  // Issue 5 (ExtraTablesOptions): -x, -w, -s, --netns, --all-netns.
  var unix = false
  var raw = false
  var statistics = false
  var netns: String? = nil
  var allNetns = false
  /// Where /proc/net is read from when it is not `procRoot`'s: /proc/thread-self inside a
  /// namespace thread (the -p walk of /proc/[pid] keeps `procRoot`).
  var netRoot: String? = nil

  /// Whether sockets are chosen by their owners (--pid, --program), which needs -p's walk.
  var filtersByOwner: Bool { ownerPid != nil || ownerProgram != nil }
  /// Whether owners are looked up: -p, or an owner filter.
  var needsOwners: Bool { programs || filtersByOwner }
}

/// The argument vectors nearly every run uses — netstat-style flag groups (`-tanp`, `-tulpn`)
/// and the valueless long flags — decoded without swift-argument-parser. The parser's reflection
/// over its property wrappers costs about 1.2 ms and 3 MiB of resident memory per run, more than
/// listing 1k sockets. Anything else (a value, --help, an unknown or repeated spelling) returns
/// nil and goes to ArgumentParser, which stays the one definition of the flags, their help and
/// their errors; a test checks that both read every accepted vector the same way.
enum FastArguments {
  static func parse(_ arguments: ArraySlice<String>) -> ListingConfig? {
    var c = ListingConfig()
    for argument in arguments {
      let bytes = argument.utf8
      guard bytes.count >= 2, bytes.first == 0x2d else { return nil }  // "-"
      if argument.hasPrefix("--") {
        switch argument {
        case "--tcp": c.tcp = true
        case "--udp": c.udp = true
        case "--all": c.all = true
        case "--listening": c.listening = true
        case "--numeric": c.numeric = true
        case "--numeric-hosts": c.numericHosts = true
        case "--numeric-ports": c.numericPorts = true
        case "--numeric-users": c.numericUsers = true
        case "--programs": c.programs = true
        case "--json": c.json = true
        case "--no-header": c.noHeader = true
        case "--quiet": c.quiet = true
        case "--timers": c.timers = true
        case "--continuous": c.continuous = true
        case "--watch": c.watch = true
        case "--events": c.events = true
        case "--inet": c.inet = true
        case "--inet6": c.inet6 = true
        case "--wide": c.wide = true
        case "--extend": c.extend += 1
        case "--count": c.count = true
        case "--verbose": c.verbose = true
        case "--unix": c.unix = true
        case "--raw": c.raw = true
        case "--statistics": c.statistics = true
        case "--all-netns": c.allNetns = true
        default: return nil
        }
        continue
      }
      for b in bytes.dropFirst() {
        switch b {
        case UInt8(ascii: "t"): c.tcp = true
        case UInt8(ascii: "u"): c.udp = true
        case UInt8(ascii: "a"): c.all = true
        case UInt8(ascii: "l"): c.listening = true
        case UInt8(ascii: "n"): c.numeric = true
        case UInt8(ascii: "p"): c.programs = true
        case UInt8(ascii: "4"): c.inet = true
        case UInt8(ascii: "6"): c.inet6 = true
        case UInt8(ascii: "W"): c.wide = true
        case UInt8(ascii: "e"): c.extend += 1
        case UInt8(ascii: "v"): c.verbose = true
        case UInt8(ascii: "j"): c.json = true
        case UInt8(ascii: "H"): c.noHeader = true
        case UInt8(ascii: "q"): c.quiet = true
        case UInt8(ascii: "x"): c.unix = true
        case UInt8(ascii: "w"): c.raw = true
        case UInt8(ascii: "s"): c.statistics = true
        case UInt8(ascii: "o"): c.timers = true
        case UInt8(ascii: "c"): c.continuous = true
        default: return nil
        }
      }
    }
    // Combinations ArgumentParser's validate() refuses go there for the message.
    if [c.continuous, c.watch, c.events].filter({ $0 }).count > 1 { return nil }
    return c
  }
}
