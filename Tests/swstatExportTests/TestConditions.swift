import Foundation
import Testing

/// Whether this is a CI run (`CI=true`): there a missing tool or privilege fails a test instead
/// of turning it off.
let runningInCI = ProcessInfo.processInfo.environment["CI"] == "true"

/// A test that needs `condition` (root, a tool): off when it does not hold, except under CI,
/// where the test runs and fails on the missing piece.
func needs(_ condition: Bool, _ comment: Comment) -> ConditionTrait {
  .enabled(if: condition || runningInCI, comment)
}

/// Seconds since `start`.
func since(_ start: Date) -> Double { Date().timeIntervalSince(start) }
