import CSwstat
import SystemPackage

// unix_diag records and the raw/udplite /proc scan; the rest of the shim is in Shim.swift.

extension UnixSocketRecord {
  /// From a unix_diag message. The St column is derived as the kernel derives it for
  /// /proc/net/unix, assuming a `struct socket` exists (unix_diag skips sockets without one).
  init(_ raw: borrowing swstat_unix_sock) {
    let listen: UInt8 = 10
    let established: UInt8 = 1
    var path: [UInt8] = []
    let n = Int(raw.name_len)
    if n > 0 {
      withUnsafeBytes(of: raw.name) { b in
        let name = Array(b.prefix(n))
        if name[0] == 0 {
          // Abstract: '@' then the name, each NUL printed as '@' (net/unix/af_unix.c).
          path = [0x40] + name.dropFirst().map { $0 == 0 ? 0x40 : $0 }
        } else {
          // A path: the kernel prints its length less the terminating NUL.
          path = name.dropLast().map { $0 == 0 ? 0x40 : $0 }
        }
      }
    }
    self.init(
      type: raw.type, socketState: raw.state == established ? 3 : 1,
      flags: raw.state == listen ? UnixSocketRecord.acceptFlag : 0, inode: UInt64(raw.inode),
      path: path, peerInode: raw.has_peer != 0 ? raw.peer_inode : nil,
      receiveQueue: raw.has_queues != 0 ? raw.recv_q : nil,
      sendQueue: raw.has_queues != 0 ? raw.send_q : nil, uid: raw.has_uid != 0 ? raw.uid : nil)
  }
}

enum UnixShim {
  /// setns(fd, CLONE_NEWNET) for the calling thread: 0 or a negative errno.
  static func enterNetworkNamespace(_ fd: Int32) -> Int32 { swstat_enter_netns(fd) }

  struct Sink {
    let body: (UnixSocketRecord) throws -> Void
    var error: (any Error)?
    var delivered = 0
  }

  /// One unix_diag dump of every state.
  static func dump(_ body: (UnixSocketRecord) throws -> Void) throws {
    let (rc, error, delivered) = withoutActuallyEscaping(body) { body in
      var sink = Sink(body: body)
      let rc = withUnsafeMutablePointer(to: &sink) { ctx in
        swstat_unix_dump(
          ~0,
          { sock, ctx in
            // swift-format-ignore: NeverForceUnwrap
            let s = ctx!.assumingMemoryBound(to: Sink.self)
            do {
              try s.pointee.body(UnixSocketRecord(sock.pointee))
              s.pointee.delivered += 1
              return 0
            } catch {
              s.pointee.error = error
              return 1
            }
          }, ctx)
      }
      return (rc, sink.error, sink.delivered)
    }
    if let error { throw error }
    if rc < 0 {
      let errno = Errno(rawValue: -rc)
      throw delivered == 0
        ? SocketSourceError.unavailable(source: "netlink", errno: errno)
        : SocketSourceError.failed(source: "netlink", errno: errno)
    }
  }

  /// Decodes recorded unix_diag replies (tests).
  static func decode(_ bytes: [UInt8], _ body: (UnixSocketRecord) throws -> Void) throws {
    var error: (any Error)?
    let rc = withoutActuallyEscaping(body) { body in
      var sink = Sink(body: body)
      let rc = bytes.withUnsafeBytes { buf in
        withUnsafeMutablePointer(to: &sink) { ctx in
          swstat_unix_parse(
            buf.baseAddress!, buf.count, 0, 0,
            { sock, ctx in
              // swift-format-ignore: NeverForceUnwrap
              let s = ctx!.assumingMemoryBound(to: Sink.self)
              do {
                try s.pointee.body(UnixSocketRecord(sock.pointee))
                return 0
              } catch {
                s.pointee.error = error
                return 1
              }
            }, ctx)
        }
      }
      error = sink.error
      return rc
    }
    if let error { throw error }
    if rc < 0 {
      throw SocketSourceError.malformed(path: "netlink", line: 0, reason: "\(Errno(rawValue: -rc))")
    }
  }

  /// Scans an open /proc/net/{raw,raw6,udplite,udplite6} table: the same line format as udp,
  /// so the records come out as UDP records (UDP's server test: an all-zero remote address).
  static func procScan(
    fd: FileDescriptor, family: AddressFamily, _ body: (borrowing SocketRecord) throws -> Void
  ) -> (rc: Int32, error: (any Error)?, delivered: Int, line: Int, reason: String) {
    var err = swstat_proc_error()
    let (rc, sink) = withSink(.acceptAll, body) { fn, ctx in
      swstat_proc_scan(fd.rawValue, Kernel.family(family), Kernel.ipprotoUDP, fn, ctx, &err)
    }
    let reason = withUnsafeBytes(of: err.reason) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    return (rc, sink.error, sink.delivered, Int(err.line), reason)
  }
}
