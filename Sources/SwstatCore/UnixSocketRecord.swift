/// One UNIX domain socket, the same whichever source produced it (/proc/net/unix or unix_diag).
/// Fields follow the columns of /proc/net/unix, which netstat prints.
public struct UnixSocketRecord: Hashable, Sendable {
  /// `__SO_ACCEPTCON`: the socket called listen() (netstat's `ACC` flag).
  public static let acceptFlag: UInt32 = 1 << 16

  /// The socket type: SOCK_STREAM (1), SOCK_DGRAM (2), SOCK_SEQPACKET (5), …
  public var type: UInt8
  /// The `St` column, a `socket_state`: 0 free, 1 unconnected, 2 connecting, 3 connected,
  /// 4 disconnecting. The kernel derives it from sk_state and whether a `struct socket` exists.
  public var socketState: UInt8
  /// The `Flags` column: `acceptFlag` for a listener.
  public var flags: UInt32
  /// The `Protocol` column (always 0 on Linux).
  public var protocolNumber: UInt32
  /// The `RefCount` column (/proc only; unix_diag does not report it).
  public var referenceCount: UInt32?
  /// The socket's inode; 0 for the server end of a connection not yet accepted.
  public var inode: UInt64
  /// The name as /proc/net/unix prints it: a path, `@name` for an abstract name (NUL bytes
  /// printed as `@`), empty when unnamed.
  public var path: [UInt8]
  /// The peer's inode (unix_diag only).
  public var peerInode: UInt32?
  /// Bytes (or, for a listener, connections) queued for reading (unix_diag only).
  public var receiveQueue: UInt32?
  /// Bytes queued for sending, or a listener's backlog (unix_diag only).
  public var sendQueue: UInt32?
  /// The owner's uid (unix_diag only).
  public var uid: UInt32?

  /// A record from its parts.
  public init(
    type: UInt8, socketState: UInt8, flags: UInt32, protocolNumber: UInt32 = 0,
    referenceCount: UInt32? = nil, inode: UInt64, path: [UInt8] = [], peerInode: UInt32? = nil,
    receiveQueue: UInt32? = nil, sendQueue: UInt32? = nil, uid: UInt32? = nil
  ) {
    self.type = type
    self.socketState = socketState
    self.flags = flags
    self.protocolNumber = protocolNumber
    self.referenceCount = referenceCount
    self.inode = inode
    self.path = path
    self.peerInode = peerInode
    self.receiveQueue = receiveQueue
    self.sendQueue = sendQueue
    self.uid = uid
  }

  /// Whether netstat counts this socket as a server: unconnected with `ACC` (`unix_do_one`).
  public var isListening: Bool { socketState == 1 && flags & Self.acceptFlag != 0 }

  /// Whether the socket belongs in a listing with netstat's -l / -a split.
  public func matches(_ scope: ListeningScope) -> Bool {
    switch scope {
    case .all: true
    case .listening: isListening
    case .connected: !isListening
    }
  }
}
