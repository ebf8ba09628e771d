import Glibc
import SwstatCore
import SwstatTestSupport
import Testing

/// The live modes' owner cache walks only what changed between ticks. Serialized and with room:
/// beside the fault tests' process churn on two cores, a walk of /proc can take long.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct OwnerCacheTests {
  /// A second refresh right after the first walks (almost) no fd folder again, finds the same
  /// owners, and a process that appears is walked and found.
  @Test func onlyNewOrChangedProcessesAreWalked() throws {
    let cache = OwnerCache()
    let first = cache.refresh(inodes: [])
    let walkedFirst = cache.lastWalked
    #expect(walkedFirst > 0)
    let second = cache.refresh(inodes: [])
    // Only processes whose number of open files changed in between (this test runner's own
    // threads may open a few) are walked again.
    #expect(
      cache.lastWalked < max(2, walkedFirst / 2), "walked \(cache.lastWalked) of \(walkedFirst)")
    #expect(second.owners.count >= first.owners.count - 8)

    let fixture = try SocketFixture()
    defer { fixture.stop() }
    let third = cache.refresh(inodes: [])
    #expect(cache.lastWalked >= 1 && cache.lastWalked < walkedFirst + 4)
    #expect(third.owners.contains { $0.owner.pid == fixture.pid })
    // A full walk gives the same owners for the fixture's sockets.
    let full = ProcessOwners.scan()
    let mine = full.owners.filter { $0.owner.pid == fixture.pid }.map(\.inode)
    #expect(!mine.isEmpty)
    for inode in mine { #expect(third.owner(of: inode)?.pid == fixture.pid) }
  }

  /// Processes that exit drop out of the cache: it holds no more than the processes alive.
  @Test func exitedProcessesAreForgotten() throws {
    let cache = OwnerCache()
    let fixture = try SocketFixture()
    let pid = fixture.pid
    #expect(cache.refresh(inodes: []).owners.contains { $0.owner.pid == pid })
    fixture.stop()
    usleep(200_000)
    #expect(!cache.refresh(inodes: []).owners.contains { $0.owner.pid == pid })
  }
}
