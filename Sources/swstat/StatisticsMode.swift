import SwstatCore
import SwstatRender

/// `-s`: protocol statistics as `netstat -s` prints them; `-6` for /proc/net/snmp6; -t, -u, -w
/// narrow the sections as in netstat. With --json, one object per section (see
/// `ExtraTablesJSON.writeStatistics`).
extension Listing {
  func writeStatistics() throws {
    try writeStatistics(OutputBuffer(), netns: nil)
  }

  func writeStatistics(_ out: OutputBuffer, netns: String?) throws {
    let root = options.netRoot ?? options.procRoot
    let selection = StatisticsRenderer.Selection(
      tcp: options.tcp, udp: options.udp, raw: options.raw)
    // netstat keeps the last address family named; -6 alone means snmp6.
    let inet6 = options.inet6 && !options.inet
    if inet6 {
      let (lines, tcp) = try NetStatistics.readInet6(root: root)
      if options.json {
        let sections = StatisticsRenderer.snmp6Sections(lines)
        try ExtraTablesJSON.writeStatistics(
          StatisticsRenderer.selectedSections(sections, inet6: true, selection: selection),
          file: "snmp6", to: out, netns: netns.map { Array($0.utf8) })
        if let tcp {
          try ExtraTablesJSON.writeStatistics(
            StatisticsRenderer.selectedSections([tcp], inet6: true, selection: selection),
            file: "snmp", to: out, netns: netns.map { Array($0.utf8) })
        }
      } else {
        if let netns { out.append("Netns " + netns + ":\n") }
        out.append(StatisticsRenderer.inet6Text(snmp6: lines, tcp: tcp, selection: selection))
      }
    } else {
      let (snmp, netstat) = try NetStatistics.readInet(root: root)
      if options.json {
        let label = netns.map { Array($0.utf8) }
        try ExtraTablesJSON.writeStatistics(
          StatisticsRenderer.selectedSections(snmp, inet6: false, selection: selection),
          file: "snmp", to: out, netns: label)
        try ExtraTablesJSON.writeStatistics(
          StatisticsRenderer.selectedSections(netstat, inet6: false, selection: selection),
          file: "netstat", to: out, netns: label)
      } else {
        if let netns { out.append("Netns " + netns + ":\n") }
        out.append(StatisticsRenderer.inetText(snmp: snmp, netstat: netstat, selection: selection))
      }
    }
    try out.flush()
  }
}
