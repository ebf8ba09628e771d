import SwstatCore

/// A key sockets can be grouped by with `--count-by`.
public enum CountKey: String, CaseIterable, Sendable {
  /// The state's data word (UDP: ESTABLISHED or CLOSE).
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

  /// Parses `lport,state`, or says what is wrong: an unknown key, an empty one, one given
  /// twice.
  public static func parseList(_ text: String) -> Result<[CountKey], BadKey> {
    var keys: [CountKey] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
      guard let k = CountKey(rawValue: part.lowercased()) else {
        return .failure(BadKey(name: String(part), text: text))
      }
      guard !keys.contains(k) else {
        return .failure(BadKey(name: String(part), text: text, repeated: true))
      }
      keys.append(k)
    }
    return .success(keys)
  }

  /// A `--count-by` list that does not parse.
  public struct BadKey: Error, CustomStringConvertible, Equatable {
    /// The key as given.
    public var name: String
    /// The whole list.
    public var text: String
    /// Whether the key is given twice.
    public var repeated = false
    /// `unknown key "x" in "lport,x" (keys: state, lport, rport, peer, program, uid)`.
    public var description: String {
      if repeated { return "key \"\(name)\" given twice in \"\(text)\"" }
      if name.isEmpty { return "empty key in \"\(text)\"" }
      return "unknown key \"\(name)\" in \"\(text)\" (keys: "
        + CountKey.allCases.map(\.rawValue).joined(separator: ", ") + ")"
    }
  }
}

/// `--count-by KEYS`: sockets grouped by the values of some keys and counted — what
/// `netstat -tan | awk … | sort | uniq -c | sort -rn` gives — sorted by count, largest first,
/// then by the keys' values; as a table (`COUNT LPORT STATE`, like `uniq -c`) or NDJSON.
/// Program names are any local user's choice: the table shows them visibly, so a name cannot
/// forge a row.
public struct GroupedCountTable: OutputSink {
  /// A key's value: numbers sort as numbers, text as text.
  public enum Value: Hashable, Comparable, Sendable {
    case number(Int)
    case text(String)
    /// A name as its bytes (a program): shown visibly in the table, as a JSON string in JSON.
    case name([UInt8])
    case missing

    /// The value as the table shows it (`-` when missing).
    public var text: String {
      switch self {
      case .number(let n): String(n)
      case .text(let s): s
      case .name(let b): Visible.text(b)
      case .missing: "-"
      }
    }

    public static func < (a: Value, b: Value) -> Bool {
      switch (a, b) {
      case (.number(let x), .number(let y)): x < y
      case (.text(let x), .text(let y)): x < y
      case (.name(let x), .name(let y)): x.lexicographicallyPrecedes(y)
      default: a.rank < b.rank
      }
    }

    private var rank: Int {
      switch self {
      case .number: 0
      case .text: 1
      case .name: 2
      case .missing: 3
      }
    }
  }

  /// The keys, in the order given.
  public let keys: [CountKey]
  /// Each group's key values and count.
  public private(set) var groups: [[Value]: Int] = [:]
  private var owners: OwnerTable? = nil
  private let out: OutputBuffer
  private let json: Bool
  private let header: Bool

  /// Empty groups for `keys`, written as a table (with a header unless `header` is false) or as
  /// NDJSON with `json`.
  public init(keys: [CountKey], output: OutputBuffer, json: Bool, header: Bool = true) {
    self.keys = keys
    self.out = output
    self.json = json
    self.header = header
  }

  /// Whether the keys need the sockets' owners.
  public var needsOwners: Bool { keys.contains(.program) }

  public mutating func begin(_ section: Section) throws(OutputError) { owners = section.owners }

  /// Counts one socket.
  public mutating func write(_ r: borrowing SocketRecord) throws(OutputError) {
    var values: [Value] = []
    values.reserveCapacity(keys.count)
    for key in keys {
      switch key {
      case .state: values.append(.text(Vocabulary.stateWord(r)))
      case .lport: values.append(.number(Int(r.local.port)))
      case .rport: values.append(.number(Int(r.remote.port)))
      case .peer: values.append(.text(Vocabulary.dataAddress(r.remote.address)))
      case .program: values.append(owners?.program(of: r.inode).map { .name($0) } ?? .missing)
      case .uid: values.append(.number(Int(r.uid)))
      }
    }
    groups[values, default: 0] += 1
  }

  public mutating func end() throws(OutputError) {
    if json { try writeJSON() } else { writeTable() }
    try out.flush()
  }

  /// Groups sorted by count (largest first), then by their values.
  public var sorted: [(values: [Value], count: Int)] {
    groups.map { ($0.key, $0.value) }.sorted {
      $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.lexicographicallyPrecedes($1.0)
    }
  }

  /// The table: `COUNT` right-aligned, then one column per key.
  private func writeTable() {
    let rows = sorted.map { ($0.values.map(\.text), $0.count) }
    let countWidth = max(5, String(rows.first?.1 ?? 0).count)
    var widths = keys.map { $0.rawValue.count }
    for row in rows {
      for (i, v) in row.0.enumerated() { widths[i] = max(widths[i], Visible.width(v.utf8)) }
    }
    func cells(_ values: [String]) {
      for (i, v) in values.enumerated() {
        out.append("  ")
        out.append(v)
        if i < keys.count - 1 {
          out.append(repeating: 0x20, count: widths[i] - Visible.width(v.utf8))
        }
      }
      out.append(0x0a)
    }
    if header {
      out.append(Column("COUNT", countWidth, right: true).headerCell)
      cells(keys.map { $0.rawValue.uppercased() })
    }
    for (values, count) in rows {
      out.append(Column(String(count), countWidth, right: true).headerCell)
      cells(values)
    }
  }

  /// NDJSON: one object per group, `{"lport":443,"state":"ESTABLISHED","count":12}`.
  private func writeJSON() throws(OutputError) {
    for row in sorted {
      let size = row.values.reduce(256) {
        if case .name(let b) = $1 { return $0 + 6 * b.count } else { return $0 + 64 }
      }
      var c = RowCursor(try out.reserveRow(size))
      c.put(0x7b)
      for (i, k) in keys.enumerated() {
        c.jsonString(k.rawValue)
        c.put(0x3a)
        switch row.values[i] {
        case .number(let n): c.decimal(UInt64(n))
        case .text(let s): c.jsonString(s)
        case .name(let b): c.jsonString(b)
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
}
