import Glibc
import SwstatRender

/// The terminal for the --watch dashboard: keys without Enter or echo, the alternate screen,
/// no cursor; `restore()` puts everything back (on q, Ctrl-C, Ctrl-\, SIGTERM, SIGHUP, errors,
/// and before a Ctrl-Z stop), `enter()` takes it again when the process is continued.
public final class Terminal: TerminalControl {
  private var saved = termios()
  private var hasSaved = false
  private var active = false

  /// Switches the terminal on stdin/stdout into dashboard mode.
  public init() {
    if tcgetattr(STDIN_FILENO, &saved) == 0 { hasSaved = true }
    enter()
  }

  deinit { restore() }

  public func enter() {
    if hasSaved {
      // What the shell left while we were stopped is the terminal's state to come back to.
      var now = termios()
      if !active && tcgetattr(STDIN_FILENO, &now) == 0 { saved = now }
      var raw = saved
      raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
      withUnsafeMutableBytes(of: &raw.c_cc) { cc in
        cc[Int(VMIN)] = 1
        cc[Int(VTIME)] = 0
      }
      tcsetattr(STDIN_FILENO, TCSANOW, &raw)
    }
    active = true
    emit("\u{1b}[?1049h\u{1b}[?25l\u{1b}[H\u{1b}[2J")
  }

  /// Columns and rows (80 × 24 when the size cannot be read).
  public var size: (columns: Int, rows: Int) {
    var ws = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0 {
      return (Int(ws.ws_col), Int(ws.ws_row))
    }
    return (80, 24)
  }

  /// Draws a frame in place: home, each line cleared to its end, the rest of the screen
  /// cleared — one write, so nothing flickers.
  public func draw(_ lines: [String]) {
    var frame = "\u{1b}[H"
    for (i, line) in lines.enumerated() {
      frame += line + "\u{1b}[K" + (i == lines.count - 1 ? "" : "\r\n")
    }
    emit(frame + "\u{1b}[J")
  }

  /// Leaves the alternate screen, shows the cursor and restores the modes saved at start.
  public func restore() {
    guard active else { return }
    active = false
    // Cursor back on both screens: some terminals keep the mode per screen.
    emit("\u{1b}[?25h\u{1b}[?1049l\u{1b}[?25h")
    if hasSaved { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
  }

  private func emit(_ s: String) {
    var s = s
    s.withUTF8 { buf in
      guard let base = buf.baseAddress else { return }
      var done = 0
      while done < buf.count {
        let n = write(STDOUT_FILENO, base + done, buf.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        done += n
      }
    }
  }
}
