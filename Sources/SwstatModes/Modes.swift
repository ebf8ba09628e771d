import SwstatCore
import SwstatRender

/// Runs plans: the one entry point of the modes library.
public enum Modes {
  /// Runs `plan` against `env` and returns the exit status (0, or 1 when a check failed, no
  /// socket matched `-q`, or a table could not be read). `netRoot`: where /proc/net is read
  /// (`/proc/thread-self` inside a namespace; `plan.procRoot` by default). Throws a runtime
  /// failure (`SocketSourceError`, `OutputError`, `NamespaceError`) for the caller's one line.
  public static func run(_ plan: Plan, in env: Environment, netRoot: String? = nil) throws -> Int32
  {
    if let choice = plan.namespace {
      return try NamespaceMode(plan: plan, env: env, choice: choice).run()
    }
    let root = netRoot ?? plan.procRoot
    switch plan.mode {
    case .rows:
      return try ListingMode(plan: plan, env: env, netRoot: root).run()
    case .continuous:
      return try ContinuousMode(plan: plan, env: env, netRoot: root).run()
    case .count:
      return try CountingModes(plan: plan, env: env, netRoot: root).count()
    case .groupedCount(let keys):
      return try CountingModes(plan: plan, env: env, netRoot: root).groupedCount(keys)
    case .quiet:
      return try CountingModes(plan: plan, env: env, netRoot: root).quiet()
    case .expect(let expectations):
      return try CountingModes(plan: plan, env: env, netRoot: root).expect(expectations)
    case .watch:
      return try WatchMode(plan: plan, env: env, netRoot: root).run()
    case .events:
      return try EventsMode(plan: plan, env: env, netRoot: root).run()
    case .statistics:
      return try StatisticsMode(plan: plan, env: env, netRoot: root).run()
    }
  }
}
