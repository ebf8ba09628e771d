// swift-tools-version: 6.0
import PackageDescription

// The per-socket path runs 100k times a listing: dynamic exclusivity checks on the output
// buffer's and renderer's stored properties cost about a tenth of its instructions (callgrind).
// Both targets are single-threaded on that path and the checks stay on in debug builds.
let hotPath: [SwiftSetting] = [
  .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

// The folder holding this manifest (for a linker input given by path).
let packageDirectory = String(#filePath.dropLast("Package.swift".count))

let package = Package(
  name: "swstat",
  products: [.executable(name: "swstat", targets: ["swstat"])],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    // swstat-export only: the Prometheus registry and exposition (it needs no Foundation).
    // The HTTP server is swstat's own (Sources/swstat-export/HTTPServer.swift): non-blocking
    // sockets and poll(2) on one thread, a head of at most 8 KiB parsed in one pass, deadlines,
    // and a connection cap from RLIMIT_NOFILE that closes the longest-waiting connection when
    // full (issue 11). FlyingFox, the server before, cannot be configured so (its one timeout
    // bounds the handler, not reading a request; no head limit, no cap: a 128 KB header cost
    // 7 s of CPU, 1030 idle connections ended the process), and it pulled FoundationNetworking,
    // hence libcurl, into the static binary. SwiftNIO could be made to, but each limit would be
    // a handler of our own anyway, on an event-loop stack built for many busy clients, at several
    // times the build time; a server for two URLs and a few scrapers is small enough to own.
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
  ],
  targets: [
    // libmnl as a system library: `apt-get install libmnl-dev` provides libmnl.pc.
    .systemLibrary(name: "CLibMNL", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
    // The whole C shim: sock_diag dumps through libmnl and the /proc/net line scanner.
    .target(name: "CSwstat", dependencies: ["CLibMNL"], cSettings: [.define("_GNU_SOURCE")]),
    .target(
      name: "SwstatCore",
      dependencies: ["CSwstat", .product(name: "SystemPackage", package: "swift-system")],
      swiftSettings: hotPath),
    .target(name: "SwstatRender", dependencies: ["SwstatCore"], swiftSettings: hotPath),
    // Every mode (rows, counts, checks, continuous, watch, events, namespaces, statistics) as a
    // value built from a plan and run against an environment passed in.
    .target(
      name: "SwstatModes", dependencies: ["SwstatCore", "SwstatRender"], swiftSettings: hotPath),
    .executableTarget(
      name: "swstat",
      dependencies: [
        "SwstatCore", "SwstatRender", "SwstatModes",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      exclude: ["hot-text.order"],
      // Resident memory (a listing at 100k sockets should hold no more than ss does):
      // - A non-PIE executable needs no relocation pass over its 2.4 MB of Swift metadata at
      //   start-up, which otherwise dirties every page of it (0.8 MiB resident, measured). The
      //   cost is a fixed load address for swstat's own code; libraries stay randomised.
      // - No exported dynamic symbols (SwiftPM exports every one of an executable's): the
      //   loader's lookups for the shared libraries' relocations read 130 KiB of .dynsym and
      //   .dynstr otherwise (0.3 MiB resident).
      // - The functions a run uses placed together (Sources/swstat/hot-text.order, from
      //   `make hot-order`): the kernel maps a file's pages 64 KiB around each one touched, so
      //   code spread over the 10 MB of the static runtime kept 3.7 MiB of it resident.
      linkerSettings: [
        .unsafeFlags(
          [
            "-Xclang-linker", "-no-pie", "-Xlinker", "--no-export-dynamic", "-Xlinker",
            "--section-ordering-file=\(packageDirectory)Sources/swstat/hot-text.order",
          ],
          .when(configuration: .release))
      ]),
    // Shared test code: the socket-state fixture, network namespaces, running commands.
    .target(name: "SwstatTestSupport", path: "Tests/SwstatTestSupport"),
    .testTarget(
      name: "SwstatCoreTests", dependencies: ["SwstatCore", "SwstatTestSupport"],
      exclude: ["Fixtures"]),
    .testTarget(name: "SwstatRenderTests", dependencies: ["SwstatRender"], exclude: ["Snapshots"]),
    .testTarget(name: "SwstatModesTests", dependencies: ["SwstatModes", "SwstatTestSupport"]),
    .testTarget(
      name: "swstatTests", dependencies: ["swstat", "SwstatTestSupport"], exclude: ["Fixtures"]),
    // `make bench`: times swstat beside ss, netstat and two C floors (Sources/swstat-diagdump,
    // Sources/swstat-procparse, built with cc by the Makefile) at 1k-100k loopback sockets.
    .executableTarget(name: "swstat-bench"),
    // `swstat export` (issue 7): a binary of its own, so the listing never links the HTTP
    // server or the metrics library and starts as fast as before; swstat execs it.
    .executableTarget(
      name: "swstat-export",
      dependencies: [
        "SwstatCore", "SwstatRender",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "SystemPackage", package: "swift-system"),
      ]),
    // connection_holder.py: the helper process that holds many connections to the exporter.
    .testTarget(
      name: "swstatExportTests", dependencies: ["swstat-export", "swstat", "SwstatTestSupport"],
      exclude: ["connection_holder.py"]),
  ]
)
