import Glibc

// Glibc imports TCP_LISTEN and IPPROTO_TCP as Int, AF_INET as Int32 and SOCK_STREAM as an
// enum; every conversion to the C shim's uint8_t fields lives here.
enum Kernel {
  static let afInet = UInt8(AF_INET)
  static let afInet6 = UInt8(AF_INET6)
  static let ipprotoTCP = UInt8(IPPROTO_TCP)
  static let ipprotoUDP = UInt8(IPPROTO_UDP)

  static func family(_ f: AddressFamily) -> UInt8 { f == .inet ? afInet : afInet6 }
  static func proto(_ t: TransportProtocol) -> UInt8 { t == .tcp ? ipprotoTCP : ipprotoUDP }
}
