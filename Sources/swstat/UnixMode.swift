import SwstatCore
import SwstatRender

/// `-x`: UNIX domain sockets, as netstat's `unix_info` prints them.
extension Listing {
  /// /proc/net/unix for the table: only it has netstat's RefCnt column and the sockets still
  /// in an accept queue (see `UnixSocketSource`); `--source netlink` reads unix_diag instead.
  var unixSource: UnixSocketSource {
    let root = options.netRoot ?? options.procRoot
    switch options.source {
    case .netlink: return .netlink
    case .proc: return .proc(root: root)
    case .auto: return .auto(root: root)
    }
  }

  func writeUnixHeader(_ pass: TablePass) {
    ExtraTablesRenderer(options: renderOptions, output: pass.out)
      .writeUnixHeader(columnPrefix: pass.headerPrefix)
  }

  /// The rows netstat's -l/-a split keeps, in the source's order. A missing /proc/net/unix is
  /// skipped unless -x asked for it.
  func writeUnixRows(_ pass: TablePass, explicit: Bool) throws {
    let owners = pass.owners
    let rows = ExtraTablesRenderer(
      options: renderOptions, output: pass.out, owner: owners.map { o in { o.label(of: $0) } })
    rows.rowPrefix = pass.rowPrefix
    let info = owners.map { ownerLists($0) }
    let json = ExtraTablesJSON(output: pass.out, owners: info.map { all in { all[$0] ?? [] } })
    json.netns = pass.netns.map { Array($0.utf8) }
    let scope = self.scope
    let asJSON = options.json
    do {
      try unixSource.forEachSocket { r in
        guard r.matches(scope) else { return }
        if asJSON { try json.writeUnix(r) } else { try rows.writeUnix(r) }
      }
    } catch SocketSourceError.unavailable(let path, let errno) where !explicit {
      _ = (path, errno)
    }
  }
}
