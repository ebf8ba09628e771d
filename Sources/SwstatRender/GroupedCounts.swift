import SwstatCore

/// A key sockets can be grouped by with `--count-by`.
public enum CountKey: String, CaseIterable, Sendable {
  /// netstat's State word (UDP: ESTABLISHED or CLOSE).
  case state
  /// The local port.
  case lport
  /// The remote port.
  case rport
  /// The remote address.
  case peer
  /// The owning program (needs the owner walk).
  case program
  /// The owner's user id.
  case uid

  /// Parses `lport,state`; nil with the bad key's name when one is unknown.
  public static func parseList(_ text: String) -> Result<[CountKey], BadKey> {
    var keys: [CountKey] = []
    for part in text.lowercased().split(separator: ",") {
      guard let k = CountKey(rawValue: String(part)) else {
        return .failure(BadKey(name: String(part)))
      }
      if !keys.contains(k) { keys.append(k) }
    }
    return keys.isEmpty ? .failure(BadKey(name: text)) : .success(keys)
  }

  /// An unknown `--count-by` key.
  public struct BadKey: Error, CustomStringConvertible {
    /// The key as given.
    public var name: String
    /// `unknown key "x" (keys: state, lport, rport, peer, program, uid)`.
    public var description: String {
      "unknown key \"\(name)\" (keys: \(CountKey.allCases.map(\.rawValue).joined(separator: ", ")))"
    }
  }
}

/// `--count-by KEYS`: sockets grouped by the values of some keys and counted — what
/// `netstat -tan | awk … | sort | uniq -c | sort -rn` gives — sorted by count, largest first,
/// then by the keys' text.
public struct GroupedCounts {
  /// A key's value: numbers sort as numbers, text as text.
  public enum Value: Hashable, Comparable {
    case number(Int)
    case text(String)
    case missing

    /// The value as the table shows it (`-` when missing).
    public var text: String {
      switch self {
      case .number(let n): String(n)
      case .text(let s): s
      case .missing: "-"
      }
    }
  }

  /// The keys, in the order given.
  public let keys: [CountKey]
  /// Each group's key values and count.
  public private(set) var groups: [[Value]: Int] = [:]
  private let program: (UInt64) -> String?

  /// Empty groups for `keys`; `program` names the owner of an inode (for `program`).
  public init(keys: [CountKey], program: @escaping (UInt64) -> String? = { _ in nil }) {
    self.keys = keys
    self.program = program
  }

  /// Counts one socket.
  public mutating func add(_ r: SocketRecord) {
    let values = keys.map { key -> Value in
      switch key {
      case .state: .text(JSONRenderer.stateName(r))
      case .lport: .number(Int(r.local.port))
      case .rport: .number(Int(r.remote.port))
      case .peer: .text(Self.addressText(r.remote.address))
      case .program: program(r.inode).map { .text($0) } ?? .missing
      case .uid: .number(Int(r.uid))
      }
    }
    groups[values, default: 0] += 1
  }

  /// Groups sorted by count (largest first), then by their values.
  public var sorted: [(values: [Value], count: Int)] {
    groups.map { ($0.key, $0.value) }.sorted {
      $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.lexicographicallyPrecedes($1.0)
    }
  }

  private static func addressText(_ a: IPAddress) -> String {
    var buf = [UInt8](repeating: 0, count: 64)
    let n = buf.withUnsafeMutableBufferPointer { AddressText.write(a, into: $0.baseAddress!) }
    return String(decoding: buf[..<n], as: UTF8.self)
  }

  /// The table: `COUNT` right-aligned, then one column per key, like `uniq -c`.
  public func writeTable(to out: OutputBuffer, header: Bool) {
    let rows = sorted
    let countWidth = max(5, String(rows.first?.count ?? 0).count)
    var widths = keys.map { $0.rawValue.count }
    for row in rows {
      for (i, v) in row.values.enumerated() { widths[i] = max(widths[i], v.text.count) }
    }
    if header {
      out.append(String(repeating: " ", count: countWidth - 5) + "COUNT")
      for (i, k) in keys.enumerated() {
        out.append("  ")
        out.append(
          i == keys.count - 1 ? k.rawValue.uppercased() : pad(k.rawValue.uppercased(), widths[i]))
      }
      out.append(0x0a)
    }
    for row in rows {
      let n = String(row.count)
      out.append(String(repeating: " ", count: countWidth - n.count) + n)
      for (i, v) in row.values.enumerated() {
        out.append("  ")
        out.append(i == keys.count - 1 ? v.text : pad(v.text, widths[i]))
      }
      out.append(0x0a)
    }
  }

  /// NDJSON: one object per group, `{"lport":443,"state":"ESTABLISHED","count":12}`.
  public func writeJSON(to out: OutputBuffer) throws(OutputError) {
    for row in sorted {
      var c = RowCursor(try out.reserveRow())
      c.put(0x7b)
      for (i, k) in keys.enumerated() {
        c.jsonString(k.rawValue)
        c.put(0x3a)
        switch row.values[i] {
        case .number(let n): c.decimal(UInt64(n))
        case .text(let s): c.jsonString(s)
        case .missing: c.put("null")
        }
        c.put(0x2c)
      }
      c.put("\"count\":")
      c.decimal(UInt64(row.count))
      c.put("}\n")
      out.commitRow(c.p)
    }
  }

  private func pad(_ s: String, _ w: Int) -> String {
    s + String(repeating: " ", count: max(0, w - s.count))
  }
}
