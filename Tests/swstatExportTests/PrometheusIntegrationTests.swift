import Foundation
import SwstatTestSupport
import Testing

/// A real Prometheus server scrapes the exporter every second on loopback; its HTTP API must then
/// hold the values swstat itself counts. As root everything runs in a network namespace of the
/// test's own, so the LISTEN total is exact (N listeners + the exporter + Prometheus) and equals
/// `swstat -tan` there; otherwise, on the shared host, the test's listeners are checked one by one.
@Suite struct PrometheusIntegrationTests {
  static let canRun = onPath("prometheus") && onPath("promtool")

  @Test(
    .enabled(if: canRun || runningInCI, "prometheus missing: apt-get install prometheus"),
    .timeLimit(.minutes(2)))
  func prometheusScrapesExporter() throws {
    let namespace = canUseNamespaces ? try NetworkNamespace() : nil
    defer { namespace?.delete() }
    let n = 3
    let listeners = try Listeners(backlogs: [5, 7, 9], pending: [2], in: namespace)
    defer { listeners.close() }
    // No cap that matters: on a shared host other ports must not push the test's into "other".
    let exporter = try RunningExporter(
      ["--listen", "127.0.0.1:0", "--by-port", "--max-ports", "65536"], in: namespace)
    defer { exporter.stop() }

    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-prometheus-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let config = """
      global:
        scrape_interval: 1s
        scrape_timeout: 1s
      scrape_configs:
        - job_name: swstat
          static_configs:
            - targets: ['127.0.0.1:\(exporter.port)']

      """
    try config.write(
      to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
    #expect(
      try runCommand([
        "promtool", "check", "config", dir.appendingPathComponent("prometheus.yml").path,
      ]).status == 0)
    let webPort = try freePort(in: namespace)
    let prometheus = Process()
    prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    var command = [
      "prometheus", "--config.file=\(dir.path)/prometheus.yml",
      "--storage.tsdb.path=\(dir.path)/data", "--web.listen-address=127.0.0.1:\(webPort)",
    ]
    // ip netns exec execs prometheus, so the pid is Prometheus's own.
    if let namespace { command = ["ip", "netns", "exec", namespace.name] + command }
    prometheus.arguments = command
    let log = FileHandle(forWritingAtPath: "/dev/null")
    prometheus.standardOutput = log
    prometheus.standardError = log
    try prometheus.run()
    defer {
      kill(prometheus.processIdentifier, SIGTERM)
      let deadline = Date().addingTimeInterval(10)
      while prometheus.isRunning && Date() < deadline { usleep(50_000) }
      if prometheus.isRunning { kill(prometheus.processIdentifier, SIGKILL) }
      prometheus.waitUntilExit()
    }

    func query(_ promql: String) throws -> [(labels: [String: String], value: Double)] {
      let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
      let reply = try httpGet(port: webPort, path: "/api/v1/query?query=\(encoded)", in: namespace)
      guard reply.status == 200,
        let json = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
        let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
      else {
        throw FixtureError.failed("query \(promql): \(reply.status) \(reply.body.prefix(300))")
      }
      return result.compactMap { series in
        guard let metric = series["metric"] as? [String: String],
          let value = series["value"] as? [Any], value.count == 2, let text = value[1] as? String,
          let number = Double(text)
        else { return nil }
        return (metric, number)
      }
    }

    // Two scrapes, successful ones (up == 1 each time), within 30 s.
    var scrapes = 0.0
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      scrapes = (try? query("sum_over_time(up{job=\"swstat\"}[1m])"))?.first?.value ?? 0
      if scrapes >= 2 { break }
      usleep(250_000)
    }
    #expect(scrapes >= 2, "Prometheus scraped successfully \(scrapes) times in 30 s")
    guard scrapes >= 2 else { return }

    let listen = try query("swstat_sockets{state=\"LISTEN\"}")
    #expect(Set(listen.map { $0.labels["family"] ?? "" }) == ["inet", "inet6"])
    let total = listen.reduce(0) { $0 + $1.value }
    #expect(total >= Double(n + 1))
    let own = samples(try exporter.scrape(in: namespace).body).filter {
      $0.name == "swstat_sockets" && $0.labels["state"] == "LISTEN"
    }.reduce(0) { $0 + $1.value }
    if let namespace {
      // Only this test's sockets live here: the totals are exact and stay put between scrapes.
      let table = try namespace.run([swstatPath, "-tan"])
      let rows = table.stdout.split(separator: "\n").filter {
        $0.split(separator: " ").last == "LISTEN"
      }.count
      #expect(Double(rows) == total, "\(table.stdout)")
      #expect(own == total)
      #expect(Double(n + 2) == total, "N listeners, the exporter and Prometheus")
    }
    for (i, port) in listeners.ports.enumerated() {
      let local = "127.0.0.1:\(port)"
      let length = try query("swstat_listen_queue_length{local=\"\(local)\"}")
      let max = try query("swstat_listen_queue_max{local=\"\(local)\"}")
      #expect(length.map(\.value) == [i == 0 ? 2 : 0], "\(local)")
      #expect(max.map(\.value) == [Double([5, 7, 9][i])], "\(local)")
      let byPort = try query("swstat_port_sockets{port=\"\(port)\",state=\"LISTEN\"}")
      #expect(byPort.map(\.value) == [1], "\(local)")
    }
  }
}
