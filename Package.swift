// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "swstat",
  products: [.executable(name: "swstat", targets: ["swstat"])],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
  ],
  targets: [
    // libmnl as a system library: `apt-get install libmnl-dev` provides libmnl.pc.
    .systemLibrary(name: "CLibMNL", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
    // The whole C shim: sock_diag dumps through libmnl and the /proc/net line scanner.
    .target(name: "CSwstat", dependencies: ["CLibMNL"], cSettings: [.define("_GNU_SOURCE")]),
    .target(
      name: "SwstatCore",
      dependencies: ["CSwstat", .product(name: "SystemPackage", package: "swift-system")]),
    .target(name: "SwstatRender", dependencies: ["SwstatCore"]),
    .executableTarget(
      name: "swstat",
      dependencies: [
        "SwstatCore", "SwstatRender",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // Shared test code: the socket-state fixture, network namespaces, running commands.
    .target(name: "SwstatTestSupport", path: "Tests/SwstatTestSupport"),
    .testTarget(
      name: "SwstatCoreTests", dependencies: ["SwstatCore", "SwstatTestSupport"],
      exclude: ["Fixtures"]),
    .testTarget(name: "SwstatRenderTests", dependencies: ["SwstatRender"], exclude: ["Snapshots"]),
    .testTarget(name: "swstatTests", dependencies: ["swstat", "SwstatTestSupport"]),
  ]
)
