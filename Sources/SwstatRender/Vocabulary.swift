import SwstatCore

/// Every word swstat prints for a kernel number, decided once: the table, the JSON, the counts,
/// the live modes and the exporter all take their state words, timer words, address text and
/// owner labels from here, so they cannot disagree.
public enum Vocabulary {
  /// How a state is spelled: netstat's table leaves an unconnected UDP socket's State blank;
  /// everything else (JSON, counts, events, the exporter) calls it CLOSE, the kernel's state.
  public enum StateStyle: Sendable {
    /// netstat's State column.
    case table
    /// Data: JSON, counts, events, metrics.
    case data
  }

  /// Each known state's word by kernel number (index 0 unused), from `SocketState.name`.
  private static let tcpWords: [StaticString] = [""] + SocketState.allCases.map(\.name)

  /// The UDP states the exporter always lists: connected (ESTABLISHED) and not (CLOSE). (The
  /// TCP states counted are `SocketState.counted`.)
  public static let countedUDPStates: [SocketState] = [.established, .close]

  /// The word for a state code of `transport` in `style`; `UNKNOWN(n)` for a number without one
  /// (UDP: `UNKNOWN`, as net-tools prints it).
  @inline(__always)
  public static func withStateWord<R>(
    _ code: UInt8, _ transport: TransportProtocol, _ style: StateStyle,
    _ body: (UnsafeRawBufferPointer) -> R
  ) -> R {
    let s: StaticString
    if transport == .udp {
      // netstat's UDP words: connected or not (blank in its table).
      s =
        code == SocketState.established.rawValue
        ? SocketState.established.name
        : code == SocketState.close.rawValue
          ? (style == .table ? "" : SocketState.close.name) : "UNKNOWN"
    } else if code != 0 && Int(code) < tcpWords.count {
      s = tcpWords[Int(code)]
    } else {
      var text = "UNKNOWN(\(code))"
      return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
    return body(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
  }

  /// The state word as a string.
  public static func stateWord(
    _ code: UInt8, _ transport: TransportProtocol, _ style: StateStyle = .data
  ) -> String {
    withStateWord(code, transport, style) { String(decoding: $0, as: UTF8.self) }
  }

  /// The state word of a record as a string.
  public static func stateWord(_ r: borrowing SocketRecord, _ style: StateStyle = .data) -> String {
    stateWord(r.stateCode, r.transport, style)
  }

  /// netstat -o's timer word for a kernel timer number (`idiag_timer`): the same in the table
  /// and in JSON. UDP's table writes `on` with the number (`udp_do_one`), see `netstatTimer`.
  public static func timerWord(_ code: UInt8) -> String {
    switch code {
    case 0: "off"
    case 1: "on"
    case 2: "keepalive"
    case 3: "timewait"
    case 4: "probe"
    default: "unkn-\(code)"
    }
  }

  /// netstat -n's address text: numeric, a v4-mapped address as IPv4 (net-tools
  /// `fix_v4_address`), for the table and the live modes' lines. Needs 46 bytes at `out`.
  @inline(__always)
  public static func writeNetstatAddress(
    _ address: IPAddress, into out: UnsafeMutablePointer<UInt8>
  ) -> Int {
    address.isIPv4Mapped
      ? AddressText.writeIPv4(UInt32(truncatingIfNeeded: address.low), into: out)
      : AddressText.write(address, into: out)
  }

  /// `writeNetstatAddress` as a string.
  public static func netstatAddress(_ address: IPAddress) -> String {
    RowCursor.string { $0.p += writeNetstatAddress(address, into: $0.p) }
  }

  /// The address as inet_ntop writes it (JSON, `--count-by peer`: `::ffff:` kept).
  public static func dataAddress(_ address: IPAddress) -> String {
    RowCursor.string { $0.p += AddressText.write(address, into: $0.p) }
  }

  /// `127.0.0.1:5000`, `::1:5000` — netstat -n's endpoint, whole; port 0 is `*`. Needs 52
  /// bytes at the cursor.
  @inline(__always)
  public static func writeNetstatEndpoint(_ e: Endpoint, to c: inout RowCursor) {
    c.p += writeNetstatAddress(e.address, into: c.p)
    c.put(0x3a)
    if e.port == 0 { c.put(0x2a) } else { c.decimal(UInt64(e.port)) }
  }

  /// `writeNetstatEndpoint` as a string.
  public static func netstatEndpoint(_ e: Endpoint) -> String {
    RowCursor.string { writeNetstatEndpoint(e, to: &$0) }
  }

  /// `127.0.0.1:8080` or `[::1]:8080`: the endpoint as a URL writes it (the exporter's labels).
  public static func bracketedEndpoint(_ e: Endpoint) -> String {
    let a = dataAddress(e.address)
    return e.address.family == .inet6 ? "[\(a)]:\(e.port)" : "\(a):\(e.port)"
  }

  /// The owner label netstat's table shows, `PID/Program name`, cut as netstat cuts it: 19
  /// bytes (netstat's `PROGNAME_WIDTH - 1`), or 19 display columns when written visibly.
  public static let ownerLabelColumns = 19

  /// What a live mode shows for a socket whose owner it only remembers: `(was 1234/nginx)`.
  public static func formerOwner(_ label: String) -> String { "(was \(label))" }
}

extension StaticString {
  /// The bytes, as a buffer.
  func utf8Buffer() -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount)
  }
}
