import Foundation
import SwstatCore
import SwstatTestSupport
import SystemPackage
import Testing

/// Where the recorded kernel dumps and /proc captures live.
let fixturesDirectory = packageRoot.appendingPathComponent("Tests/SwstatCoreTests/Fixtures")
let capturedDirectory = fixturesDirectory.appendingPathComponent("captured")

/// The four tables in file-name form.
let allTables: [SocketTable] = [
  SocketTable(family: .inet, transport: .tcp), SocketTable(family: .inet6, transport: .tcp),
  SocketTable(family: .inet, transport: .udp), SocketTable(family: .inet6, transport: .udp),
]

/// Opens `count` IPv4 loopback listeners (more than one page of /proc/net/tcp).
func openListeners(_ count: Int) -> [Int32] {
  (0..<count).compactMap { _ in
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let ok = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard ok, listen(fd, 8) == 0 else {
      close(fd)
      return nil
    }
    return fd
  }
}

/// Re-records the replay fixtures from this machine's kernel: RECORD_FIXTURES=1 swift test
/// --filter Recording. Each table is captured twice, as sock_diag replies (`<table>.nldump`)
/// and as /proc/net text (`<table>`), one right after the other, with the socket fixture and
/// 200 extra listeners open so every file spans several pages.
@Suite struct Recording {
  @Test(.enabled(if: ProcessInfo.processInfo.environment["RECORD_FIXTURES"] != nil))
  func record() throws {
    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let listeners = openListeners(200)
    defer { for fd in listeners { close(fd) } }
    try FileManager.default.createDirectory(
      at: capturedDirectory, withIntermediateDirectories: true)
    for table in allTables {
      let dumpPath = capturedDirectory.appendingPathComponent(table.procName + ".nldump").path
      let fd = try FileDescriptor.open(
        FilePath(dumpPath), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
      try NetlinkSource.record(table, to: fd)
      try fd.close()
      let text =
        try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/net/" + table.procName))
        .readToEnd() ?? Data()
      try text.write(to: capturedDirectory.appendingPathComponent(table.procName))
    }
    // The fixture's own sockets, for the replay tests to look for.
    let data = try JSONEncoder().encode(fixture.sockets)
    try data.write(to: capturedDirectory.appendingPathComponent("sockets.json"))
  }
}
