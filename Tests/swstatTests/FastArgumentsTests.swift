import SwstatModes
import Testing

@testable import swstat

/// The fast path and ArgumentParser read every vector the fast path accepts the same way, and
/// the fast path refuses whatever ArgumentParser refuses.
@Suite struct FastArgumentsTests {
  static let letters = Array("tualnp46WevjHqocxwsK")
  static let longs = [
    "--tcp", "--udp", "--all", "--listening", "--numeric", "--numeric-hosts", "--numeric-ports",
    "--numeric-users", "--programs", "--inet", "--inet6", "--wide", "--extend",
    "--count", "--verbose", "--json", "--no-header", "--quiet", "--timers", "--continuous",
    "--watch", "--events", "--unix", "--raw", "--statistics", "--all-netns", "--info", "--memory",
    "--cgroup", "--kill",
  ]

  func check(_ v: [String]) {
    let fast = FastArguments.parse(v[...])
    let slow = try? Swstat.parse(v)
    if let fast {
      #expect(slow?.options.flags == fast, "\(v)")
    }
  }

  /// Every group of up to three letters, and every 1021st subset of all of them; some also as
  /// separate flags and reversed (an ArgumentParser parse costs milliseconds in a debug build).
  @Test func shortGroups() {
    for mask in 1..<(1 << Self.letters.count) where mask.nonzeroBitCount <= 3 || mask % 1021 == 0 {
      let chosen = Self.letters.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
      check(["-" + String(chosen)])
      if mask % 29 == 0 {
        check(chosen.map { "-\($0)" })
        check(["-" + String(chosen.reversed())])
      }
    }
  }

  /// The vectors nearly every run uses take the fast path (the check above only compares when
  /// the fast path answers, so it must answer these).
  @Test func commonVectorsAreFast() {
    for v in [
      ["-tan"], ["-tanp"], ["-tulpn"], ["-an"], ["-x"], ["-s"], [], ["-tan", "--json"],
      ["-t", "--count"], ["-tanpe"], ["--tcp", "--all", "--numeric"], ["-ee"],
    ] {
      #expect(FastArguments.parse(v[...]) != nil, "\(v)")
      check(v)
    }
  }

  /// Long flags alone, in pairs, and mixed with groups; repeats and unknowns.
  @Test func longFlags() {
    for a in Self.longs {
      check([a])
      check(["-tan", a])
      for b in Self.longs { check([a, b]) }
    }
    for v in [
      ["-tt"], ["-ee"], ["--extend", "-e"], ["-x"], ["--bogus"], ["-"], ["--"], ["tan"],
      ["--source", "proc"], ["-tan", "--source=proc"], ["--help"], ["-h"], ["--version"], [],
    ] {
      check(v)
    }
    #expect(FastArguments.parse(["--source", "proc"]) == nil)
    #expect(FastArguments.parse(["-h"]) == nil)
    #expect(FastArguments.parse(["--help"]) == nil)
  }
}
