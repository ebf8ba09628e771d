import SwstatCore
import SwstatRender

/// `-c`: netstat's continuous listing, every table of the listing again each interval (default
/// 1 s), owners from a cache that walks only new or changed processes.
struct ContinuousMode {
  let plan: Plan
  let env: Environment
  /// Where /proc/net is read (`/proc/thread-self` inside a namespace).
  let netRoot: String

  func run() throws -> Int32 {
    let ticker = env.ticker(plan.interval)
    let listing = ListingMode(plan: plan, env: env, netRoot: netRoot)
    let cache = plan.programs ? env.ownerCache() : nil
    while true {
      var trouble = ListingMode.Trouble()
      // What an owner filter dropped last pass is not kept for ever.
      listing.extras?.removeAll()
      if plan.json {
        var inet = listing.json()
        var unix = UnixJSON(output: env.output, owners: plan.programs)
        try listing.list(netns: nil, owners: cache, &inet, &unix, &trouble)
      } else {
        var inet = listing.table()
        var unix = UnixTable(options: plan.look, output: env.output)
        try listing.list(netns: nil, owners: cache, &inet, &unix, &trouble)
      }
      if trouble.first != nil { return try listing.finish(trouble) }
      try env.output.flush()
      while true {
        let wake = ticker.wait(keys: false, extra: [])
        if wake == .stop { return 0 }
        if wake == .tick { break }
      }
    }
  }
}
