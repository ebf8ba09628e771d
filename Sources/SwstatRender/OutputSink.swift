import SwstatCore

/// What every output of swstat is: the netstat table, NDJSON, the UNIX table, the counts, the
/// grouped counts, the event log, the watch line and dashboard, the statistics, the exporter's
/// exposition. A mode hands it sections and items in order and says when it is done; the sink
/// decides the words (from `Vocabulary`) and the layout (from `Columns`), and writes to an
/// `OutputBuffer`. Aggregating sinks (counts) write at `end`.
public protocol OutputSink {
  /// What the sink is handed: a socket, a UNIX socket, an event, a watch frame, a section of
  /// counters.
  associatedtype Item
  /// A part of the output starts: a table (its banner and header when it is the first of its
  /// kind), with the owners of the sockets that follow.
  mutating func begin(_ section: Section) throws(OutputError)
  /// One item.
  mutating func write(_ item: borrowing Item) throws(OutputError)
  /// Everything has been handed over: write what was gathered and flush.
  mutating func end() throws(OutputError)
}

/// Which part of the output the next items belong to.
public struct Section {
  /// The table the items come from.
  public enum Table: Equatable {
    /// tcp, tcp6, udp, udp6 (the records say which).
    case inet
    /// udpl/udpl6 or raw/raw6.
    case extra(ExtraInetTable)
    /// UNIX domain sockets.
    case unix
    /// Anything else (events, frames, statistics).
    case other
  }

  /// The table.
  public var table: Table
  /// The owners of the sockets that follow (with -p or an owner filter), else nil.
  public var owners: OwnerTable?
  /// `--all-netns`: the namespace the items come from (a label of its own choosing: shown
  /// visibly, never raw).
  public var netns: [UInt8]?

  /// A section from its parts.
  public init(_ table: Table = .inet, owners: OwnerTable? = nil, netns: [UInt8]? = nil) {
    self.table = table
    self.owners = owners
    self.netns = netns
  }
}
