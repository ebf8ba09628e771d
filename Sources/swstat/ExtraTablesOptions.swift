import ArgumentParser

/// The rest of netstat's tables (issue 5): UNIX and raw sockets, protocol statistics, and other
/// network namespaces.
struct ExtraTablesOptions: ParsableArguments {
  @Flag(name: [.customShort("x"), .customLong("unix")], help: "List UNIX domain sockets.")
  var unix = false

  @Flag(name: [.customShort("w"), .customLong("raw")], help: "List raw sockets.")
  var raw = false

  @Flag(
    name: [.customShort("s"), .customLong("statistics")],
    help: "Print protocol statistics (/proc/net/snmp, snmp6, netstat) as netstat -s does.")
  var statistics = false

  @Option(
    name: [.customShort("N"), .customLong("netns")],
    help: ArgumentHelp(
      "List the sockets of another network namespace: an ip netns name or a path such as /proc/PID/ns/net (needs root).",
      valueName: "name|path"))
  var netns: String?

  @Flag(
    name: .customLong("all-netns"),
    help: "List the sockets of every network namespace, each row labelled (needs root).")
  var allNetns = false

  mutating func validate() throws {
    if netns != nil && allNetns {
      throw ValidationError("--netns and --all-netns exclude each other")
    }
    if let netns, netns.isEmpty { throw ValidationError("--netns: expected a name or a path") }
  }

  /// Adds these settings to the rest.
  func apply(to c: inout ListingConfig) {
    c.unix = unix
    c.raw = raw
    c.statistics = statistics
    c.netns = netns
    c.allNetns = allNetns
  }
}
