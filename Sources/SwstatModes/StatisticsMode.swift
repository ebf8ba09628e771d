import SwstatCore
import SwstatRender

/// `-s`: protocol statistics as `netstat -s` prints them; `-6` for /proc/net/snmp6; -t, -u, -w
/// narrow the sections as in netstat. With --json, one object per section.
struct StatisticsMode {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String

  var selection: StatisticsRenderer.Selection {
    StatisticsRenderer.Selection(tcp: plan.tables.tcp, udp: plan.tables.udp, raw: plan.tables.raw)
  }

  /// The report of the namespace whose /proc/net is under `netRoot`. netstat keeps the last
  /// address family named; -6 alone means snmp6.
  func report() throws -> StatisticsReport {
    let families = plan.query.families
    if families == [.inet6] {
      let (lines, tcp) = try NetStatistics.readInet6(root: netRoot)
      return .inet6(snmp6: lines, tcp: tcp)
    }
    let (snmp, netstat) = try NetStatistics.readInet(root: netRoot)
    return .inet(snmp: snmp, netstat: netstat)
  }

  func run() throws -> Int32 {
    let out = StatisticsOutput(output: env.output, json: plan.json, selection: selection)
    try out.begin(Section(.other))
    try out.write(report())
    try out.end()
    return 0
  }
}
