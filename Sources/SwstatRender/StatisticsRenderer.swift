import SwstatCore

/// `netstat -s`, as net-tools 2.10's statistics.c prints it: each section title known to
/// netstat (Ip, Icmp, Tcp, Udp, TcpExt; Ip6, Icmp6, Udp6 for -6) when its protocol is
/// selected, every unknown section (IcmpMsg, UdpLite, IpExt, MPTcpExt, …) always, and each
/// counter through netstat's table of sentences. The quirks are netstat's and kept on purpose:
/// the lookup is a `bsearch` over tables that are not fully sorted, so some counters netstat has
/// a sentence for (Forwarding, TCPTimeouts, …) print as `Name: value`; an unknown section keeps
/// the indentation of the section before it; histogram titles print even when every count is 0.
public struct StatisticsRenderer {
  /// Which protocols' sections are printed: netstat's -w (Ip, Icmp), -t, -u. All when none.
  public struct Selection: Sendable, Equatable {
    /// Ip, Icmp (and Ip6, Icmp6).
    public var raw = true
    /// Tcp, TcpExt.
    public var tcp = true
    /// Udp (and Udp6).
    public var udp = true
    /// Sctp: only when no protocol is named.
    public var sctp = true
    /// Every section.
    public init() {}
    /// Only the sections these flags name; all of them when none is set (as `netstat -s`).
    public init(tcp: Bool, udp: Bool, raw: Bool) {
      if tcp || udp || raw {
        sctp = false
        self.tcp = tcp
        self.udp = udp
        self.raw = raw
      }
    }
  }

  enum Kind: Int {
    case number = 0
    case optNumber, forward, inputICMP, outputICMP, rtoAlgorithm
  }
  static let indent = [4, 4, 4, 8, 8, 0]
  static let histogramTitle: [Kind: String] = [
    .inputICMP: "ICMP input histogram:", .outputICMP: "ICMP output histogram:",
  ]

  struct Entry {
    var name: String
    var text: String
    var kind: Kind
    var isStatic = false
    var isTitled = false
  }

  struct Table {
    var title: String
    var entries: [Entry]?
    var selected: Bool
  }

  private let selection: Selection
  private var state = Kind.number
  private var lines: [String] = []

  /// A renderer for the sections `selection` picks.
  public init(selection: Selection = Selection()) { self.selection = selection }

  /// The text `netstat -s` prints for these IPv4 files (/proc/net/snmp, then /proc/net/netstat).
  public static func inetText(
    snmp: [StatisticsSection], netstat: [StatisticsSection], selection: Selection = Selection()
  ) -> String {
    var r = StatisticsRenderer(selection: selection)
    for s in snmp + netstat { r.section(s, tables: r.snmpTables) }
    return r.lines.map { $0 + "\n" }.joined()
  }

  /// The text `netstat -s -6` prints: /proc/net/snmp6, then /proc/net/snmp's Tcp section.
  public static func inet6Text(
    snmp6: [StatisticsSection.Counter], tcp: StatisticsSection?, selection: Selection = Selection()
  ) -> String {
    var r = StatisticsRenderer(selection: selection)
    r.process6(snmp6)
    if let tcp { r.section(tcp, tables: r.snmpTables) }
    return r.lines.map { $0 + "\n" }.joined()
  }

  /// The sections `--json` prints for the same selection: those netstat gives a title.
  public static func selectedSections(
    _ sections: [StatisticsSection], inet6: Bool, selection: Selection = Selection()
  ) -> [StatisticsSection] {
    let r = StatisticsRenderer(selection: selection)
    let tables = inet6 ? r.snmp6Tables + r.snmpTables : r.snmpTables
    return sections.filter { s in tables.first { $0.title == s.title }?.selected ?? true }
  }

  /// Splits /proc/net/snmp6's flat list into sections as netstat does (the title is the name up
  /// to and including its first '6': Ip6, Icmp6, Udp6, UdpLite6).
  public static func snmp6Sections(_ counters: [StatisticsSection.Counter]) -> [StatisticsSection] {
    var out: [StatisticsSection] = []
    for c in counters {
      if let last = out.last, c.name.contains(last.title) {
        out[out.count - 1].counters.append(c)
      } else {
        out.append(StatisticsSection(title: title6(c.name), counters: [c]))
      }
    }
    return out
  }

  static func title6(_ name: String) -> String {
    if let i = name.firstIndex(of: "6") { return String(name[...i]) }
    return name
  }

  private mutating func emit(_ indent: Int, _ text: String) {
    lines.append(String(repeating: " ", count: indent) + text)
  }

  /// `newtable`: a known table prints its title when selected and resets the state; an unknown
  /// one always prints its title and keeps the state (so its indentation).
  private mutating func newTable(_ title: String, _ tables: [Table]) -> Table {
    if let t = tables.first(where: { $0.title == title }) {
      if t.selected { emit(0, title + ":") }
      state = .number
      return t
    }
    emit(0, title + ":")
    return Table(title: title, entries: nil, selected: true)
  }

  private mutating func section(_ s: StatisticsSection, tables: [Table]) {
    let t = newTable(s.title, tables)
    guard t.selected else { return }
    for c in s.counters { printValue(t, c.name, c.value) }
  }

  private mutating func process6(_ counters: [StatisticsSection.Counter]) {
    var current: (title: String, table: Table)?
    for c in counters {
      if current == nil || !c.name.contains(current!.title) {
        let title = Self.title6(c.name)
        current = (title, newTable(title, snmp6Tables))
      }
      // swift-format-ignore: NeverForceUnwrap
      if current!.table.selected { printValue(current!.table, c.name, c.value) }
    }
  }

  /// glibc's bsearch over the table as laid out, with strcmp: unsorted neighbours make some
  /// names unfindable, exactly as in netstat.
  static func bsearch(_ name: String, _ entries: [Entry]) -> Entry? {
    var lo = 0
    var hi = entries.count
    let key = Array(name.utf8)
    while lo < hi {
      let mid = (lo + hi) / 2
      let other = Array(entries[mid].name.utf8)
      if key.lexicographicallyPrecedes(other) {
        hi = mid
      } else if other.lexicographicallyPrecedes(key) {
        lo = mid + 1
      } else {
        return entries[mid]
      }
    }
    return nil
  }

  /// `printval`.
  private mutating func printValue(_ table: Table, _ name: String, _ value: UInt64) {
    guard let entries = table.entries, let e = Self.bsearch(name, entries) else {
      if value != 0 { emit(Self.indent[state.rawValue], "\(name): \(value)") }
      return
    }
    if e.isStatic { return }  // print_static is never set
    if e.text.isEmpty { return }
    var kind = e.kind
    if e.isTitled && state != kind, let title = Self.histogramTitle[kind] {
      emit(Self.indent[state.rawValue], title)
    }
    var text = ""
    switch kind {
    case .optNumber:
      if value != 0 { text = Self.format(e.text, "\(value)") }
    case .number:
      text = Self.format(e.text, "\(value)")
    case .forward:
      kind = .number
      text = Self.format(e.text, value == 2 ? "enabled" : "disabled")
    case .inputICMP, .outputICMP:
      if value > 0 { text = Self.format(e.text, "\(value)") }
    case .rtoAlgorithm:
      break
    }
    if !text.isEmpty { emit(Self.indent[kind.rawValue], text) }
    state = kind
  }

  /// The sentence with its one `%llu` or `%s` replaced by `value`.
  static func format(_ pattern: String, _ value: String) -> String {
    let b = Array(pattern.utf8)
    for (spec, n) in [(Array("%llu".utf8), 4), (Array("%s".utf8), 2)] {
      var i = 0
      while i + n <= b.count {
        if Array(b[i..<(i + n)]) == spec {
          return String(decoding: b[..<i], as: UTF8.self) + value
            + String(decoding: b[(i + n)...], as: UTF8.self)
        }
        i += 1
      }
    }
    return pattern
  }

  var snmpTables: [Table] {
    [
      Table(title: "Ip", entries: Self.ip, selected: selection.raw),
      Table(title: "Icmp", entries: Self.icmp, selected: selection.raw),
      Table(title: "Tcp", entries: Self.tcp, selected: selection.tcp),
      Table(title: "Udp", entries: Self.udp, selected: selection.udp),
      Table(title: "Sctp", entries: Self.sctp, selected: selection.sctp),
      Table(title: "TcpExt", entries: Self.tcpExt, selected: selection.tcp),
    ]
  }

  var snmp6Tables: [Table] {
    [
      Table(title: "Ip6", entries: Self.ip6, selected: selection.raw),
      Table(title: "Icmp6", entries: Self.icmp6, selected: selection.raw),
      Table(title: "Udp6", entries: Self.udp6, selected: selection.udp),
      Table(title: "Tcp6", entries: Self.tcp, selected: selection.tcp),
    ]
  }
}
