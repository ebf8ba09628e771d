// Expressions compiled to inet_diag bytecode (INET_DIAG_REQ_BYTECODE), with the kernel's rules
// (net/ipv4/inet_diag.c inet_diag_bc_run and inet_diag_bc_audit) mirrored in Swift so tests and
// the fuzz harness can check every program without a kernel:
//  - A program is a list of ops {code, yes, no}. From the first op, a test that holds moves on
//    `yes` bytes and one that fails `no` bytes (JMP always takes `no`). The socket matches when
//    the program ends exactly on its last byte.
//  - Each piece of code is built so that "true" falls off its end and "false" jumps 4 bytes past
//    it (ss's ssfilter_bytecompile does the same): AND appends the second piece and moves the
//    first's false jumps past it; OR puts a JMP between the pieces, so the first's false lands
//    on the second and its true jumps over it; NOT appends a JMP of 8, which turns the true
//    ending into a false one and the false one into the true one.
//  - The audit wants `yes` and `no` multiples of 4, at least the op's length, at most 4 past the
//    end, and every `no` landing inside the program on an op the chain of `yes` steps reaches.
//    Each op's `yes` is its own length, so every op start is on that chain.

/// inet_diag bytecode: combining programs, and Swift copies of the kernel's audit and
/// interpreter.
public enum FilterBytecode {
  /// The op codes of linux/inet_diag.h.
  enum Op: UInt8 {
    case nop = 0
    case jmp = 1
    case sourceGE = 2
    case sourceLE = 3
    case destinationGE = 4
    case destinationLE = 5
    case auto = 6
    case sourceCond = 7
    case destinationCond = 8
    case devCond = 9
    case markCond = 10
    case sourceEQ = 11
    case destinationEQ = 12
    case cgroupCond = 13
  }

  /// The longest program the `no` field (16 bits) can jump past.
  static let maximumLength = 65_528

  /// `first AND second` as one program (empty: no program, every socket passes): the second is
  /// appended and the first's failing jumps moved past it. Both must be programs this module or
  /// the C shim wrote (false = 4 bytes past the end).
  public static func and(_ first: [UInt8], _ second: [UInt8]) -> [UInt8] {
    if first.isEmpty { return second }
    if second.isEmpty { return first }
    var out = first
    movingRejects(&out, by: second.count)
    return out + second
  }

  /// Moves every jump to 4 bytes past the end of `code` `distance` bytes further.
  static func movingRejects(_ code: inout [UInt8], by distance: Int) {
    var at = 0
    while at + 4 <= code.count {
      let yes = Int(code[at + 1])
      let no = Int(code[at + 2]) | Int(code[at + 3]) << 8
      if no == code.count - at + 4 {
        let moved = UInt16(truncatingIfNeeded: no + distance)
        code[at + 2] = UInt8(truncatingIfNeeded: moved)
        code[at + 3] = UInt8(truncatingIfNeeded: moved >> 8)
      }
      if yes == 0 { return }
      at += yes
    }
  }

  // MARK: compiling

  /// A piece of code, or a constant that needs none.
  enum Piece {
    case always(Bool)
    case code([UInt8])
    /// Longer than `maximumLength`: no program can hold it.
    case tooLong

    static func and(_ a: Piece, _ b: Piece) -> Piece {
      switch (a, b) {
      case (.always(false), _), (_, .always(false)): return .always(false)
      case (.always(true), let x), (let x, .always(true)): return x
      case (.tooLong, _), (_, .tooLong): return .tooLong
      case (.code(let x), .code(let y)): return checked(FilterBytecode.and(x, y))
      }
    }

    static func or(_ a: Piece, _ b: Piece) -> Piece {
      switch (a, b) {
      case (.always(true), _), (_, .always(true)): return .always(true)
      case (.always(false), let x), (let x, .always(false)): return x
      case (.tooLong, _), (_, .tooLong): return .tooLong
      case (.code(let x), .code(let y)):
        guard x.count + y.count < maximumLength else { return .tooLong }
        return .code(x + op(.jmp, yes: 4, no: y.count + 4) + y)
      }
    }

    static func not(_ a: Piece) -> Piece {
      switch a {
      case .always(let v): return .always(!v)
      case .tooLong: return .tooLong
      case .code(let x): return checked(x + op(.jmp, yes: 4, no: 8))
      }
    }

    static func checked(_ code: [UInt8]) -> Piece {
      code.count <= maximumLength ? .code(code) : .tooLong
    }

    /// The program: none for `true` (and when too long: the Swift check has to do), a lone
    /// JMP past the end for `false`.
    var program: [UInt8] {
      switch self {
      case .always(true), .tooLong: []
      case .always(false): op(.jmp, yes: 4, no: 8)
      case .code(let x): x
      }
    }
  }

  /// One op with its `yes` and `no` (native byte order, as the kernel reads them).
  static func op(_ code: Op, yes: Int, no: Int) -> [UInt8] {
    [code.rawValue, UInt8(yes)] + native(UInt16(truncatingIfNeeded: no))
  }

  static func native<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
  }

  /// A port test: the op, then a NOP whose `no` holds the port.
  static func portTest(_ code: Op, _ port: UInt16) -> Piece {
    .code(op(code, yes: 8, no: 12) + op(.nop, yes: 0, no: Int(port)))
  }

  /// S_COND/D_COND: an inet_diag_hostcond {family, prefix_len, port (-1: any)} and the address.
  static func hostCondition(
    _ end: SocketEnd, family: AddressFamily?, length: UInt8, address: [UInt8], port: UInt16?
  ) -> Piece {
    let code: Op = end == .source ? .sourceCond : .destinationCond
    let size = 4 + 8 + address.count
    let familyByte: UInt8 = family.map { $0 == .inet ? 2 : 10 } ?? 0
    return .code(
      op(code, yes: size, no: size + 4) + [familyByte, length, 0, 0]
        + native(port.map { Int32($0) } ?? -1) + address)
  }

  /// The kernel's test of an address prefix and optional port.
  static func kernelHost(_ end: SocketEnd, _ p: AddressPrefix, _ port: UInt16?) -> Piece {
    let bytes = p.address.bytes
    return hostCondition(
      end, family: p.address.family, length: p.length, address: bytes, port: port)
  }

  /// ss's user-space prefix test (`AddressPrefix.containsAsSS`) as kernel ops: an IPv4 prefix
  /// also tests the leading bits of IPv6 addresses; an IPv6 prefix whose bits past 32 are zero
  /// also tests the leading bits of IPv4 addresses (of IPv4 sockets only, not v4-mapped ones).
  static func userSpaceHost(_ end: SocketEnd, _ p: AddressPrefix, _ port: UInt16?) -> Piece {
    let bytes = p.address.bytes
    switch p.address.family {
    case .inet:
      return .or(
        kernelHost(end, p, port),
        hostCondition(
          end, family: .inet6, length: p.length, address: bytes + [UInt8](repeating: 0, count: 12),
          port: port))
    case .inet6:
      guard p.ipv6CanMatchIPv4InSS else { return kernelHost(end, p, port) }
      let anyIPv6 = hostCondition(
        end, family: .inet6, length: 0, address: [UInt8](repeating: 0, count: 16), port: nil)
      let ipv4Part = hostCondition(
        end, family: .inet, length: min(p.length, 32), address: Array(bytes.prefix(4)), port: port)
      return .or(kernelHost(end, p, port), .and(.not(anyIPv6), ipv4Part))
    }
  }

  static func compile(_ e: FilterExpression, _ pass: ExpressionFilter.Pass) -> Piece {
    switch e {
    case .condition(let c): return compile(c, pass)
    case .not(let a): return .not(compile(a, pass))
    case .and(let a, let b): return .and(compile(a, pass), compile(b, pass))
    case .or(let a, let b): return .or(compile(a, pass), compile(b, pass))
    }
  }

  static func compile(_ c: FilterCondition, _ pass: ExpressionFilter.Pass) -> Piece {
    switch c {
    case .host(let end, let p):
      let anyAddress = p.prefixes.first.map { pass == .userSpace && $0.length == 0 } ?? true
      if anyAddress {
        return p.port.map { portTest(end == .source ? .sourceEQ : .destinationEQ, $0) }
          ?? .always(true)
      }
      return p.prefixes.map {
        pass == .kernel ? kernelHost(end, $0, p.port) : userSpaceHost(end, $0, p.port)
      }.reduce(.always(false), Piece.or)
    case .port(let end, let op, let port):
      let (eq, ge, le): (Op, Op, Op) =
        end == .source
        ? (.sourceEQ, .sourceGE, .sourceLE) : (.destinationEQ, .destinationGE, .destinationLE)
      switch op {
      case .equal: return portTest(eq, port)
      case .notEqual: return .not(portTest(eq, port))
      case .less: return port == 0 ? .always(false) : portTest(le, port - 1)
      case .greater: return port == .max ? .always(false) : portTest(ge, port + 1)
      case .lessOrEqual: return port == .max ? .always(true) : portTest(le, port)
      case .greaterOrEqual: return port == 0 ? .always(true) : portTest(ge, port)
      }
    case .device(let index):
      return .code(op(.devCond, yes: 8, no: 12) + native(index))
    case .mark(let value, let mask):
      return .code(op(.markCond, yes: 12, no: 16) + native(value) + native(mask))
    case .cgroup(let id, _):
      return .code(op(.cgroupCond, yes: 12, no: 16) + native(id))
    case .autobound(let ephemeral):
      switch pass {
      case .kernel: return .code(op(.auto, yes: 4, no: 8))
      case .userSpace:
        return .and(
          ephemeral.lowerBound == 0 ? .always(true) : portTest(.sourceGE, ephemeral.lowerBound),
          ephemeral.upperBound == .max ? .always(true) : portTest(.sourceLE, ephemeral.upperBound))
      }
    }
  }

  // MARK: the kernel's rules in Swift

  /// What inet_diag_bc_audit answers for a program.
  public enum AuditResult: Equatable, Sendable {
    /// The kernel runs it.
    case accepted
    /// -EINVAL: the op at `offset` breaks a rule.
    case invalid(offset: Int)
    /// -EPERM: a MARK_COND without CAP_NET_ADMIN.
    case notPermitted
  }

  /// inet_diag_bc_audit: whether the kernel takes `program` (as attached: an empty one is not
  /// attached at all, so it is not audited and counts as accepted).
  public static func audit(_ program: [UInt8], netAdmin: Bool = true) -> AuditResult {
    if program.isEmpty { return .accepted }
    if program.count < 4 { return .invalid(offset: 0) }
    var at = 0
    var len = program.count
    while len > 0 {
      guard len >= 4 else { return .invalid(offset: at) }
      var minimum = 4
      let code = program[at]
      let yes = Int(program[at + 1])
      let no = Int(program[at + 2]) | Int(program[at + 3]) << 8
      switch Op(rawValue: code) {
      case .sourceCond, .destinationCond:
        minimum += 8
        guard len >= minimum else { return .invalid(offset: at) }
        let addressLength: Int
        switch program[at + 4] {
        case 0: addressLength = 0
        case 2: addressLength = 4
        case 10: addressLength = 16
        default: return .invalid(offset: at)
        }
        minimum += addressLength
        guard len >= minimum, Int(program[at + 5]) <= 8 * addressLength else {
          return .invalid(offset: at)
        }
      case .devCond:
        minimum += 4
        guard len >= minimum else { return .invalid(offset: at) }
      case .sourceEQ, .sourceGE, .sourceLE, .destinationEQ, .destinationGE, .destinationLE:
        minimum += 4
        guard len >= minimum else { return .invalid(offset: at) }
      case .markCond:
        guard netAdmin else { return .notPermitted }
        minimum += 8
        guard len >= minimum else { return .invalid(offset: at) }
      case .cgroupCond:
        minimum += 8
        guard len >= minimum else { return .invalid(offset: at) }
      case .auto, .jmp, .nop: break
      case nil: return .invalid(offset: at)
      }
      if code != Op.nop.rawValue {
        if no < minimum || no > len + 4 || no & 3 != 0 { return .invalid(offset: at) }
        if no < len && !reachable(program, program.count - (len - no)) {
          return .invalid(offset: at)
        }
      }
      if yes < minimum || yes > len + 4 || yes & 3 != 0 { return .invalid(offset: at) }
      at += yes
      len -= yes
    }
    return len == 0 ? .accepted : .invalid(offset: at)
  }

  /// valid_cc: whether the chain of `yes` steps from the first op lands on `offset`.
  static func reachable(_ program: [UInt8], _ offset: Int) -> Bool {
    var at = 0
    while at <= program.count {
      if at > offset { return false }
      if at == offset { return true }
      guard at + 1 < program.count else { return false }
      let yes = Int(program[at + 1])
      if yes < 4 || yes & 3 != 0 { return false }
      at += yes
    }
    return false
  }

  /// inet_diag_bc_run on one socket: whether the kernel lets `record` through `program`, with
  /// `facts` for what the record does not carry. The program must pass `audit`; an empty one
  /// lets everything through.
  @_spi(Testing)
  public static func run(
    _ program: [UInt8], on record: borrowing SocketRecord, facts: KernelSocketFacts
  ) -> Bool {
    if program.isEmpty { return true }
    var at = 0
    var len = program.count
    while len > 0 {
      guard at + 4 <= program.count else { return false }
      let yes = Int(program[at + 1])
      let no = Int(program[at + 2]) | Int(program[at + 3]) << 8
      var holds = true
      func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        var v = T.zero
        withUnsafeMutableBytes(of: &v) { raw in
          for i in 0..<MemoryLayout<T>.size { raw[i] = program[offset + i] }
        }
        return v
      }
      switch Op(rawValue: program[at]) {
      case .nop, nil: break
      case .jmp: holds = false
      case .sourceEQ: holds = record.local.port == load(at + 6, UInt16.self)
      case .sourceGE: holds = record.local.port >= load(at + 6, UInt16.self)
      case .sourceLE: holds = record.local.port <= load(at + 6, UInt16.self)
      case .destinationEQ: holds = record.remote.port == load(at + 6, UInt16.self)
      case .destinationGE: holds = record.remote.port >= load(at + 6, UInt16.self)
      case .destinationLE: holds = record.remote.port <= load(at + 6, UInt16.self)
      case .auto: holds = !facts.portLocked
      case .sourceCond, .destinationCond:
        let source = program[at] == Op.sourceCond.rawValue
        let endpoint = source ? record.local : record.remote
        let family = program[at + 4]
        let length = program[at + 5]
        let port = load(at + 8, Int32.self)
        let addressLength = family == 2 ? 4 : family == 10 ? 16 : 0
        let address = IPAddress(
          family: family == 10 ? .inet6 : .inet,
          bytes: program[(at + 12)..<(at + 12 + addressLength)])
        let entryFamily: UInt8 = record.family == .inet ? 2 : 10
        if port != -1 && port != Int32(endpoint.port) {
          holds = false
        } else if family != 0 && family != entryFamily {
          holds =
            entryFamily == 10 && family == 2 && endpoint.address.isIPv4Mapped
            && AddressPrefix.leadingBitsEqual(
              IPAddress(family: .inet, high: (endpoint.address.low & 0xffff_ffff) << 32, low: 0),
              address, length)
        } else if length == 0 {
          holds = true
        } else {
          holds = AddressPrefix.leadingBitsEqual(endpoint.address, address, length)
        }
      case .devCond: holds = load(at + 4, UInt32.self) == facts.interfaceIndex
      case .markCond:
        holds = facts.mark & load(at + 8, UInt32.self) == load(at + 4, UInt32.self)
      case .cgroupCond: holds = load(at + 4, UInt64.self) == facts.cgroupID
      }
      let step = holds ? yes : no
      at += step
      len -= step
    }
    return len == 0
  }
}

extension ExpressionFilter {
  /// `bytecode` for an expression and its plan.
  static func program(_ expression: FilterExpression?, _ plan: Plan) -> [UInt8] {
    guard let expression else { return [] }
    let piece: FilterBytecode.Piece
    switch plan {
    case .kernel: piece = FilterBytecode.compile(expression, .kernel)
    case .userSpace: piece = FilterBytecode.compile(expression, .userSpace)
    case .both:
      piece = .and(
        FilterBytecode.compile(expression, .kernel),
        FilterBytecode.compile(expression, .userSpace))
    }
    return piece.program
  }
}
