#ifndef CSWSTAT_H
#define CSWSTAT_H

#include <stddef.h>
#include <stdint.h>

/// What a dump asks the kernel for beyond the socket itself: the `extras` argument of the dump,
/// decode and destroy-notification functions. With 0 (the plain listing) no `idiag_ext` bit is
/// set, no attribute beyond INET_DIAG_SHUTDOWN and INET_DIAG_PROTOCOL is looked at, and
/// `swstat_sock.extras` stays NULL.
#define SWSTAT_EXTRA_INFO   1u  ///< tcp_info, the congestion control's name, its BBR/DCTCP/Vegas info
#define SWSTAT_EXTRA_MEMORY 2u  ///< the socket's memory (INET_DIAG_SKMEMINFO)
#define SWSTAT_EXTRA_CGROUP 4u  ///< the cgroup v2 id (INET_DIAG_CGROUP_ID: sent unasked, decoded on request)

/// Which parts of a `swstat_sock_extras` the kernel sent (its `present` bits).
#define SWSTAT_HAS_INFO   0x01u ///< `info` (its first `info_len` bytes)
#define SWSTAT_HAS_CONG   0x02u ///< `congestion`
#define SWSTAT_HAS_VEGAS  0x04u ///< `vegas` (INET_DIAG_VEGASINFO)
#define SWSTAT_HAS_DCTCP  0x08u ///< `dctcp` (INET_DIAG_DCTCPINFO)
#define SWSTAT_HAS_BBR    0x10u ///< `bbr` (INET_DIAG_BBRINFO)
#define SWSTAT_HAS_SKMEM  0x20u ///< `skmem` (its first `skmem_count` values)
#define SWSTAT_HAS_CGROUP 0x40u ///< `cgroup_id`

/// The kernel's struct tcp_info (include/uapi/linux/tcp.h) as of Linux 6.18, field for field,
/// without the bitfields (their bytes are kept whole). Kernels send a prefix of it (older ones
/// less, newer ones more): a field is there only when it ends within `swstat_sock_extras.info_len`.
/// Units as the kernel gives them: times in microseconds (rto, ato, rtt, rttvar, rcv_rtt,
/// min_rtt, busy/rwnd/sndbuf-limited time), `last_*` in milliseconds, rates in bytes per second.
typedef struct {
    uint8_t  state, ca_state, retransmits, probes, backoff, options;
    uint8_t  wscale;            ///< snd_wscale in the low 4 bits, rcv_wscale in the high 4
    uint8_t  rate_flags;        ///< bit 0 delivery_rate_app_limited, bits 1-2 fastopen_client_fail
    uint32_t rto, ato, snd_mss, rcv_mss;
    uint32_t unacked, sacked, lost, retrans, fackets;
    uint32_t last_data_sent, last_ack_sent, last_data_recv, last_ack_recv;
    uint32_t pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering;
    uint32_t rcv_rtt, rcv_space;
    uint32_t total_retrans;
    uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
    uint32_t segs_out, segs_in;
    uint32_t notsent_bytes, min_rtt, data_segs_in, data_segs_out;
    uint64_t delivery_rate;
    uint64_t busy_time, rwnd_limited, sndbuf_limited;
    uint32_t delivered, delivered_ce;
    uint64_t bytes_sent, bytes_retrans;
    uint32_t dsack_dups, reord_seen;
    uint32_t rcv_ooopack;
    uint32_t snd_wnd;
    uint32_t rcv_wnd;
    uint32_t rehash;
    uint16_t total_rto, total_rto_recoveries;
    uint32_t total_rto_time;    ///< milliseconds
    uint32_t received_ce;
    uint32_t delivered_e1_bytes, delivered_e0_bytes, delivered_ce_bytes;
    uint32_t received_e1_bytes, received_e0_bytes, received_ce_bytes;
    uint32_t accecn;            ///< ecn_mode:2, accecn_opt_seen:2, accecn_fail_mode:4, options2:24
} swstat_tcp_info;

/// The most INET_DIAG_SKMEMINFO values kept (the kernel sends SK_MEMINFO_VARS, 9 today).
#define SWSTAT_SKMEM_MAX 16

/// What a dump's `extras` asked for, as the kernel sent it for one socket. Valid only during
/// the callback, like the `swstat_sock` that points at it.
typedef struct {
    uint32_t present;           ///< SWSTAT_HAS_* bits
    uint16_t info_len;          ///< bytes of `info` the kernel sent (at most sizeof(swstat_tcp_info))
    uint8_t  skmem_count;       ///< values in `skmem` (SK_MEMINFO_RMEM_ALLOC, _RCVBUF, ...)
    char     congestion[16];    ///< INET_DIAG_CONG, NUL-terminated
    uint32_t skmem[SWSTAT_SKMEM_MAX];
    uint64_t cgroup_id;
    struct { uint32_t enabled, rttcnt, rtt, minrtt; } vegas;                 ///< struct tcpvegas_info
    struct { uint16_t enabled, ce_state; uint32_t alpha, ab_ecn, ab_tot; } dctcp; ///< tcp_dctcp_info
    struct { uint32_t bw_lo, bw_hi, min_rtt, pacing_gain, cwnd_gain; } bbr;  ///< tcp_bbr_info
    swstat_tcp_info info;       ///< zero past `info_len`
} swstat_sock_extras;

/// One socket, flattened for Swift. Addresses in network byte order, ports in host order.
/// Valid only during the callback that receives it; copy what you keep.
typedef struct {
    uint8_t  family;            ///< AF_INET or AF_INET6
    uint8_t  protocol;          ///< IPPROTO_TCP or IPPROTO_UDP
    uint8_t  state;             ///< the kernel's TCP_* number (UDP: 1 connected, 7 unconnected)
    uint8_t  timer;             ///< idiag_timer / the `tr` field: 0 off, 1 on, 2 keepalive, 3 timewait, 4 probe
    uint8_t  retransmits;       ///< idiag_retrans / `retrnsmt`
    uint8_t  shutdown;          ///< INET_DIAG_SHUTDOWN: bit 0 receive side, bit 1 send side
    uint8_t  has_backlog;       ///< 1 when `backlog` is known (netlink, LISTEN)
    uint8_t  has_shutdown;      ///< 1 when `shutdown` is known (netlink, full sockets)
    uint16_t local_port, remote_port;
    uint8_t  local_addr[16], remote_addr[16];   ///< IPv4 uses the first 4 bytes
    uint32_t recv_q, send_q;    ///< LISTEN: recv_q is the accept queue, send_q is 0 as netstat shows
    uint32_t backlog;           ///< LISTEN over netlink: the listen backlog (idiag_wqueue)
    uint32_t uid;
    uint32_t expires_ms;        ///< time left on `timer`
    uint32_t probes;            ///< /proc `timeout` field (zero-window probes / keepalives sent)
    uint64_t inode;
    uint64_t cookie;            ///< idiag_cookie: the socket's identity across dumps (0 from /proc)
    uint32_t ifindex;           ///< idiag_if: the interface the socket is bound to, 0 for none
    /// What the dump's `extras` asked for, when the kernel sent any of it; NULL otherwise (and
    /// always when nothing was asked).
    const swstat_sock_extras *_Nullable extras;
} swstat_sock;

/// Called once per socket. Return 0 to continue, non-zero to stop the dump.
typedef int (*swstat_sock_fn)(const swstat_sock *_Nonnull sock, void *_Nullable ctx);

/// TCP states that `swstat_diag_dump` asks for when the caller wants "all": every state but
/// TCP_BOUND_INACTIVE (13), which the kernel only reports when asked for explicitly.
#define SWSTAT_ALL_STATES 0x1ffeu

/// Dumps one family/protocol over NETLINK_SOCK_DIAG through libmnl, with `state_mask` as the
/// kernel's `idiag_states` filter, reading into a 32 KiB buffer.
/// Returns 0 when the dump completed, a positive value when `fn` stopped it, or a negative errno:
/// -EINTR when the kernel marked the dump inconsistent (NLM_F_DUMP_INTR) — every record was
/// still delivered; -ENOBUFS when the socket overran; -EBADMSG for a malformed reply; anything
/// else when netlink itself is unavailable. `*emitted` counts the records handed to `fn`, so a
/// caller knows whether a retry or a fallback can still happen without repeating rows.
int swstat_diag_dump(uint8_t family, uint8_t protocol, uint32_t state_mask,
                     swstat_sock_fn _Nonnull fn, void *_Nullable ctx, uint64_t *_Nonnull emitted);

/// Dumps like `swstat_diag_dump`, with `bytecode` (`bytecode_len` bytes, from
/// `swstat_diag_filter_build`) attached as the request's INET_DIAG_REQ_BYTECODE filter; no
/// bytecode when `bytecode_len` is 0. A filter the kernel refuses fails the dump with -EINVAL
/// before any record; -EMSGSIZE when the bytecode does not fit the request.
int swstat_diag_dump_filtered(uint8_t family, uint8_t protocol, uint32_t state_mask,
                              const uint8_t *_Nullable bytecode, size_t bytecode_len,
                              swstat_sock_fn _Nonnull fn, void *_Nullable ctx,
                              uint64_t *_Nonnull emitted);

/// Dumps like `swstat_diag_dump_filtered`, asking also for `extras` (SWSTAT_EXTRA_* bits: the
/// request's `idiag_ext` bits INFO, VEGASINFO and CONG for SWSTAT_EXTRA_INFO, SKMEMINFO for
/// SWSTAT_EXTRA_MEMORY), and decoding them into each record's `extras`.
int swstat_diag_dump_extras(uint8_t family, uint8_t protocol, uint32_t state_mask,
                            const uint8_t *_Nullable bytecode, size_t bytecode_len,
                            uint32_t extras, swstat_sock_fn _Nonnull fn, void *_Nullable ctx,
                            uint64_t *_Nonnull emitted);

/// A port range condition; `set` 0 means no condition. Ports in host order, `lo <= hi`.
typedef struct {
    uint8_t  set;
    uint16_t lo, hi;
} swstat_port_range;

/// An address prefix condition; `family` 0 means no condition.
typedef struct {
    uint8_t  family;            ///< 0, AF_INET or AF_INET6
    uint8_t  prefix_len;        ///< 0-32 for AF_INET, 0-128 for AF_INET6
    uint8_t  addr[16];          ///< network order; IPv4 uses the first 4 bytes
} swstat_prefix;

/// The socket filters sock_diag can run in the kernel, all of which must hold. `sport` and
/// `src` are the local end, `dport` and `dst` the remote end (as ss uses the words); `port`
/// holds when either end's port is in range. An IPv4 prefix also matches IPv4-mapped IPv6
/// sockets (::ffff:a.b.c.d), as the kernel's INET_DIAG_BC_S_COND does.
typedef struct {
    swstat_port_range sport, dport, port;
    swstat_prefix src, dst;
} swstat_filter;

/// The largest bytecode `swstat_diag_filter_build` writes for any `swstat_filter`.
#define SWSTAT_FILTER_BYTECODE_MAX 256

/// The largest bytecode a dump request carries: the options' program ANDed with an ss-style
/// filter expression's (the kernel audits it; netlink takes far more, the stack buffer of one
/// request takes this).
#define SWSTAT_DIAG_BYTECODE_MAX 4096

/// Compiles `f` into inet_diag bytecode (struct inet_diag_bc_op programs, as ss builds them)
/// in `out`. Returns the length, 0 when `f` sets no condition (attach nothing then), -ENOSPC
/// when `cap` is too small, or -EINVAL for a bad family, prefix length or reversed range.
int swstat_diag_filter_build(const swstat_filter *_Nonnull f, uint8_t *_Nonnull out,
                             size_t cap);

/// Decodes sock_diag replies already in memory; no I/O, so tests replay recorded dumps
/// (pass seq = portid = 0 to skip sequence checks). inet_diag_msg carries no protocol, so the
/// caller passes it. Returns 1 when NLMSG_DONE was seen, 0 when more messages are expected,
/// a positive 2 when `fn` asked to stop, or a negative errno as `swstat_diag_dump` documents.
/// `*interrupted` is set to 1 when a message carried NLM_F_DUMP_INTR.
int swstat_diag_parse(const void *_Nonnull buf, size_t len, uint8_t protocol, uint32_t seq,
                      uint32_t portid, swstat_sock_fn _Nonnull fn, void *_Nullable ctx,
                      uint64_t *_Nonnull emitted, int *_Nonnull interrupted);

/// Decodes like `swstat_diag_parse`, and the attributes `extras` names into each record's
/// `extras` (a recording made with the same `extras`). tcp_info is copied only as far as its
/// attribute's payload goes; an attribute too short for its struct (CGROUP_ID, VEGASINFO,
/// DCTCPINFO, BBRINFO) is left out rather than failing the dump.
int swstat_diag_parse_extras(const void *_Nonnull buf, size_t len, uint8_t protocol,
                             uint32_t seq, uint32_t portid, uint32_t extras,
                             swstat_sock_fn _Nonnull fn, void *_Nullable ctx,
                             uint64_t *_Nonnull emitted, int *_Nonnull interrupted);

/// Records the raw replies of one dump into `fd` (for test fixtures): the same request as
/// `swstat_diag_dump_extras` with no filter, each received datagram appended as-is. Returns 0
/// or a negative errno.
int swstat_diag_record(uint8_t family, uint8_t protocol, uint32_t state_mask, uint32_t extras,
                       int fd);

/// Opens a NETLINK_SOCK_DIAG socket for `swstat_diag_kill`. Returns the descriptor or a
/// negative errno. The caller closes it.
int swstat_diag_kill_open(void);

/// Closes the socket `s` names with a SOCK_DESTROY request over `fd` (from
/// `swstat_diag_kill_open`), as `ss -K` does: its family, protocol, both ends, `ifindex` and
/// `cookie` make the request's inet_diag_sockid, and NLM_F_ACK asks for the kernel's answer,
/// which this waits for. Returns 0 when the kernel closed it, or a negative errno: -EOPNOTSUPP
/// (a kernel built without CONFIG_INET_DIAG_DESTROY), -EPERM (the caller lacks CAP_NET_ADMIN),
/// -ENOENT (no such socket: already gone, or its cookie belongs to another), -EPROTO for an
/// answer that is not one.
int swstat_diag_kill(int fd, const swstat_sock *_Nonnull s);

/// Why a /proc/net line was rejected.
typedef struct {
    uint64_t line;              ///< 1-based line number in the file (the header is line 1)
    char reason[96];            ///< a short English reason, NUL-terminated
} swstat_proc_error;

/// Parses /proc/net/{tcp,tcp6,udp,udp6} text already in memory: a header line, then one socket
/// per line. `first_line` is the number of the first line in `buf` (1 when `buf` starts the file,
/// whose header is then skipped). Extra trailing fields are ignored. `buf` must end at a line
/// boundary. Returns 0, a positive value when `fn` stopped, or -EBADMSG with `err` filled in.
int swstat_proc_parse(const char *_Nonnull buf, size_t len, uint8_t family, uint8_t protocol,
                      uint64_t first_line, swstat_sock_fn _Nonnull fn, void *_Nullable ctx,
                      swstat_proc_error *_Nonnull err);

/// The identity `swstat_proc_scan` drops repeated rows by: the socket's inode, or — TIME_WAIT
/// and request sockets have none — an FNV-1a hash of its addresses and ports with the top bit
/// set, to keep it apart from inode numbers.
uint64_t swstat_proc_identity(const swstat_sock *_Nonnull s);

/// Reads an open /proc/net table from `fd` to end of file (seq_file hands out about one page per
/// read(), so a single read is never enough) and parses each complete line as it arrives; nothing
/// of the table is held beyond one buffer. Returns as `swstat_proc_parse`, or a negative errno
/// from read().
int swstat_proc_scan(int fd, uint8_t family, uint8_t protocol, swstat_sock_fn _Nonnull fn,
                     void *_Nullable ctx, swstat_proc_error *_Nonnull err);

/// Opens a non-blocking NETLINK_SOCK_DIAG socket subscribed to the sock_diag destroy groups
/// (SKNLGRP_INET_TCP_DESTROY, _INET6_TCP_, _INET_UDP_, _INET6_UDP_ as `tcp`/`udp` ask), with
/// the receive buffer raised to `rcvbuf` bytes (SO_RCVBUFFORCE when permitted, else SO_RCVBUF).
/// Returns the descriptor or a negative errno. The caller closes it.
int swstat_diag_destroy_open(int tcp, int udp, int rcvbuf);

/// The most datagrams `swstat_diag_destroy_read` reads in one call.
#define SWSTAT_DESTROY_READ_MAX 64

/// Reads the destroy notifications waiting on `fd` (until EAGAIN, or SWSTAT_DESTROY_READ_MAX
/// datagrams: poll again for the rest) and hands each socket to `fn` (its state is the one it
/// had when destroyed). Returns the number delivered, or a negative errno: -ENOBUFS when
/// notifications were lost because the buffer overflowed.
///
/// Every TCP notification carries the socket's final tcp_info (INET_DIAG_INFO: the kernel's
/// inet_diag_handler_get_info fills it unasked, the group takes no request); with
/// SWSTAT_EXTRA_INFO in `extras` it is decoded into the record's `extras`. UDP notifications
/// carry none. Nothing else (no memory, no cgroup, no uid or inode) comes with them.
int swstat_diag_destroy_read(int fd, uint32_t extras, swstat_sock_fn _Nonnull fn,
                             void *_Nullable ctx);

/// Decodes one buffer of destroy notifications already in memory, as `swstat_diag_destroy_read`
/// does with what it receives (tests and fuzzing). Returns the number delivered.
int swstat_diag_destroy_parse(const void *_Nonnull buf, size_t len, uint32_t extras,
                              swstat_sock_fn _Nonnull fn, void *_Nullable ctx);

/// One UNIX domain socket from unix_diag, flattened for Swift; valid only during the callback.
typedef struct {
    uint8_t  type;              ///< SOCK_STREAM (1), SOCK_DGRAM (2), SOCK_SEQPACKET (5)
    uint8_t  state;             ///< sk_state: TCP_ESTABLISHED (1), TCP_CLOSE (7), TCP_LISTEN (10)
    uint8_t  has_peer;          ///< 1 when `peer_inode` is known (UNIX_DIAG_PEER)
    uint8_t  has_queues;        ///< 1 when `recv_q`/`send_q` are known (UNIX_DIAG_RQLEN)
    uint8_t  has_uid;           ///< 1 when `uid` is known (UNIX_DIAG_UID)
    uint16_t name_len;          ///< bytes in `name`; 0 for an unnamed socket
    uint32_t inode, peer_inode;
    uint32_t recv_q, send_q;    ///< LISTEN: accept queue and backlog; else bytes queued
    uint32_t uid;
    char     name[108];         ///< sun_path as bound: a leading NUL marks an abstract name
} swstat_unix_sock;

/// Called once per UNIX socket. Return 0 to continue, non-zero to stop the dump.
typedef int (*swstat_unix_fn)(const swstat_unix_sock *_Nonnull sock, void *_Nullable ctx);

/// Dumps every AF_UNIX socket of the calling thread's network namespace over NETLINK_SOCK_DIAG
/// (unix_diag), with names, peers, queue lengths and uids, `state_mask` as `udiag_states`.
/// Returns 0, a positive value when `fn` stopped the dump, or a negative errno.
int swstat_unix_dump(uint32_t state_mask, swstat_unix_fn _Nonnull fn, void *_Nullable ctx);

/// Decodes unix_diag replies already in memory (seq = portid = 0 skip the checks). Returns 1
/// at NLMSG_DONE, 0 when more is expected, 2 when `fn` stopped, or a negative errno.
int swstat_unix_parse(const void *_Nonnull buf, size_t len, uint32_t seq, uint32_t portid,
                      swstat_unix_fn _Nonnull fn, void *_Nullable ctx);

/// snprintf(buf, size, format, value) for a format with one double conversion (`%g`, `%.1f`,
/// `%.3gM`): ss's number formats, byte for byte, without Swift's variadic bridging (which costs
/// more than the formatting). Returns snprintf's result.
int swstat_format_double(char *_Nonnull buf, size_t size, const char *_Nonnull format,
                         double value);

/// Moves the calling thread into the network namespace open at `fd` (setns with
/// CLONE_NEWNET); other threads stay where they are. Returns 0 or a negative errno (-EPERM
/// without CAP_SYS_ADMIN).
int swstat_enter_netns(int fd);

#include "swstat_trace.h"

#endif
