import Foundation
import SwstatTestSupport
import Testing

/// Small C programs the fault tests need, compiled once per test run into a folder of their own
/// (readable by `nobody` too, for NonRootTests). Kept here as source so that the product holds
/// no test hook: faults are made from outside, as a user's system would make them.
enum FaultHelpers {
  /// Runs a program with `socket(AF_NETLINK, …)` failing with EPERM: a seccomp-bpf filter,
  /// installed with no_new_privs (so it needs no privilege) and inherited across execv, as a
  /// container runtime's profile would refuse netlink.
  static let noNetlinkSource = #"""
    #include <errno.h>
    #include <stddef.h>
    #include <stdio.h>
    #include <unistd.h>
    #include <linux/audit.h>
    #include <linux/filter.h>
    #include <linux/seccomp.h>
    #include <sys/prctl.h>
    #include <sys/socket.h>
    #include <sys/syscall.h>

    #if defined(__x86_64__)
    #define ARCH AUDIT_ARCH_X86_64
    #elif defined(__aarch64__)
    #define ARCH AUDIT_ARCH_AARCH64
    #else
    #error "add this architecture's AUDIT_ARCH"
    #endif

    int main(int argc, char **argv) {
        if (argc < 2) {
            fprintf(stderr, "usage: no-netlink PROGRAM [ARG...]\n");
            return 64;
        }
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            perror("no-netlink: seccomp");
            return 70;
        }
        execv(argv[1], argv + 1);
        perror("no-netlink: execv");
        return 127;
    }
    """#

  /// `loadgen PAIRS SECONDS WORKERS`: holds a TCP listener on 127.0.0.1 and one on ::1 and
  /// PAIRS established connections to them (IPv4 first), prints `ready V4PORT V6PORT`, `held
  /// PORT...` (the held clients' ports, IPv4, `|`, IPv6) and `churn PORT...` (the workers'
  /// listeners); then WORKERS processes open and close loopback connections as fast as they can
  /// for SECONDS (connect, accept, close; the client closes with SO_LINGER 0, so no TIME_WAIT
  /// piles up and no port runs out), and it prints `done N SECONDS` with the number made. Exits
  /// when stdin closes. Loopback only, bounded in time.
  static let loadgenSource = #"""
    #define _GNU_SOURCE
    #include <arpa/inet.h>
    #include <netinet/in.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/resource.h>
    #include <sys/socket.h>
    #include <sys/wait.h>
    #include <time.h>
    #include <unistd.h>

    static int listener(int family, struct sockaddr_storage *addr, socklen_t *len) {
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        memset(addr, 0, sizeof(*addr));
        if (family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)addr;
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            *len = sizeof(*a);
        } else {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            *len = sizeof(*a);
        }
        if (fd < 0 || bind(fd, (struct sockaddr *)addr, *len) < 0 || listen(fd, 4096) < 0 ||
            getsockname(fd, (struct sockaddr *)addr, len) < 0) {
            perror("loadgen: listener");
            exit(1);
        }
        return fd;
    }

    static int port_of(int fd) {
        struct sockaddr_storage a;
        socklen_t len = sizeof(a);
        getsockname(fd, (struct sockaddr *)&a, &len);
        return ntohs(a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port
                                            : ((struct sockaddr_in6 *)&a)->sin6_port);
    }

    // One connection to `l`: returns the client fd and, in *server, the accepted end.
    static int connect_one(int l, struct sockaddr_storage *addr, socklen_t len, int *server) {
        int c = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *)addr, len) < 0) {
            perror("loadgen: connect");
            exit(1);
        }
        *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (*server < 0) { perror("loadgen: accept"); exit(1); }
        return c;
    }

    static double since(const struct timespec *start) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
    }

    // Opens and closes connections to its own two listeners for `seconds`; returns the count.
    static long churn(int l[2], struct sockaddr_storage addr[2], socklen_t len[2], double seconds) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
        long made = 0;
        while ((made & 63) != 0 || since(&start) < seconds) {
            int f = made & 1, server;
            int c = connect_one(l[f], &addr[f], len[f], &server);
            setsockopt(c, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
            close(c);
            close(server);
            made++;
        }
        return made;
    }

    int main(int argc, char **argv) {
        if (argc != 4) { fprintf(stderr, "usage: loadgen PAIRS SECONDS WORKERS\n"); return 64; }
        int pairs = atoi(argv[1]), workers = atoi(argv[3]);
        double seconds = atof(argv[2]);
        if (workers < 1 || workers > 16 || pairs < 0) return 64;
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
        struct sockaddr_storage addr[2];
        socklen_t len[2];
        int l[2] = {listener(AF_INET, &addr[0], &len[0]), listener(AF_INET6, &addr[1], &len[1])};
        int *held = calloc((size_t)pairs * 2 + 1, sizeof(int));
        int v4 = (pairs + 1) / 2;
        for (int i = 0; i < pairs; i++) {
            int f = i < v4 ? 0 : 1;
            held[2 * i] = connect_one(l[f], &addr[f], len[f], &held[2 * i + 1]);
        }
        // Each worker churns on listeners of its own, so no worker accepts another's connection.
        int wl[16][2];
        struct sockaddr_storage waddr[16][2];
        socklen_t wlen[16][2];
        for (int w = 0; w < workers; w++)
            for (int f = 0; f < 2; f++)
                wl[w][f] = listener(f == 0 ? AF_INET : AF_INET6, &waddr[w][f], &wlen[w][f]);
        printf("ready %d %d\nheld", port_of(l[0]), port_of(l[1]));
        for (int i = 0; i < pairs; i++) printf("%s %d", i == v4 ? " |" : "", port_of(held[2 * i]));
        if (v4 == pairs) printf(" |");
        printf("\nchurn");
        for (int w = 0; w < workers; w++) printf(" %d %d", port_of(wl[w][0]), port_of(wl[w][1]));
        printf("\n");
        fflush(stdout);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        int counts[2];
        if (pipe(counts) != 0) return 1;
        pid_t pids[16];
        for (int w = 0; w < workers; w++) {
            pids[w] = fork();
            if (pids[w] == 0) {
                // Only the parent holds the long-lived sockets: their owner stays one pid.
                for (int i = 0; i < 2 * pairs; i++) close(held[i]);
                close(l[0]);
                close(l[1]);
                long made = churn(wl[w], waddr[w], wlen[w], seconds);
                if (write(counts[1], &made, sizeof(made)) != sizeof(made)) _exit(1);
                _exit(0);
            }
        }
        long total = 0, made;
        for (int w = 0; w < workers; w++) {
            waitpid(pids[w], NULL, 0);
            if (read(counts[0], &made, sizeof(made)) == sizeof(made)) total += made;
        }
        printf("done %ld %.3f\n", total, since(&start));
        fflush(stdout);
        char b;
        while (read(0, &b, 1) > 0) {}
        return 0;
    }
    """#

  /// The folder the helpers are built in.
  static let folder: URL = {
    let url = URL(fileURLWithPath: "/tmp/swstat-fault-helpers-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    chmod(url.path, 0o755)
    return url
  }()

  /// Compiles `source` as `name` with the C compiler on PATH (the Swift toolchain's clang).
  static func build(_ name: String, _ source: String) -> Result<String, FixtureError> {
    let c = folder.appendingPathComponent(name + ".c")
    let exe = folder.appendingPathComponent(name)
    do {
      try source.write(to: c, atomically: true, encoding: .utf8)
      let cc = hasProgram("clang") ? "clang" : "cc"
      let r = try runCommand([cc, "-O2", "-Wall", "-Werror", "-o", exe.path, c.path], timeout: 120)
      guard r.status == 0 else { return .failure(.failed("\(cc) \(name).c: \(r.stderr)")) }
      return .success(exe.path)
    } catch {
      return .failure(.failed("building \(name): \(error)"))
    }
  }

  static let noNetlinkResult = build("no-netlink", noNetlinkSource)
  static let loadgenResult = build("loadgen", loadgenSource)

  /// The seccomp launcher's path.
  static func noNetlink() throws -> String { try noNetlinkResult.get() }
  /// The loopback load generator's path.
  static func loadgen() throws -> String { try loadgenResult.get() }

  /// How long the churn tests run: a few seconds, or `SWSTAT_FAULT_SECONDS` (the long run).
  static var churnSeconds: Double {
    ProcessInfo.processInfo.environment["SWSTAT_FAULT_SECONDS"].flatMap(Double.init) ?? 4
  }

  /// Rows of a listing (after its two header lines), each split into its columns.
  static func rows(_ text: String) -> [[Substring]] {
    text.split(separator: "\n").dropFirst(2).map { $0.split(separator: " ") }
  }
}

/// A command run to completion on another thread, for load that runs beside the test.
final class BackgroundCommand: @unchecked Sendable {
  private let group = DispatchGroup()
  private var result: CommandResult?

  init(_ arguments: [String], timeout: Double) {
    group.enter()
    // A thread of its own: Dispatch's worker pool may be kept busy by other tests.
    Thread.detachNewThread {
      self.result = try? runCommand(arguments, timeout: timeout)
      self.group.leave()
    }
  }

  /// Whether the command has ended.
  var isDone: Bool { group.wait(timeout: .now()) == .success }

  /// Waits for the command; nil when it could not be started.
  func wait() -> CommandResult? {
    group.wait()
    return result
  }
}

/// The load generator, running; `stop()` ends it.
final class LoadGenerator: @unchecked Sendable {
  let v4Port: Int
  let v6Port: Int
  /// The held clients' local ports, per family.
  let heldV4: [Int]
  let heldV6: [Int]
  /// The churning workers' listeners.
  let churnPorts: [Int]
  private let process: Process
  private let input: Pipe
  private let output: FileHandle
  private var pending = Data()

  init(pairs: Int, churnSeconds: Double, workers: Int = 2) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try FaultHelpers.loadgen())
    p.arguments = [String(pairs), String(churnSeconds), String(workers)]
    let out = Pipe()
    input = Pipe()
    p.standardOutput = out
    p.standardInput = input
    try p.run()
    process = p
    output = out.fileHandleForReading
    let ready = Self.line(from: output, &pending).split(separator: " ")
    let held = Self.line(from: output, &pending).split(separator: " ").dropFirst()
    churnPorts = Self.line(from: output, &pending).split(separator: " ").dropFirst().compactMap {
      Int($0)
    }
    guard ready.count == 3, ready[0] == "ready", let v4 = Int(ready[1]), let v6 = Int(ready[2])
    else {
      p.terminate()
      throw FixtureError.failed("loadgen did not start: \(ready)")
    }
    v4Port = v4
    v6Port = v6
    let bar = held.firstIndex(of: "|") ?? held.endIndex
    heldV4 = held[..<bar].compactMap { Int($0) }
    heldV6 = held[bar...].dropFirst().compactMap { Int($0) }
  }

  private static func line(from handle: FileHandle, _ pending: inout Data) -> String {
    while true {
      if let nl = pending.firstIndex(of: 0x0a) {
        let line = pending[..<nl]
        pending = pending[(nl + 1)...]
        return String(decoding: line, as: UTF8.self)
      }
      let chunk = handle.availableData
      if chunk.isEmpty { return "" }
      pending.append(chunk)
    }
  }

  /// Waits for the churn to end; returns the connections made and the seconds it took.
  func waitForChurn() -> (count: Int, seconds: Double) {
    let done = Self.line(from: output, &pending).split(separator: " ")
    guard done.count == 3, done[0] == "done", let n = Int(done[1]), let s = Double(done[2]) else {
      return (0, 0)
    }
    return (n, s)
  }

  func stop() {
    try? input.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}

/// Faults from outside swstat: netlink refused, no source at all, processes and connections
/// coming and going under the scan, output that cannot be written. One at a time: the process
/// churn and the connection churn (38k connections/s) together starve a two-core machine, and
/// the process churn's short-lived owners then go unseen.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct FaultTests {
  /// Tables a flag set reads, in order (for the -v fallback lines).
  static func tables(_ flags: String) -> [String] {
    let t = flags.contains("t") || !flags.contains("u")
    let u = flags.contains("u") || !flags.contains("t")
    return (t ? ["tcp", "tcp6"] : []) + (u ? ["udp", "udp6"] : [])
  }

  /// With socket(AF_NETLINK) refused, the listing comes from /proc/net with the same rows, and
  /// -v says so once per table, with netlink's reason. In a namespace of its own when root (so
  /// the rows are only the fixture's); otherwise on the host, compared on the fixture's ports.
  @Test func netlinkRefusedFallsBackToProc() throws {
    let launcher = try FaultHelpers.noNetlink()
    let ns: NetworkNamespace? = isRoot && hasProgram("ip") ? try NetworkNamespace() : nil
    defer { ns?.delete() }
    let fixture = try SocketFixture(in: ns)
    defer { fixture.stop() }
    func run(_ args: [String]) throws -> CommandResult {
      try ns.map { try $0.run(args) } ?? runCommand(args)
    }
    let ports = Set(fixture.ports.map(String.init))
    func mine(_ text: String) -> [String] {
      let rows = split(text).rows
      guard ns == nil else { return rows }
      return rows.filter { row in
        let cols = row.split(separator: " ")
        return cols.count > 4
          && [cols[3], cols[4]].contains {
            ports.contains(String($0.split(separator: ":").last ?? ""))
          }
      }
    }
    for flags in ["-tan", "-uan", "-tuan", "-tanpe", "-tulpn"] {
      let direct = try run([swstatPath, flags])
      let refused = try run([launcher, swstatPath, flags, "-v"])
      #expect(direct.status == 0, "\(flags): \(direct.stderr)")
      #expect(refused.status == 0, "\(flags): \(refused.stderr)")
      #expect(split(refused.stdout).header == split(direct.stdout).header, "\(flags)")
      #expect(mine(refused.stdout) == mine(direct.stdout), "\(flags)")
      #expect(!mine(direct.stdout).isEmpty, "\(flags)")
      let expected = Self.tables(flags).map {
        "swstat: netlink unavailable for \($0) (netlink: Operation not permitted (errno 1)); reading /proc/net"
      }
      #expect(refused.stderr.split(separator: "\n").map(String.init) == expected, "\(flags)")
    }
    // Without -v the fallback is silent.
    let quiet = try run([launcher, swstatPath, "-tan"])
    #expect(quiet.status == 0 && quiet.stderr.isEmpty && !quiet.stdout.isEmpty)
    // --source netlink has nothing to fall back to.
    let only = try run([launcher, swstatPath, "-tan", "--source", "netlink"])
    #expect(only.status == 1)
    #expect(only.stdout.isEmpty)
    #expect(only.stderr == "swstat: netlink: Operation not permitted (errno 1)\n")
  }

  /// No source left: an empty /proc tree, a tree whose tables are empty files, and netlink
  /// refused with /proc missing all end with one `swstat:` line naming the file and exit 1.
  @Test func noSourceAtAll() throws {
    let launcher = try FaultHelpers.noNetlink()
    let empty = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-empty-\(getpid())")
    let blank = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-blank-\(getpid())")
    try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      at: blank.appendingPathComponent("net"), withIntermediateDirectories: true)
    defer {
      try? FileManager.default.removeItem(at: empty)
      try? FileManager.default.removeItem(at: blank)
    }
    for table in ["tcp", "tcp6", "udp", "udp6"] {
      _ = FileManager.default.createFile(
        atPath: blank.appendingPathComponent("net/\(table)").path, contents: Data())
    }
    let cases: [([String], String)] = [
      (
        [swstatPath, "-tan", "--source", "proc", "--proc-root", empty.path],
        "swstat: \(empty.path)/net/tcp: No such file or directory (errno 2)\n"
      ),
      (
        [swstatPath, "-uan", "--source", "proc", "--proc-root", empty.path],
        "swstat: \(empty.path)/net/udp: No such file or directory (errno 2)\n"
      ),
      (
        [swstatPath, "-tanp", "--source", "proc", "--proc-root", blank.path],
        "swstat: \(blank.path)/net/tcp:1: empty file: expected the header line\n"
      ),
      (
        [launcher, swstatPath, "-tan", "--proc-root", "/nonexistent"],
        "swstat: /nonexistent/net/tcp: No such file or directory (errno 2)\n"
      ),
      (
        [launcher, swstatPath, "-tulpn", "--proc-root", "/nonexistent"],
        "swstat: /nonexistent/net/tcp: No such file or directory (errno 2)\n"
      ),
      (
        [launcher, swstatPath, "-u", "--count", "--proc-root", "/nonexistent"],
        "swstat: /nonexistent/net/udp: No such file or directory (errno 2)\n"
      ),
    ]
    for (args, message) in cases {
      let r = try runCommand(args)
      #expect(r.status == 1, "\(args.dropFirst())")
      #expect(r.stdout.isEmpty, "\(args.dropFirst())")
      #expect(r.stderr == message, "\(args.dropFirst())")
    }
  }

  /// -p while processes holding sockets start and exit and close descriptors under the scan:
  /// no crash, and every owner printed is a process that held that very socket.
  @Test func ownersUnderProcessChurn() throws {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent(
      "swstat-churn-\(getpid()).log")
    defer { try? FileManager.default.removeItem(at: log) }
    // Forks children that each open a few listeners on 127.0.0.1, log "pid inode" for each,
    // close some, and exit within milliseconds. Bounded by time and by count.
    let script = """
      import os, random, socket, sys, time
      log = open(sys.argv[1], "a", buffering=1)
      end = time.time() + float(sys.argv[2])
      n = 0
      # At most 3000 processes: pid_max may be 32768, and a pid reused by another program
      # within the test would look like a wrong owner.
      while time.time() < end and n < 3000:
          pid = os.fork()
          if pid == 0:
              socks = []
              for _ in range(random.randint(1, 4)):
                  s = socket.socket(socket.AF_INET if random.random() < 0.5 else socket.AF_INET6)
                  s.bind(("127.0.0.1", 0) if s.family == socket.AF_INET else ("::1", 0))
                  s.listen(1)
                  log.write("%d %d\\n" % (os.getpid(), os.fstat(s.fileno()).st_ino))
                  socks.append(s)
              time.sleep(random.random() * 0.04)
              for s in socks[: len(socks) // 2]:
                  s.close()
              time.sleep(random.random() * 0.04)
              os._exit(0)
          n += 1
          while n > 64 and os.waitpid(-1, os.WNOHANG)[0] != 0:
              pass
          time.sleep(0.001)
      while True:
          try:
              os.wait()
          except ChildProcessError:
              break
      print(n)
      """
    let seconds = FaultHelpers.churnSeconds
    let churn = BackgroundCommand(
      ["python3", "-c", script, log.path, String(seconds)], timeout: seconds + 60)
    var runs = 0
    var seen: [(pid: Int, inode: Int)] = []
    // Listings for as long as the churn runs (at least one; a sanitizer build is slow).
    while runs == 0 || !churn.isDone && runs < 400 {
      let r = try runCommand([swstatPath, "-tlnpe"])
      runs += 1
      #expect(r.status == 0, "\(r.stderr)")
      for cols in FaultHelpers.rows(r.stdout) where cols.count >= 9 && cols.last != "-" {
        guard let inode = Int(cols[cols.count - 2]),
          let pid = Int(cols[cols.count - 1].split(separator: "/").first ?? "")
        else { continue }
        seen.append((pid, inode))
      }
    }
    let forks = churn.wait()
    let made = Int(forks?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    #expect(made > 100, "churn made \(made) processes: \(forks?.stderr ?? "")")
    #expect(runs >= 2)
    // pid -> inodes it held, and inode -> pids, from the log.
    var held: [Int: Set<Int>] = [:]
    var holders: [Int: Set<Int>] = [:]
    for line in try String(contentsOf: log, encoding: .utf8).split(separator: "\n") {
      let f = line.split(separator: " ").compactMap { Int($0) }
      guard f.count == 2 else { continue }
      held[f[0], default: []].insert(f[1])
      holders[f[1], default: []].insert(f[0])
    }
    var checked = 0
    for (pid, inode) in seen {
      if let inodes = held[pid] {
        #expect(
          inodes.contains(inode), "pid \(pid) shown owning inode \(inode), which it never held")
        checked += 1
      } else if let pids = holders[inode] {
        Issue.record("inode \(inode) (held by \(pids.sorted())) shown owned by pid \(pid)")
      }
    }
    #expect(checked > 0, "no churned socket was ever seen with its owner")
  }

  /// 10k+ loopback connections opened and closed per second while swstat dumps: every run
  /// succeeds, lists no connection twice, and lists every long-lived socket (listeners and held
  /// connections) from netlink, with and without -p. From /proc no reader can promise the
  /// last: the kernel resumes each page-sized read at a position in a hash bucket, and when
  /// sockets before it close in between, the next one is skipped (netstat reads the same
  /// files). There a rare miss is allowed, at most 1 % of the long-lived sockets a listing.
  @Test func connectionChurnDuringDumps() throws {
    let seconds = FaultHelpers.churnSeconds
    let load = try LoadGenerator(pairs: 400, churnSeconds: seconds)
    defer { load.stop() }
    var expected: Set<String> = [
      "127.0.0.1:\(load.v4Port) 0.0.0.0:* LISTEN", "::1:\(load.v6Port) :::* LISTEN",
    ]
    for p in load.heldV4 {
      expected.insert("127.0.0.1:\(p) 127.0.0.1:\(load.v4Port) ESTABLISHED")
      expected.insert("127.0.0.1:\(load.v4Port) 127.0.0.1:\(p) ESTABLISHED")
    }
    for p in load.heldV6 {
      expected.insert("::1:\(p) ::1:\(load.v6Port) ESTABLISHED")
      expected.insert("::1:\(load.v6Port) ::1:\(p) ESTABLISHED")
    }
    #expect(expected.count == 2 + 4 * 200)
    let ours = ([load.v4Port, load.v6Port] + load.churnPorts).map { ":\($0)" }
    let variants = [["-tan"], ["-tan", "--source", "proc"], ["-tanp"], ["-tanW"]]
    var runs = 0
    var procMissed = 0
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline && runs < 200 {
      let args = variants[runs % variants.count]
      runs += 1
      let r = try runCommand([swstatPath] + args)
      #expect(r.status == 0, "\(args): \(r.stderr)")
      #expect(r.stderr.isEmpty, "\(args): \(r.stderr)")
      var connections: [String: Int] = [:]
      var listed: Set<String> = []
      for cols in FaultHelpers.rows(r.stdout) where cols.count >= 6 {
        let local = String(cols[3])
        let remote = String(cols[4])
        guard ours.contains(where: { local.hasSuffix($0) || remote.hasSuffix($0) }) else {
          continue
        }
        connections["\(cols[0]) \(local) \(remote)", default: 0] += 1
        listed.insert("\(local) \(remote) \(cols[5])")
      }
      let twice = connections.filter { $0.value > 1 }.keys.sorted()
      #expect(twice.isEmpty, "\(args): listed twice: \(twice.prefix(5))")
      let missing = expected.subtracting(listed).sorted()
      if args.contains("proc") {
        procMissed += missing.count
        #expect(
          missing.count <= expected.count / 100,
          "\(args): missing \(missing.count): \(missing.prefix(5))")
      } else {
        #expect(missing.isEmpty, "\(args): missing \(missing.count): \(missing.prefix(5))")
      }
    }
    let (made, took) = load.waitForChurn()
    let rate = took > 0 ? Double(made) / took : 0
    print(
      "connectionChurnDuringDumps: \(made) connections in \(took) s (\(Int(rate))/s), \(runs) listings,"
        + " \(procMissed) long-lived sockets missed by /proc listings"
    )
    // The churn is the test's premise. The long run (SWSTAT_FAULT_SECONDS, an otherwise idle
    // machine) must reach 10k/s; beside the rest of the suite on two cores a lower rate still
    // tests the same races, and only a broken generator fails it.
    let long = ProcessInfo.processInfo.environment["SWSTAT_FAULT_SECONDS"] != nil
    #expect(rate >= (long ? 10_000 : 1_000), "churn reached only \(Int(rate)) connections/s")
    #expect(runs >= 3, "only \(runs) listings during the churn")
  }

  /// Output that cannot be written, on the live path (netlink, -p, ~100 KiB of rows): a reader
  /// that goes away (`| head -1`) ends it quietly, a full disk gives one line and exit 1, and so
  /// does a closed stdout.
  @Test func unwritableOutputOnTheLivePath() throws {
    let load = try LoadGenerator(pairs: 700, churnSeconds: 0)
    defer { load.stop() }
    for flags in ["-tanp", "-tanpe", "-tan --json", "-tanW"] {
      let head = try runCommand(["sh", "-c", "'\(swstatPath)' \(flags) | head -1"])
      #expect(head.status == 0, "\(flags)")
      #expect(head.stderr.isEmpty, "\(flags): \(head.stderr)")
      #expect(head.stdout.split(separator: "\n").count == 1, "\(flags)")
      // The status swstat itself exits with when its reader has gone, and no message.
      let status = try runCommand([
        "bash", "-c", "'\(swstatPath)' \(flags) | head -c 100 > /dev/null; echo ${PIPESTATUS[0]}",
      ])
      // 141: killed by SIGPIPE, as cat or netstat are; or 0 when it stops on EPIPE itself.
      #expect(["0\n", "141\n"].contains(status.stdout), "\(flags): \(status.stderr)")
      #expect(status.stderr.isEmpty, "\(flags): \(status.stderr)")
      let full = try runCommand(["sh", "-c", "'\(swstatPath)' \(flags) > /dev/full"])
      #expect(full.status == 1, "\(flags)")
      #expect(full.stderr == "swstat: write error: No space left on device\n", "\(flags)")
      let closed = try runCommand(["sh", "-c", "'\(swstatPath)' \(flags) >&-"])
      #expect(closed.status == 1, "\(flags)")
      #expect(closed.stderr == "swstat: write error: Bad file descriptor\n", "\(flags)")
    }
  }
}
