import Glibc

/// Standard error, for swstat's one-line messages and netstat's notes.
public enum StandardError {
  /// Writes `text` unbuffered, retrying short writes and EINTR.
  public static func write(_ text: String) {
    var text = text
    text.withUTF8 { buf in
      guard let base = buf.baseAddress else { return }
      var done = 0
      while done < buf.count {
        let n = Glibc.write(STDERR_FILENO, base + done, buf.count - done)
        if n <= 0 {
          if n < 0 && errno == EINTR { continue } else { return }
        }
        done += n
      }
    }
  }
}
