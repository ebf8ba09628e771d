import SwstatCore

/// The counters of one namespace that `-s` prints: the IPv4 files, or with `-6` the IPv6 ones.
public enum StatisticsReport: Sendable {
  /// /proc/net/snmp, then /proc/net/netstat.
  case inet(snmp: [StatisticsSection], netstat: [StatisticsSection])
  /// /proc/net/snmp6, then /proc/net/snmp's Tcp section.
  case inet6(snmp6: [StatisticsSection.Counter], tcp: StatisticsSection?)
}

/// `-s`: `netstat -s`'s text (`StatisticsRenderer`), or with `json` one object per section,
/// `{"file":"snmp","section":"Tcp","counters":{…}}`, values as the kernel wrote them (signed:
/// Tcp MaxConn is -1). Under --all-netns each namespace's text starts with `Netns NAME:` and
/// each object carries `"netns"`. Counter names come from the files: a captured tree can hold
/// any bytes there, so the text is written visibly and the JSON escaped.
public final class StatisticsOutput: OutputSink {
  private let out: OutputBuffer
  private let json: Bool
  private let selection: StatisticsRenderer.Selection
  private var netns: [UInt8]? = nil

  /// An output of the sections `selection` picks.
  public init(output: OutputBuffer, json: Bool, selection: StatisticsRenderer.Selection) {
    self.out = output
    self.json = json
    self.selection = selection
  }

  public func begin(_ section: Section) throws(OutputError) { netns = section.netns }

  public func end() throws(OutputError) { try out.flush() }

  public func write(_ report: borrowing StatisticsReport) throws(OutputError) {
    switch report {
    case .inet(let snmp, let netstat):
      if json {
        try writeJSON(
          StatisticsRenderer.selectedSections(snmp, inet6: false, selection: selection), "snmp")
        try writeJSON(
          StatisticsRenderer.selectedSections(netstat, inet6: false, selection: selection),
          "netstat")
      } else {
        writeText(StatisticsRenderer.inetText(snmp: snmp, netstat: netstat, selection: selection))
      }
    case .inet6(let snmp6, let tcp):
      if json {
        let sections = StatisticsRenderer.snmp6Sections(snmp6)
        try writeJSON(
          StatisticsRenderer.selectedSections(sections, inet6: true, selection: selection), "snmp6")
        if let tcp {
          try writeJSON(
            StatisticsRenderer.selectedSections([tcp], inet6: true, selection: selection), "snmp")
        }
      } else {
        writeText(StatisticsRenderer.inet6Text(snmp6: snmp6, tcp: tcp, selection: selection))
      }
    }
    try out.endRow()
  }

  private func writeText(_ text: String) {
    if let netns { out.append("Netns " + Visible.text(netns) + ":\n") }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
      out.append(Visible.text(line.utf8))
      out.append(0x0a)
    }
  }

  private func writeJSON(_ sections: [StatisticsSection], _ file: String) throws(OutputError) {
    for s in sections {
      out.append("{\"file\":" + JSONText.string(file) + ",\"section\":" + JSONText.string(s.title))
      out.append(",\"counters\":{")
      for (i, counter) in s.counters.enumerated() {
        if i > 0 { out.append(0x2c) }
        out.append(JSONText.string(counter.name) + ":" + String(counter.signedValue))
      }
      out.append("}")
      if let netns {
        out.append(",\"netns\":" + JSONText.string(String(decoding: netns, as: UTF8.self)))
      }
      out.append("}\n")
      try out.endRow()
    }
  }
}
