#ifndef CSWSTAT_H
#define CSWSTAT_H

#include <stddef.h>
#include <stdint.h>

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

/// Records the raw replies of one dump into `fd` (for test fixtures): the same request as
/// `swstat_diag_dump`, each received datagram appended as-is. Returns 0 or a negative errno.
int swstat_diag_record(uint8_t family, uint8_t protocol, uint32_t state_mask, int fd);

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
int swstat_diag_destroy_read(int fd, swstat_sock_fn _Nonnull fn, void *_Nullable ctx);

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

/// Moves the calling thread into the network namespace open at `fd` (setns with
/// CLONE_NEWNET); other threads stay where they are. Returns 0 or a negative errno (-EPERM
/// without CAP_SYS_ADMIN).
int swstat_enter_netns(int fd);

#include "swstat_trace.h"

#endif
