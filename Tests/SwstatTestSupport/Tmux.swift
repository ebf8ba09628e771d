import Foundation

/// A tmux session of the test's own, detached, running one command in a terminal of a given
/// size; killed by `kill()`.
public final class TmuxSession: @unchecked Sendable {
  /// The session name.
  public let name: String

  /// Starts `command` (a shell command line) in a new session `columns` × `rows`, with
  /// `options` (tmux server options such as `set-clipboard on`) set first.
  public init(
    _ command: String, columns: Int = 120, rows: Int = 40, options: [[String]] = []
  ) throws {
    name = "swstat-\(getpid())-\(UUID().uuidString.prefix(8))"
    // The server must exist for its options to apply before the command writes anything.
    runDetached(["tmux", "new-session", "-d", "-s", name, "-x", "\(columns)", "-y", "\(rows)"])
    runDetached(["tmux", "set-option", "-t", name, "remain-on-exit", "on"])
    for o in options { runDetached(["tmux"] + o) }
    runDetached(["tmux", "respawn-pane", "-k", "-t", name, command])
  }

  /// tmux's answer to a format (`#{alternate_on}`).
  public func display(_ format: String) throws -> String {
    try runCommand(["tmux", "display", "-p", "-t", name, format]).stdout
      .trimmingCharacters(in: .newlines)
  }

  /// The pane's text.
  public func screen() throws -> String {
    try runCommand(["tmux", "capture-pane", "-p", "-t", name]).stdout
  }

  /// Sends keys (tmux key names: `q`, `C-z`, `Enter`).
  public func send(_ keys: String...) {
    runDetached(["tmux", "send-keys", "-t", name] + keys)
  }

  /// Waits (at most `seconds`) until `condition` holds; returns whether it did.
  @discardableResult
  public func wait(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if try condition() { return true }
      usleep(100_000)
    }
    return try condition()
  }

  /// Ends the session.
  public func kill() {
    runDetached(["tmux", "kill-session", "-t", name])
  }
}
