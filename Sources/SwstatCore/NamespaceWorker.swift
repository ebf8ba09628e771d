import Glibc

/// A thread that lives inside one network namespace and runs what it is given there, one job
/// at a time, while the caller waits: the long-lived form of `NetworkNamespaces.run`, for the
/// live modes that ask several namespaces many times a second (`--events --all-netns`).
/// Sockets a job opens belong to the namespace, the sock_diag socket kept for exact lookups
/// included (one per thread), and /proc/thread-self/net is the namespace's.
///
/// The thread holds a reference to the namespace: `stop()` (or deinit) ends it, so a namespace
/// whose last process exited is not kept alive by swstat.
public final class NamespaceWorker: @unchecked Sendable {
  // Allocated, so their addresses never move (a stored property's inout address need not be
  // stable).
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private var job: (() -> Void)?
  private var finished = false
  private var stopping = false
  private var thread = pthread_t()
  private var running = false
  private var setnsErrno: Int32 = 0
  private var started = false

  /// Starts a thread in the namespace at `path`. Throws `NamespaceError` (with `context`) when
  /// it cannot be opened or entered.
  public init(path: String, context: String) throws(NamespaceError) {
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(wake, nil)
    pthread_cond_init(done, nil)
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw NamespaceError(context: context + ": " + path, errno: errno) }
    defer { close(fd) }
    let start = Start(worker: self, fd: fd)
    let box = Unmanaged.passRetained(start).toOpaque()
    let rc = pthread_create(
      &thread, nil,
      { raw in
        // swift-format-ignore: NeverForceUnwrap
        let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
        start.worker.loop(fd: start.fd)
        return nil
      }, box)
    if rc != 0 {
      Unmanaged<Start>.fromOpaque(box).release()
      throw NamespaceError(context: "pthread_create", errno: rc)
    }
    running = true
    // Wait until the thread is in the namespace (or could not enter it): the fd is closed
    // only after.
    pthread_mutex_lock(mutex)
    while !started { pthread_cond_wait(done, mutex) }
    let failed = setnsErrno
    pthread_mutex_unlock(mutex)
    if failed != 0 {
      pthread_join(thread, nil)
      running = false
      throw NamespaceError(context: context, errno: failed)
    }
  }

  private final class Start {
    unowned let worker: NamespaceWorker
    let fd: Int32
    init(worker: NamespaceWorker, fd: Int32) {
      self.worker = worker
      self.fd = fd
    }
  }

  private func loop(fd: Int32) {
    let rc = UnixShim.enterNetworkNamespace(fd)
    pthread_mutex_lock(mutex)
    setnsErrno = rc == 0 ? 0 : -rc
    started = true
    pthread_cond_broadcast(done)
    if rc != 0 {
      pthread_mutex_unlock(mutex)
      return
    }
    while true {
      while job == nil && !stopping { pthread_cond_wait(wake, mutex) }
      if stopping && job == nil { break }
      let body = job
      pthread_mutex_unlock(mutex)
      body?()
      pthread_mutex_lock(mutex)
      job = nil
      finished = true
      pthread_cond_broadcast(done)
    }
    pthread_mutex_unlock(mutex)
  }

  /// Runs `body` on the namespace's thread and returns what it returned (or throws what it
  /// threw). Not reentrant: one caller at a time.
  public func perform<T>(_ body: () throws -> T) throws -> T {
    var result: Result<T, any Error>? = nil
    withoutActuallyEscaping(body) { body in
      let run: () -> Void = { result = Result { try body() } }
      withoutActuallyEscaping(run) { run in
        pthread_mutex_lock(mutex)
        job = run
        finished = false
        pthread_cond_signal(wake)
        while !finished { pthread_cond_wait(done, mutex) }
        pthread_mutex_unlock(mutex)
      }
    }
    // swift-format-ignore: NeverForceUnwrap
    return try result!.get()
  }

  /// Ends the thread (and its hold on the namespace).
  public func stop() {
    guard running else { return }
    pthread_mutex_lock(mutex)
    stopping = true
    pthread_cond_signal(wake)
    pthread_mutex_unlock(mutex)
    pthread_join(thread, nil)
    running = false
  }

  deinit {
    stop()
    pthread_cond_destroy(done)
    pthread_cond_destroy(wake)
    pthread_mutex_destroy(mutex)
    done.deallocate()
    wake.deallocate()
    mutex.deallocate()
  }
}
