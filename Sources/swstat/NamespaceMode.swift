import Glibc
import SwstatCore
import SwstatRender

/// `--netns NAME|PATH` and `--all-netns`: the same listings, dumped from other network
/// namespaces. Each namespace is entered with setns(CLONE_NEWNET) on a helper thread
/// (`NetworkNamespaces.run`), so the calling thread never moves; sock_diag sockets opened there
/// belong to that namespace and /proc/net is read from /proc/thread-self/net. The -p walk of
/// /proc/[pid]/fd does not depend on the namespace (socket inodes are unique host-wide), so it
/// runs once.
extension Listing {
  /// The same settings, run inside a namespace thread.
  var insideNamespace: Listing {
    var inner = options
    inner.netns = nil
    inner.allNetns = false
    inner.netRoot = "/proc/thread-self"
    return Listing(options: inner)
  }

  func runNamespaces() throws -> Int32 {
    let flag = options.allNetns ? "--all-netns" : "--netns"
    guard geteuid() == 0 else { throw NamespaceError(context: flag, errno: EPERM) }
    guard let name = options.netns else { return try runAllNamespaces() }
    let inner = insideNamespace
    var status: Int32 = 0
    try NetworkNamespaces.run(in: NetworkNamespaces.path(for: name), context: flag) {
      status = try inner.run()
    }
    return status
  }

  /// Every namespace in turn, section by section: one banner and header per section, then each
  /// namespace's rows with its label in a first column, `Netns` (`%-16s `); in JSON, `"netns"`.
  func runAllNamespaces() throws -> Int32 {
    let namespaces = NetworkNamespaces.all(procRoot: options.procRoot)
    let inner = insideNamespace
    let out = OutputBuffer()
    let owners = options.statistics ? nil : scanOwners()
    func each(_ body: @escaping (TablePass) throws -> Void) throws {
      for ns in namespaces {
        let pass = TablePass(out: out, owners: owners, netns: ns.label)
        do {
          try NetworkNamespaces.run(in: ns.path, context: "--all-netns") { try body(pass) }
        } catch let e as NamespaceError where e.errno == ENOENT {
          continue  // the process that held it has exited
        }
      }
    }
    if options.statistics {
      try each { pass in try inner.writeStatistics(pass.out, netns: pass.netns) }
      try out.flush()
      return 0
    }
    if otherMode {
      throw ExtraTablesError("--all-netns lists sockets; it does not count or watch them")
    }
    let selection = tableSelection
    let header = TablePass(out: out, owners: owners, netns: "")
    if selection.internet {
      if !options.json && !options.noHeader { writeInternetHeader(header) }
      try each { pass in try inner.writeInternetRows(selection, pass) }
    }
    if selection.unix {
      if !options.json && !options.noHeader { writeUnixHeader(header) }
      try each { pass in try inner.writeUnixRows(pass, explicit: false) }
    }
    try out.flush()
    return 0
  }
}
