import Foundation

/// Whether the suite runs under CI (`CI=true`), where nothing may be skipped: a test whose tool
/// or privilege is missing fails there instead (`make test` installs every tool the tests use).
public var underCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

/// Whether a test needing `root` and `tools` can run: true when they are here, and always under
/// CI, so that the test runs and `requireTools` fails it. Use as
/// `@Test(.enabled(if: available(root: true, tools: ["tmux"])))`.
public func available(root: Bool = false, tools: [String] = []) -> Bool {
  underCI || ((!root || isRoot) && tools.allSatisfy(hasProgram))
}

/// Throws, naming what is missing, unless the test has `root` and `tools`: the first line of a
/// test that `available` let run.
public func requireTools(root: Bool = false, _ tools: [String] = []) throws {
  if root && !isRoot { throw FixtureError.failed("this test needs root") }
  let missing = tools.filter { !hasProgram($0) }
  if !missing.isEmpty {
    throw FixtureError.failed(
      "missing \(missing.joined(separator: ", ")): `make test` installs them")
  }
}
