import SwstatCore
import Testing

@testable import swstat_export

/// The pure parts: Accept negotiation, --listen parsing, /proc/net/netstat, the port cap and
/// the OpenMetrics rewrite.
@Suite struct ExpositionTests {
  @Test(
    arguments: [
      (nil, ExpositionFormat.prometheus),
      ("text/plain;version=0.0.4", .prometheus),
      ("*/*", .prometheus),
      ("application/openmetrics-text", .openMetrics),
      ("application/openmetrics-text; version=1.0.0; charset=utf-8", .openMetrics),
      ("text/plain;q=0.5, Application/OpenMetrics-Text;version=0.0.1;q=0.75", .openMetrics),
      ("application/openmetrics-text;q=0, text/plain", .prometheus),
    ] as [(String?, ExpositionFormat)])
  func negotiation(accept: String?, format: ExpositionFormat) {
    #expect(ExpositionFormat(accept: accept) == format)
  }

  @Test func listenAddresses() throws {
    #expect(try ListenAddress(parsing: "127.0.0.1:9433").description == "127.0.0.1:9433")
    let v6 = try ListenAddress(parsing: "[::1]:0")
    #expect(v6.isIPv6 && v6.host == "::1" && v6.port == 0 && v6.description == "[::1]:0")
    #expect(try ListenAddress(parsing: "[::]:9433").isIPv6)
    #expect(try ListenAddress(parsing: "localhost:80").host == "127.0.0.1")
    #expect(try ListenAddress(parsing: "0.0.0.0:65535").port == 65535)
    for bad in ["", ":9433", "9433", "1.2.3:80", "[::1]", "[::1]:-1", "[127.0.0.1]:80", "a:b:c"] {
      #expect(throws: ExportError.self, "\(bad)") { try ListenAddress(parsing: bad) }
    }
  }

  @Test func tcpExtCounters() {
    let text = """
      TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits
      TcpExt: 0 17 23 9
      IpExt: InNoRoutes
      IpExt: 0

      """
    #expect(
      TcpExtCounters.parse(Array(text.utf8))
        == TcpExtCounters(listenOverflows: 17, listenDrops: 23))
    #expect(TcpExtCounters.parse(Array("TcpExt: A B\nTcpExt: 1 2\n".utf8)) == nil)
    #expect(TcpExtCounters.parse([]) == nil)
  }

  @Test func portCap() {
    func key(_ port: UInt16, _ state: String = "ESTABLISHED") -> PortKey {
      PortKey(transport: .tcp, family: .inet, port: port, state: state)
    }
    let counts = [key(80): 5, key(80, "LISTEN"): 1, key(443): 4, key(50001): 1, key(50002): 2]
    let rows = Collector.capped(counts, keep: 2)
    func row(_ port: String, _ state: String = "ESTABLISHED") -> Int? {
      rows[PortRow(transport: .tcp, family: .inet, port: port, state: state)]
    }
    #expect(row("80") == 5 && row("80", "LISTEN") == 1 && row("443") == 4)
    #expect(row("other") == 3)
    #expect(rows.count == 4)
    #expect(rows.values.reduce(0, +) == counts.values.reduce(0, +))
  }

  @Test func openMetricsRewrite() {
    let text = """
      # HELP a_total Things.
      # TYPE a_total counter
      a_total 3
      # HELP b_total A gauge that happens to end in total.
      # TYPE b_total gauge
      b_total 1.0

      """
    let om = String(decoding: Exposition.openMetrics(Array(text.utf8)), as: UTF8.self)
    #expect(
      om == """
        # HELP a Things.
        # TYPE a counter
        a_total 3
        # HELP b_total A gauge that happens to end in total.
        # TYPE b_total gauge
        b_total 1.0
        # EOF

        """)
  }

  @Test func stateNames() {
    #expect(Collector.stateName(.tcp, 10) == "LISTEN")
    #expect(Collector.stateName(.tcp, 12) == "SYN_RECV")
    #expect(Collector.stateName(.tcp, 13) == nil)
    #expect(Collector.stateName(.udp, 1) == "ESTABLISHED")
    #expect(Collector.stateName(.udp, 7) == "CLOSE")
    #expect(
      Collector.exportedTCPStates.map { Collector.stateName(.tcp, $0.rawValue) ?? "" } == [
        "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
      ])
  }

  @Test func endpointText() {
    let v4 = Endpoint(address: IPAddress(family: .inet, bytes: [127, 0, 0, 1]), port: 8080)
    #expect(Collector.text(v4) == "127.0.0.1:8080")
    let v6 = Endpoint(
      address: IPAddress(family: .inet6, bytes: [UInt8](repeating: 0, count: 15) + [1]), port: 443)
    #expect(Collector.text(v6) == "[::1]:443")
  }
}
