/// One section of /proc/net/snmp, /proc/net/netstat or /proc/net/snmp6: a title ("Tcp",
/// "TcpExt", "Ip6") and its counters in file order.
public struct StatisticsSection: Sendable, Equatable {
  /// The title, as the file spells it.
  public var title: String
  /// Each counter's name and value. Values are read as netstat reads them (`strtoull`), so a
  /// negative number such as Tcp MaxConn's -1 wraps; `signedValue` undoes that.
  public var counters: [Counter]

  /// One counter.
  public struct Counter: Sendable, Equatable {
    /// The name, as the file spells it ("ActiveOpens", "Ip6InReceives").
    public var name: String
    /// The value as an unsigned 64-bit number.
    public var value: UInt64
    /// The value as the kernel meant it (-1 for Tcp MaxConn).
    public var signedValue: Int64 { Int64(bitPattern: value) }
    /// A counter from its parts.
    public init(name: String, value: UInt64) {
      self.name = name
      self.value = value
    }
  }

  /// A section from its parts.
  public init(title: String, counters: [Counter]) {
    self.title = title
    self.counters = counters
  }
}

/// Reads the kernel's protocol counters, the files `netstat -s` prints.
public enum NetStatistics {
  /// /proc/net/snmp or /proc/net/netstat: pairs of lines `Title: name name …` and
  /// `Title: value value …`. Empty lines are skipped (as netstat does for 2.6 kernels).
  public static func parsePairs(_ text: [UInt8], path: String = "<memory>") throws
    -> [StatisticsSection]
  {
    let lines = text.split(separator: 0x0a, omittingEmptySubsequences: true)
    var sections: [StatisticsSection] = []
    var i = 0
    while i + 1 < lines.count {
      let names = lines[i]
      let values = lines[i + 1]
      guard let c1 = names.firstIndex(of: 0x3a), let c2 = values.firstIndex(of: 0x3a) else {
        throw SocketSourceError.malformed(path: path, line: i + 1, reason: "expected Title: …")
      }
      let title = String(decoding: names[..<c1], as: UTF8.self)
      let keys = words(names[(c1 + 1)...])
      let nums = words(values[(c2 + 1)...])
      var counters: [StatisticsSection.Counter] = []
      for (k, key) in keys.enumerated() {
        let v = k < nums.count ? strtoull(nums[k]) : 0
        counters.append(.init(name: String(decoding: key, as: UTF8.self), value: v))
      }
      sections.append(StatisticsSection(title: title, counters: counters))
      i += 2
    }
    return sections
  }

  /// /proc/net/snmp6: one `name value` per line, as a single untitled list.
  public static func parseLines(_ text: [UInt8]) -> [StatisticsSection.Counter] {
    text.split(separator: 0x0a).compactMap { line in
      let w = words(line[...])
      guard let name = w.first else { return nil }
      return .init(
        name: String(decoding: name, as: UTF8.self), value: w.count > 1 ? strtoull(w[1]) : 0)
    }
  }

  /// The IPv4 statistics: /proc/net/snmp then /proc/net/netstat (missing: none), as netstat
  /// reads them.
  public static func readInet(root: String = "/proc") throws -> (
    snmp: [StatisticsSection], netstat: [StatisticsSection]
  ) {
    let snmpPath = root + "/net/snmp"
    let snmp = try parsePairs(readWholeFile(snmpPath), path: snmpPath)
    let netstatPath = root + "/net/netstat"
    let extra =
      (try? readWholeFile(netstatPath)).map { try? parsePairs($0, path: netstatPath) } ?? nil
    return (snmp, extra ?? [])
  }

  /// The IPv6 statistics from /proc/net/snmp6, and /proc/net/snmp's Tcp section (netstat -s6
  /// prints it after them).
  public static func readInet6(root: String = "/proc") throws -> (
    snmp6: [StatisticsSection.Counter], tcp: StatisticsSection?
  ) {
    let lines = parseLines(try readWholeFile(root + "/net/snmp6"))
    let snmpPath = root + "/net/snmp"
    let tcp = try parsePairs(readWholeFile(snmpPath), path: snmpPath).first {
      $0.title.hasPrefix("Tcp")
    }
    return (lines, tcp)
  }

  private static func words(_ s: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    s.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d })
  }

  /// `strtoull(s, 10)`: an optional sign, digits; a minus wraps as in C; stops at the first
  /// other byte.
  static func strtoull(_ s: ArraySlice<UInt8>) -> UInt64 {
    var v: UInt64 = 0
    var negative = false
    var i = s.startIndex
    if i < s.endIndex && (s[i] == 0x2d || s[i] == 0x2b) {
      negative = s[i] == 0x2d
      i += 1
    }
    while i < s.endIndex, s[i] >= 0x30, s[i] <= 0x39 {
      v = v &* 10 &+ UInt64(s[i] - 0x30)
      i += 1
    }
    return negative ? 0 &- v : v
  }
}
