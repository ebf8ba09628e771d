import Foundation
import SwstatTestSupport
import Testing

/// The real swstat-export binary serving /metrics on 127.0.0.1, scraped with a plain TCP client.
@Suite struct ExportServerTests {
  /// N listeners of the test's own: LISTEN counted, each listener's queue series present, and a
  /// listener with backlog 5 and 2 connections it never accepted shows length 2 and max 5.
  @Test func listenersAndQueues() throws {
    let n = 4
    let listeners = try Listeners(backlogs: [5, 16, 16, 16], pending: [2])
    defer { listeners.close() }
    let exporter = try RunningExporter(["--listen", "127.0.0.1:0", "--source", "netlink"])
    defer { exporter.stop() }
    let reply = try exporter.scrape()
    #expect(reply.status == 200)
    #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
    let all = samples(reply.body)
    let listen = all.filter {
      $0.name == "swstat_sockets" && $0.labels["state"] == "LISTEN" && $0.labels["proto"] == "tcp"
    }
    // Both families, and the exporter's own listener too.
    #expect(listen.count == 2)
    #expect(listen.reduce(0) { $0 + $1.value } >= Double(n + 1))
    func queue(_ name: String, _ port: UInt16) -> Double? {
      all.first {
        $0.name == name && $0.labels["local"] == "127.0.0.1:\(port)"
          && $0.labels["family"] == "inet" && $0.labels["proto"] == "tcp"
      }?.value
    }
    for port in listeners.ports {
      #expect(queue("swstat_listen_queue_length", port) != nil, "port \(port)")
      #expect(queue("swstat_listen_queue_max", port) != nil, "port \(port)")
    }
    #expect(queue("swstat_listen_queue_length", listeners.ports[0]) == 2)
    #expect(queue("swstat_listen_queue_max", listeners.ports[0]) == 5)
    #expect(queue("swstat_listen_queue_length", listeners.ports[1]) == 0)
    #expect(queue("swstat_listen_queue_max", listeners.ports[1]) == 16)
    // Every TCP state of both families, zeros included, and the two UDP states.
    let states = Set(
      all.filter { $0.name == "swstat_sockets" }.map {
        "\($0.labels["proto"] ?? "")/\($0.labels["family"] ?? "")/\($0.labels["state"] ?? "")"
      })
    #expect(states.count == 2 * 11 + 2 * 2)
    #expect(states.contains("tcp/inet6/CLOSE_WAIT") && states.contains("udp/inet/CLOSE"))
    #expect(all.contains { $0.name == "swstat_build_info" && $0.labels["version"] == "0.1.0" })
    #expect(all.contains { $0.name == "swstat_scrape_errors_total" && $0.value == 0 })
    #expect(all.contains { $0.name == "swstat_scrape_duration_seconds" && $0.value > 0 })
    #expect(exporter.stop().status == 0)
  }

  /// OpenMetrics when the Accept header asks for it (as Prometheus does), text format otherwise.
  @Test func openMetricsNegotiation() throws {
    let exporter = try RunningExporter(["--listen", "127.0.0.1:0"])
    defer { exporter.stop() }
    let prometheusAccept =
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
      + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    let om = try exporter.scrape(accept: prometheusAccept)
    #expect(om.status == 200)
    #expect(
      om.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
    #expect(om.body.hasSuffix("# EOF\n"))
    #expect(om.body.contains("# TYPE swstat_scrape_errors counter\n"))
    #expect(om.body.contains("\nswstat_scrape_errors_total 0"))
    for accept in [
      "text/plain;version=0.0.4", "application/openmetrics-text;q=0, text/plain", "*/*",
    ] {
      let text = try exporter.scrape(accept: accept)
      #expect(
        text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", "\(accept)")
      #expect(!text.body.contains("# EOF"))
      #expect(text.body.contains("# TYPE swstat_scrape_errors_total counter\n"))
    }
  }

  /// A dump the source refuses: 500 with the reason, the error counter goes up, and the server
  /// goes on answering.
  @Test func refusingSourceGives500() throws {
    let exporter = try RunningExporter([
      "--listen", "127.0.0.1:0", "--source", "proc", "--proc-root", "/nonexistent",
    ])
    defer { exporter.stop() }
    for _ in 0..<3 {
      let reply = try exporter.scrape()
      #expect(reply.status == 500)
      #expect(reply.body == "swstat: /nonexistent/net/tcp: No such file or directory (errno 2)\n")
    }
    #expect(try httpGet(port: exporter.port, path: "/").status == 200)
    #expect(try httpGet(port: exporter.port, path: "/nope").status == 404)
    let end = exporter.stop()
    #expect(end.status == 0)
  }

  /// The error counter as a working source reports it after failed scrapes: a captured /proc
  /// tree whose tcp table turns unreadable, then readable again.
  @Test func errorCounterAfterRecovery() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-export-proc-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let header =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    let listener =
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n"
    let tcp = root.appendingPathComponent("net/tcp")
    for name in ["tcp6", "udp", "udp6"] {
      try header.write(
        to: root.appendingPathComponent("net/\(name)"), atomically: true, encoding: .utf8)
    }
    let exporter = try RunningExporter([
      "--listen", "127.0.0.1:0", "--source", "proc", "--proc-root", root.path,
    ])
    defer { exporter.stop() }
    #expect(try exporter.scrape().status == 500)
    #expect(try exporter.scrape().status == 500)
    try (header + listener).write(to: tcp, atomically: true, encoding: .utf8)
    let reply = try exporter.scrape()
    #expect(reply.status == 200)
    let all = samples(reply.body)
    #expect(all.contains { $0.name == "swstat_scrape_errors_total" && $0.value == 2 })
    // From /proc: the accept queue is rx_queue; the backlog is unknown, so no max series.
    #expect(
      all.contains {
        $0.name == "swstat_listen_queue_length" && $0.labels["local"] == "127.0.0.1:8080"
          && $0.value == 3
      })
    #expect(!all.contains { $0.name == "swstat_listen_queue_max" })
    // No /proc/net/netstat in the tree: the kernel counters are left out, not faked.
    #expect(!all.contains { $0.name == "swstat_tcp_listen_drops_total" })
    #expect(
      all.contains {
        $0.name == "swstat_sockets" && $0.labels["state"] == "LISTEN"
          && $0.labels["family"] == "inet" && $0.value == 1
      })
  }

  /// --by-port with a cap keeps the busiest ports and sums the rest under port="other"; -p
  /// names this test's own process for its listeners.
  @Test func byPortCapAndPrograms() throws {
    let listeners = try Listeners(backlogs: [8, 8], pending: [3, 0])
    defer { listeners.close() }
    let exporter = try RunningExporter([
      "--listen", "127.0.0.1:0", "--by-port", "--max-ports", "1", "-p",
    ])
    defer { exporter.stop() }
    let all = samples(try exporter.scrape().body)
    let ports = all.filter { $0.name == "swstat_port_sockets" }
    #expect(Set(ports.map { $0.labels["port"] ?? "" }).count == 2, "one port and other")
    #expect(ports.contains { $0.labels["port"] == "other" })
    let programs = all.filter { $0.name == "swstat_program_sockets" }
    // The name ProcessOwners reads: argv[0], its basename when it is a path.
    let argv0 = CommandLine.arguments[0]
    let me = argv0.hasPrefix("/") ? URL(fileURLWithPath: argv0).lastPathComponent : argv0
    #expect(
      programs.contains {
        $0.labels["program"] == me && $0.labels["state"] == "LISTEN" && $0.value >= 2
      },
      "\(programs.filter { $0.labels["state"] == "LISTEN" })")
  }

  /// The text exposition is valid for promtool, with every option on. (promtool check metrics
  /// reads only the text format; OpenMetrics is checked below and by Prometheus itself.)
  @Test(
    .enabled(if: onPath("promtool") || runningInCI, "promtool missing: apt-get install prometheus"))
  func promtoolAcceptsOutput() throws {
    let listeners = try Listeners(backlogs: [5], pending: [2])
    defer { listeners.close() }
    let exporter = try RunningExporter(["--listen", "127.0.0.1:0", "--by-port", "-p"])
    defer { exporter.stop() }
    let text = try exporter.scrape()
    let check = try promtoolCheck(text.body)
    #expect(check.status == 0, "\(check.output)")
  }

  /// The OpenMetrics exposition through a strict OpenMetrics parser (the Python client's):
  /// counters are families without `_total`, and it ends with `# EOF`.
  @Test(
    .enabled(if: openMetricsParserAvailable || runningInCI, "python3-prometheus-client missing"))
  func openMetricsParses() throws {
    let exporter = try RunningExporter(["--listen", "127.0.0.1:0", "--by-port", "-p"])
    defer { exporter.stop() }
    let om = try exporter.scrape(accept: "application/openmetrics-text;version=1.0.0")
    let parsed = try openMetricsFamilies(om.body)
    #expect(parsed.status == 0, "\(parsed.output)")
    for family in [
      "swstat_sockets:gauge", "swstat_scrape_errors:counter", "swstat_tcp_listen_drops:counter",
      "swstat_port_sockets:gauge", "swstat_program_sockets:gauge", "swstat_build_info:gauge",
    ] {
      #expect(parsed.output.contains(family + "\n"), "\(family) in \(parsed.output)")
    }
  }

  /// Bad input: one `swstat: ` line and exit 1 for an address or a taken port, 64 and usage for
  /// a flag.
  @Test(arguments: [
    (
      "localhost",
      "swstat: --listen localhost: expected ADDRESS:PORT, as in 127.0.0.1:9433 or [::1]:9433\n"
    ),
    (
      "127.0.0.1:70000",
      "swstat: --listen 127.0.0.1:70000: port '70000' is not a number from 0 to 65535\n"
    ),
    (
      "example.com:80",
      "swstat: --listen example.com:80: 'example.com' is not a numeric IPv4 address\n"
    ),
    ("::1:80", "swstat: --listen ::1:80: an IPv6 address goes in brackets, as in [::1]:80\n"),
  ])
  func badListenAddress(value: String, message: String) throws {
    let r = try runCommand([exporterPath, "--listen", value], timeout: 30)
    #expect(r.status == 1)
    #expect(r.stderr == message)
    #expect(r.stdout.isEmpty)
  }

  @Test func portAlreadyTaken() throws {
    let listeners = try Listeners(backlogs: [5])
    defer { listeners.close() }
    let port = listeners.ports[0]
    let r = try runCommand([exporterPath, "--listen", "127.0.0.1:\(port)"], timeout: 30)
    #expect(r.status == 1)
    #expect(r.stderr == "swstat: 127.0.0.1:\(port): Address already in use (errno 98)\n")
  }

  @Test(arguments: [
    ["--bogus"], ["--interval", "5"], ["--textfile", "/tmp/x.prom", "--listen", "127.0.0.1:0"],
    ["--max-ports", "0"], ["--source", "bogus"],
  ])
  func badFlagsExit64(arguments: [String]) throws {
    let r = try runCommand([exporterPath] + arguments, timeout: 30)
    #expect(r.status == 64)
    #expect(r.stderr.contains("Usage: swstat export"))
  }

  @Test func sigintStopsCleanly() throws {
    let exporter = try RunningExporter(["--listen", "127.0.0.1:0"])
    #expect(try exporter.scrape().status == 200)
    let end = exporter.stop(signal: SIGINT)
    #expect(end.status == 0)
    #expect(end.stderr.isEmpty)
  }

  /// `/proc/net/netstat` replaced by a FIFO in a --proc-root tree: the scrape answers 500 at
  /// once, naming it, instead of hanging the exporter (issue 11, item 7); the textfile run exits.
  @Test func fifoInProcRootIsRefused() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-fifo-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let header =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    for name in ["tcp", "tcp6", "udp", "udp6"] {
      try header.write(
        to: root.appendingPathComponent("net/\(name)"), atomically: true, encoding: .utf8)
    }
    let fifo = root.appendingPathComponent("net/netstat").path
    #expect(mkfifo(fifo, 0o644) == 0)
    let message = "swstat: \(fifo): not a regular file (a FIFO)\n"
    let exporter = try RunningExporter([
      "--listen", "127.0.0.1:0", "--source", "proc", "--proc-root", root.path,
    ])
    defer { exporter.stop() }
    let start = Date()
    let reply = try httpGet(port: exporter.port, path: "/metrics")
    #expect(reply.status == 500)
    #expect(reply.body == message)
    #expect(since(start) < 2)
    let file = root.appendingPathComponent("out.prom").path
    let r = try runCommand(
      [exporterPath, "--textfile", file, "--source", "proc", "--proc-root", root.path],
      timeout: 10)
    #expect(r.status == 1)
    #expect(r.stderr == message)
  }
}
