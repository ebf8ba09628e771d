import Prometheus
import SwstatCore

/// The two text formats a scraper may ask for.
enum ExpositionFormat: Equatable {
  /// The Prometheus text format 0.0.4 (also what node_exporter's textfile collector reads).
  case prometheus
  /// OpenMetrics 1.0.0.
  case openMetrics

  /// The Content-Type of a response in this format.
  var contentType: String {
    switch self {
    case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
    case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
    }
  }

  /// OpenMetrics when the Accept header lists `application/openmetrics-text` with a non-zero
  /// quality (Prometheus sends it first, with text/plain as a fallback); else the text format.
  init(accept: String?) {
    self = .prometheus
    guard let accept else { return }
    for range in accept.split(separator: ",") {
      let parts = range.split(separator: ";").map { $0.trimmingSpaces.lowercased() }
      guard parts.first == "application/openmetrics-text" else { continue }
      let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap {
        Double($0.dropFirst(2))
      }
      if quality ?? 1 > 0 {
        self = .openMetrics
        return
      }
    }
  }
}

/// Writes a scrape as metrics. The series of one scrape go into a registry of their own, made
/// for that scrape: label sets that vanish (a closed listener, a port that left the top N) are
/// then gone from the next scrape without any bookkeeping, and concurrent scrapes share nothing
/// but the error count. swift-prometheus writes the text format; OpenMetrics differs from it,
/// for these metrics, only in counter family names and the closing `# EOF`, adjusted after.
enum Exposition {
  /// Metric names and help texts, one place. (Computed: the library's descriptor type is not
  /// Sendable, so it cannot be a static constant.)
  enum Metric {
    static var sockets: MetricNameDescriptor {
      d("sockets", "Sockets per protocol, address family and state, as netstat names states.")
    }
    static var listenQueueLength: MetricNameDescriptor {
      d("listen_queue_length", "Connections in a TCP listener's accept queue, not yet accepted.")
    }
    static var listenQueueMax: MetricNameDescriptor {
      d(
        "listen_queue_max",
        "A TCP listener's accept queue limit (the listen backlog, from netlink).")
    }
    static var listenOverflows: MetricNameDescriptor {
      d(
        "tcp_listen_overflows", unit: "total",
        "Handshakes completed while a listener's accept queue was full (TcpExtListenOverflows).")
    }
    static var listenDrops: MetricNameDescriptor {
      d(
        "tcp_listen_drops", unit: "total",
        "Connection attempts dropped at a listener, overflows included (TcpExtListenDrops).")
    }
    static var portSockets: MetricNameDescriptor {
      d(
        "port_sockets", "Sockets per local port and state; ports beyond --max-ports count as other."
      )
    }
    static var programSockets: MetricNameDescriptor {
      d(
        "program_sockets",
        "Sockets per owning program and state; - when no visible process holds one.")
    }
    static var scrapeDuration: MetricNameDescriptor {
      d("scrape_duration", unit: "seconds", "How long the socket dump of this scrape took.")
    }
    static var scrapeErrors: MetricNameDescriptor {
      d("scrape_errors", unit: "total", "Scrapes that failed because the socket dump failed.")
    }
    static var buildInfo: MetricNameDescriptor {
      d("build", unit: "info", "Always 1; the version label says which swstat is running.")
    }

    private static func d(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor
    {
      MetricNameDescriptor(namespace: "swstat", metricName: name, unitName: unit, helpText: help)
    }
  }

  /// The whole exposition of one scrape, in `format`.
  static func render(
    _ scrape: Scrape, errors: Int, format: ExpositionFormat
  ) -> [UInt8] {
    let registry = PrometheusCollectorRegistry()
    for table in scrape.sockets.tables {
      let states =
        table.transport == .tcp ? Collector.exportedTCPStates : Collector.exportedUDPStates
      for state in states {
        var n = 0
        if table.transport == .udp {
          // Any UDP state but ESTABLISHED is CLOSE (Collector.stateName).
          n =
            state == .established
            ? scrape.sockets.count(table, state: state.rawValue)
            : scrape.sockets.total(table) - scrape.sockets.count(table, state: 1)
        } else {
          n = scrape.sockets.count(table, state: state.rawValue)
          if state == .synReceived {
            n += scrape.sockets.count(table, state: SocketState.newSynReceived.rawValue)
          }
        }
        registry.makeGauge(
          descriptor: Metric.sockets,
          labels: [
            ("proto", protoLabel(table.transport)), ("family", familyLabel(table.family)),
            ("state", Collector.stateName(table.transport, state.rawValue) ?? "?"),
          ]
        ).set(Double(n))
      }
    }
    for (key, queue) in scrape.listeners.sorted(by: { $0.key < $1.key }) {
      let labels = [("proto", "tcp"), ("family", familyLabel(key.family)), ("local", key.local)]
      registry.makeGauge(descriptor: Metric.listenQueueLength, labels: labels).set(
        Double(queue.length))
      if let max = queue.max {
        registry.makeGauge(descriptor: Metric.listenQueueMax, labels: labels).set(Double(max))
      }
    }
    if let tcpExt = scrape.tcpExt {
      registry.makeCounter(descriptor: Metric.listenOverflows).increment(
        by: Int64(clamping: tcpExt.listenOverflows))
      registry.makeCounter(descriptor: Metric.listenDrops).increment(
        by: Int64(clamping: tcpExt.listenDrops))
    }
    if let ports = scrape.ports {
      for (row, n) in ports {
        registry.makeGauge(
          descriptor: Metric.portSockets,
          labels: [
            ("proto", protoLabel(row.transport)), ("family", familyLabel(row.family)),
            ("port", row.port), ("state", row.state),
          ]
        ).set(Double(n))
      }
    }
    if let programs = scrape.programs {
      for (key, n) in programs {
        registry.makeGauge(
          descriptor: Metric.programSockets,
          labels: [
            ("program", key.program), ("proto", protoLabel(key.transport)), ("state", key.state),
          ]
        ).set(Double(n))
      }
    }
    let (seconds, attoseconds) = scrape.duration.components
    let duration = Double(seconds) + Double(attoseconds) * 1e-18
    registry.makeGauge(descriptor: Metric.scrapeDuration).set(to: duration)
    registry.makeCounter(descriptor: Metric.scrapeErrors).increment(by: Int64(errors))
    registry.makeGauge(descriptor: Metric.buildInfo, labels: [("version", ExportCommand.version)])
      .set(to: 1)
    var buffer: [UInt8] = []
    buffer.reserveCapacity(16384)
    registry.emit(into: &buffer)
    let text = sorted(buffer)
    return format == .openMetrics ? openMetrics(text) : text
  }

  /// The same exposition with families in name order and samples sorted within each: the
  /// registry keeps both in hash order, which changes from run to run, and a stable order makes
  /// textfiles diffable and `curl` output readable. Families stay whole (HELP, TYPE, samples).
  static func sorted(_ text: [UInt8]) -> [UInt8] {
    var families: [(name: Substring, header: [Substring], samples: [Substring])] = []
    let string = String(decoding: text, as: UTF8.self)
    for line in string.split(separator: "\n") {
      if line.hasPrefix("# ") {
        let name = line.split(separator: " ", maxSplits: 3).dropFirst(2).first ?? ""
        if families.last?.name != name { families.append((name, [], [])) }
        families[families.count - 1].header.append(line)
      } else if !families.isEmpty {
        families[families.count - 1].samples.append(line)
      }
    }
    var out: [UInt8] = []
    out.reserveCapacity(text.count)
    for family in families.sorted(by: { $0.name < $1.name }) {
      for line in family.header + family.samples.sorted() {
        out.append(contentsOf: line.utf8)
        out.append(0x0a)
      }
    }
    return out
  }

  /// Rewrites the text format as OpenMetrics 1.0: a counter's family is named without its
  /// `_total` suffix in `# HELP`/`# TYPE` (the sample keeps it), and the exposition ends with
  /// `# EOF`. Nothing else differs for gauges and counters with these help texts (no quotes).
  static func openMetrics(_ text: [UInt8]) -> [UInt8] {
    let lines = text.split(separator: 0x0a, omittingEmptySubsequences: true)
    var counters: Set<Substring> = []
    for line in lines where line.starts(with: "# TYPE ".utf8) {
      let fields = String(decoding: line, as: UTF8.self).split(separator: " ")
      if fields.count == 4 && fields[3] == "counter" { counters.insert(fields[2]) }
    }
    var out: [UInt8] = []
    out.reserveCapacity(text.count + 8)
    for line in lines {
      let string = String(decoding: line, as: UTF8.self)
      if string.hasPrefix("# HELP ") || string.hasPrefix("# TYPE ") {
        let fields = string.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        if fields.count == 4, counters.contains(fields[2]), fields[2].hasSuffix("_total") {
          out.append(
            contentsOf: "\(fields[0]) \(fields[1]) \(fields[2].dropLast(6)) \(fields[3])".utf8)
          out.append(0x0a)
          continue
        }
      }
      out.append(contentsOf: line)
      out.append(0x0a)
    }
    out.append(contentsOf: "# EOF\n".utf8)
    return out
  }

  static func protoLabel(_ t: TransportProtocol) -> String { t == .tcp ? "tcp" : "udp" }
  static func familyLabel(_ f: AddressFamily) -> String { f == .inet ? "inet" : "inet6" }
}

extension Substring {
  /// Without leading and trailing spaces and tabs.
  var trimmingSpaces: Substring {
    var s = self
    while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
    while let c = s.last, c == " " || c == "\t" { s.removeLast() }
    return s
  }
}
