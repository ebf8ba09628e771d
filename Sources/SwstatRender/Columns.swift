/// One column of a table: its header, its width (a minimum: longer text is kept whole, as
/// printf's `%-*s` keeps it, unless the writer cuts it) and its side.
public struct Column: Sendable {
  /// The header text.
  public var header: String
  /// The width in columns (0: as wide as its text, for a last column).
  public var width: Int
  /// Whether text is right-aligned (numbers).
  public var right: Bool

  /// A column from its parts.
  public init(_ header: String, _ width: Int, right: Bool = false) {
    self.header = header
    self.width = width
    self.right = right
  }

  /// The header cell, padded to the width.
  public var headerCell: String {
    let pad = String(repeating: " ", count: max(0, width - header.count))
    return right ? pad + header : header + pad
  }
}

/// The column layouts of swstat's tables, as data: the header line is made from them, and the
/// row writers pad to the same widths, so no header is typed twice and no width is written in
/// two places.
public enum Columns {
  /// --all-netns's label column, before every row of every table (`%-16s `).
  public static let netns = Column("Netns", 16)

  /// netstat's internet table (`tcp_do_one`'s `"%-4s  %6ld %6ld %-*s %-*s %-11s"`).
  public static let proto = Column("Proto", 5)
  public static let receiveQueue = Column("Recv-Q", 6, right: true)
  public static let sendQueue = Column("Send-Q", 6, right: true)
  public static let localAddress = Column("Local Address", 23)
  public static let foreignAddress = Column("Foreign Address", 23)
  public static let state = Column("State", 11)
  /// -e (`finish_this_one`'s `" %-10s " "%-10lu"`).
  public static let user = Column("User", 10)
  public static let inode = Column("Inode", 10)
  /// -p (`" %-20s"`, netstat's PROGNAME_WIDTH).
  public static let program = Column("PID/Program name", 20)
  /// -o.
  public static let timer = Column("Timer", 0)

  /// The internet table's columns for these options.
  public static func inet(extend: Bool, programs: Bool, timers: Bool) -> [Column] {
    [proto, receiveQueue, sendQueue, localAddress, foreignAddress, state]
      + (extend ? [user, inode] : []) + (programs ? [program] : []) + (timers ? [timer] : [])
  }

  /// netstat's UNIX table (`unix_do_one`'s `"%-5s %-6ld %-11s %-10s %-13s "`, `"%-8lu"`).
  public static let unixProto = Column("Proto", 5)
  public static let refCount = Column("RefCnt", 6)
  public static let flags = Column("Flags", 11)
  public static let type = Column("Type", 10)
  public static let unixState = Column("State", 13)
  public static let unixInode = Column("I-Node", 8)
  public static let path = Column("Path", 0)

  /// The UNIX table's columns.
  public static func unix(programs: Bool) -> [Column] {
    [unixProto, refCount, flags, type, unixState, unixInode] + (programs ? [program] : [])
      + [path]
  }

  /// `--events`' line: time, kind, proto, the two ends, the state (no header).
  public static let eventKind = Column("EVENT", 6)
  public static let eventProto = Column("PROTO", 4)

  /// `--count`'s first column.
  public static let countState = Column("State", 14)

  /// The header line for `columns`, cells separated by one space; `labelled` puts the Netns
  /// column first. Trailing padding is kept, as netstat writes it.
  public static func header(_ columns: [Column], labelled: Bool = false) -> String {
    // A loop, not joined(separator:): that resolves an associated type at run time (a scan of
    // every conformance record in the binary, megabytes of pages touched).
    var line = labelled ? netns.headerCell + " " : ""
    for (i, column) in columns.enumerated() {
      if i > 0 { line += " " }
      line += column.headerCell
    }
    return line
  }
}
