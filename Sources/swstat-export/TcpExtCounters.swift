/// The listen counters of /proc/net/netstat's `TcpExt:` lines (a header line of names, then a
/// line of values), which `nstat` shows as TcpExtListenOverflows and TcpExtListenDrops.
struct TcpExtCounters: Equatable {
  /// Times a listener's accept queue was full when a handshake completed (`LINUX_MIB_LISTENOVERFLOWS`).
  var listenOverflows: UInt64
  /// SYNs and handshakes dropped at a listener, overflows included (`LINUX_MIB_LISTENDROPS`).
  var listenDrops: UInt64

  /// Reads `<procRoot>/net/netstat`; nil when the file does not exist (a captured /proc tree).
  static func read(procRoot: String) throws(ExportError) -> TcpExtCounters? {
    let path = procRoot + "/net/netstat"
    let bytes: [UInt8]
    do {
      bytes = try RegularFile.read(path)
    } catch {
      switch error {
      case .system(.noSuchFileOrDirectory): return nil
      case .system(let errno): throw .file(path: path, errno: errno)
      case .notRegular(let kind): throw .notRegular(path: path, kind: kind)
      }
    }
    guard let counters = parse(bytes) else {
      throw .malformed(path: path, reason: "no TcpExt ListenOverflows and ListenDrops")
    }
    return counters
  }

  /// Finds the two counters in the file's text; nil when the TcpExt lines lack them.
  static func parse(_ bytes: [UInt8]) -> TcpExtCounters? {
    let lines = bytes.split(separator: 0x0a).map { String(decoding: $0, as: UTF8.self) }
    for (i, header) in lines.enumerated() where header.hasPrefix("TcpExt:") && i + 1 < lines.count {
      let names = header.split(separator: " ")
      let values = lines[i + 1].split(separator: " ")
      guard values.first == "TcpExt:", values.count == names.count else { continue }
      func value(_ name: String) -> UInt64? {
        names.firstIndex { $0 == name }.flatMap { UInt64(values[$0]) }
      }
      guard let overflows = value("ListenOverflows"), let drops = value("ListenDrops") else {
        return nil
      }
      return TcpExtCounters(listenOverflows: overflows, listenDrops: drops)
    }
    return nil
  }
}
