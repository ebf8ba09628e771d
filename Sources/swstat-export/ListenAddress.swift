import Glibc

/// A `--listen` value: a numeric IPv4 address or a bracketed IPv6 address, and a port
/// (`127.0.0.1:9433`, `[::1]:9433`, `0.0.0.0:9433`; port 0 picks a free one). `localhost` is
/// 127.0.0.1; other names are refused, so the address served is the one written.
struct ListenAddress: Equatable, CustomStringConvertible {
  /// The address in the form inet_pton reads.
  var host: String
  /// Whether `host` is IPv6.
  var isIPv6: Bool
  /// The port; 0 for one the kernel picks.
  var port: UInt16

  /// Parses `value`, or throws `.badAddress` with the reason.
  init(parsing value: String) throws(ExportError) {
    func bad(_ reason: String) -> ExportError { .badAddress(value, reason: reason) }
    guard let colon = value.lastIndex(of: ":") else {
      throw bad("expected ADDRESS:PORT, as in 127.0.0.1:9433 or [::1]:9433")
    }
    var host = String(value[..<colon])
    let portText = value[value.index(after: colon)...]
    guard let port = UInt16(portText), portText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
      throw bad("port '\(portText)' is not a number from 0 to 65535")
    }
    let isIPv6 = host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2
    if isIPv6 {
      host = String(host.dropFirst().dropLast())
    } else if host.contains(":") {
      throw bad("an IPv6 address goes in brackets, as in [::1]:\(port)")
    } else if host == "localhost" {
      host = "127.0.0.1"
    }
    if host.isEmpty { throw bad("no address before the port (0.0.0.0 or [::] for all)") }
    var buffer = in6_addr()
    guard inet_pton(isIPv6 ? AF_INET6 : AF_INET, host, &buffer) == 1 else {
      throw bad("'\(host)' is not a numeric \(isIPv6 ? "IPv6" : "IPv4") address")
    }
    self.host = host
    self.isIPv6 = isIPv6
    self.port = port
  }

  /// `127.0.0.1:9433` or `[::1]:9433`.
  var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
