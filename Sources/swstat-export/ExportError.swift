import SystemPackage

/// Why the exporter could not do something, other than a source refusing a dump (those are
/// `SocketSourceError`s). Descriptions follow swstat's: the thing, the reason, the number.
enum ExportError: Error, Equatable, CustomStringConvertible {
  /// A `--listen` value we cannot serve on.
  case badAddress(String, reason: String)
  /// The server could not bind or listen.
  case listen(address: String, errno: Errno)
  /// A file we could not read or write.
  case file(path: String, errno: Errno)
  /// A file whose content we cannot use.
  case malformed(path: String, reason: String)
  /// A path that names something other than a regular file: a FIFO, a device, a folder, a
  /// symbolic link. `kind` says which, in words ("a FIFO").
  case notRegular(path: String, kind: String)

  var description: String {
    switch self {
    case .badAddress(let value, let reason): "--listen \(value): \(reason)"
    case .listen(let address, let errno), .file(let address, let errno):
      "\(address): \(errno) (errno \(errno.rawValue))"
    case .malformed(let path, let reason): "\(path): \(reason)"
    case .notRegular(let path, let kind): "\(path): not a regular file (\(kind))"
    }
  }
}
