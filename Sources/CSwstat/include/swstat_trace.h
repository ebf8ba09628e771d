// TCP state transitions from the kernel's tracepoints (sock:inet_sock_set_state and, opt-in,
// tcp:tcp_send_reset, tcp:tcp_receive_reset, tcp:tcp_retransmit_skb), read with
// perf_event_open(PERF_TYPE_TRACEPOINT) without eBPF; and the exact sock_diag lookup that
// completes what a tracepoint cannot tell (entering TIME_WAIT). Implemented in transitions.c
// (the lookup in sock_diag.c). Included from CSwstat.h.

#ifndef SWSTAT_TRACE_H
#define SWSTAT_TRACE_H

#include "CSwstat.h"

#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------------------------------------
// tracefs

/// Opens the root folder of a tracefs: the one mounted at /sys/kernel/tracing or
/// /sys/kernel/debug/tracing, else any tracefs /proc/self/mountinfo lists, else one mounted by
/// `swstat_tracefs_mount_private` on a short-lived thread of its own (the mount lives on only
/// through the returned descriptor: nothing is left in any namespace once it is closed).
/// Returns a directory descriptor (O_CLOEXEC; read it with openat) or a negative errno: -EPERM
/// or -EACCES without the privilege to read or mount one. `*mounted_privately` is set to 1
/// when it had to mount one, else 0.
int swstat_tracefs_open(int *_Nonnull mounted_privately);

/// Mounts tracefs at `target` in a mount namespace of the calling thread's own:
/// unshare(CLONE_NEWNS), then every mount made recursively private (MS_REC | MS_PRIVATE on /,
/// so nothing propagates back to the host's peer groups), then mount("nodev", target,
/// "tracefs"). The host's mounts stay exactly as they were. unshare(CLONE_NEWNS) moves only the
/// calling thread when the process has several (Linux gives it a copy of the shared fs_struct);
/// in a single-threaded process that is the whole process. There is no way back for the thread
/// (setns(CLONE_NEWNS) refuses a multi-threaded caller), so a multi-threaded caller runs this on
/// a thread it can let go, as `swstat_tracefs_open` does. Returns 0 or a negative errno (-EPERM
/// without CAP_SYS_ADMIN).
int swstat_tracefs_mount_private(const char *_Nonnull target);

// ---------------------------------------------------------------------------------------------
// Layout

/// What a record says: a state change, a reset, a retransmission, or that records were lost.
enum {
    SWSTAT_TRANSITION_STATE = 1,            ///< sock:inet_sock_set_state
    SWSTAT_TRANSITION_RESET_SENT = 2,       ///< tcp:tcp_send_reset
    SWSTAT_TRANSITION_RESET_RECEIVED = 3,   ///< tcp:tcp_receive_reset
    SWSTAT_TRANSITION_RETRANSMIT = 4,       ///< tcp:tcp_retransmit_skb
    SWSTAT_TRANSITION_LOST = 5,             ///< PERF_RECORD_LOST: `lost` records were dropped
};

/// One field of a tracepoint record, from its tracefs `format` file.
typedef struct {
    uint16_t offset;
    uint16_t size;              ///< 0: the tracepoint has no such field
} swstat_trace_field;

/// Where a tracepoint keeps each field swstat reads, parsed from tracefs, never assumed: the
/// layout changes between kernels (inet_sock_set_state's `protocol` was a __u8 before Linux
/// 5.6 and is a __u16 since, which moves every later field).
typedef struct {
    uint32_t id;                ///< the tracepoint's id: perf_event_attr.config and common_type
    uint8_t  kind;              ///< SWSTAT_TRANSITION_STATE .. _RETRANSMIT
    uint8_t  sockaddr_addrs;    ///< 1: saddr/daddr are struct sockaddr_in/_in6 (family, port
                                ///< and address inside), as tcp_send_reset has them since 6.x
    uint16_t min_size;          ///< the end of the last field used: shorter records are refused
    swstat_trace_field skaddr, oldstate, newstate, state, sport, dport, family, protocol,
                       saddr, daddr, saddr_v6, daddr_v6, cookie;
} swstat_trace_layout;

/// Why a format (or a tracepoint) could not be used, in a few English words.
typedef struct {
    char reason[96];
} swstat_trace_error;

/// Parses a tracefs `format` file (`len` bytes, NUL not needed) into `out` for a tracepoint of
/// `kind`, finding each field by its name: `id` from its `ID:` line (0 when absent). Unknown
/// fields are ignored. Returns 0, or -EINVAL with `err` filled in when a field swstat needs is
/// missing or has a size it cannot read, or -EBADMSG for a line it cannot parse.
int swstat_trace_parse_format(const char *_Nonnull text, size_t len, uint8_t kind,
                              swstat_trace_layout *_Nonnull out,
                              swstat_trace_error *_Nonnull err);

/// Reads and parses `events/<event>/format` and `events/<event>/id` under the tracefs open at
/// `tracefs_fd` (`event` is "sock/inet_sock_set_state", "tcp/tcp_send_reset", ...). Returns 0,
/// or a negative errno: -ENOENT when the kernel has no such tracepoint, -EACCES, or what
/// `swstat_trace_parse_format` returns (with `err`).
int swstat_trace_load(int tracefs_fd, const char *_Nonnull event, uint8_t kind,
                      swstat_trace_layout *_Nonnull out, swstat_trace_error *_Nonnull err);

// ---------------------------------------------------------------------------------------------
// Decoding (pure: recorded samples replay through these in tests and fuzzing)

/// One transition, flattened for Swift; valid only during the callback that receives it.
/// Ports in host order; addresses in network order, IPv4 in the first 4 bytes (as swstat_sock).
/// "local" is the socket's own end (the tracepoint's saddr/sport), "remote" its peer.
typedef struct {
    uint64_t time_ns;           ///< CLOCK_MONOTONIC nanoseconds, as clock_gettime reads them
    uint64_t skaddr;            ///< the kernel's struct sock address (the socket's identity
                                ///< for its life; reused after it is freed; 0 when none)
    uint64_t cookie;            ///< sock_cookie (= sock_diag's idiag_cookie) when has_cookie
    uint64_t lost;              ///< SWSTAT_TRANSITION_LOST: how many records were dropped
    uint32_t cpu;               ///< the CPU whose ring held the record
    uint16_t protocol;          ///< IPPROTO_TCP (6); other inet protocols use the tracepoint too
    uint16_t local_port, remote_port;
    uint8_t  kind;              ///< SWSTAT_TRANSITION_*
    uint8_t  family;            ///< AF_INET or AF_INET6 (0 for LOST)
    uint8_t  old_state;         ///< kernel TCP_* numbers; for resets and retransmissions both
    uint8_t  new_state;         ///< are the socket's state then (0 when the kernel had none)
    uint8_t  has_cookie;
    uint8_t  local_addr[16], remote_addr[16];
} swstat_transition;

/// Decodes one tracepoint record (PERF_SAMPLE_RAW data, `common_type` first) with whichever of
/// `layouts` has its id. Fills everything but time_ns and cpu. Returns 0, -ENOENT when no layout
/// has the record's id, -EBADMSG when the record is shorter than the layout or a state does not
/// fit in a byte (or a state change has a state 0, which no TCP state is), -EAFNOSUPPORT when
/// the family is neither AF_INET nor AF_INET6.
int swstat_trace_decode(const swstat_trace_layout *_Nonnull layouts, size_t count,
                        const void *_Nonnull raw, size_t len, swstat_transition *_Nonnull out);

/// Decodes one perf ring record as swstat's events write them (sample_type PERF_SAMPLE_TIME |
/// PERF_SAMPLE_RAW, sample_id_all): a PERF_RECORD_SAMPLE through `swstat_trace_decode`, a
/// PERF_RECORD_LOST as kind SWSTAT_TRANSITION_LOST (its time: the record after the gap). Returns 0, 1 for a record type that
/// carries no transition (skip it), or a negative errno as `swstat_trace_decode` documents
/// (-EBADMSG as well for a record whose sizes do not add up).
int swstat_trace_decode_record(const swstat_trace_layout *_Nonnull layouts, size_t count,
                               const void *_Nonnull record, size_t len, uint32_t cpu,
                               swstat_transition *_Nonnull out);

/// Called once per transition, in time order. Return 0 to go on, non-zero to stop.
typedef int (*swstat_transition_fn)(const swstat_transition *_Nonnull t, void *_Nullable ctx);

/// Port conditions, all of which must hold (as in swstat_filter): `local` the tracepoint's
/// sport, `remote` its dport, `either` one of the two. Pushed into the kernel's filter where the
/// tracepoint has sport and dport fields, and checked again after decoding. The client's
/// CLOSE -> SYN_SENT comes before the kernel picks its port: local port 0 then.
typedef struct {
    swstat_port_range local, remote, either;
} swstat_trace_ports;

/// Replays a recording (as `swstat_trace_record_to` writes it: for each record a u32 cpu, a
/// u32 length and that many bytes of one perf ring record) through the decoder and the same
/// merge as a live read: each CPU's records in file order, the CPUs merged by time, records
/// failing `ports` (may be NULL) or no layout decodes skipped, a PERF_RECORD_LOST delivered
/// where it lies (a recording has no counters to check). Returns the number delivered,
/// or -EBADMSG for a truncated recording (before delivering anything); -ENOMEM.
int swstat_trace_replay(const swstat_trace_layout *_Nonnull layouts, size_t count,
                        const void *_Nonnull buf, size_t len,
                        const swstat_trace_ports *_Nullable ports,
                        swstat_transition_fn _Nonnull fn, void *_Nullable ctx);

/// The kernel filter (PERF_EVENT_IOC_SET_FILTER, tracefs syntax) for one tracepoint:
/// `protocol == 6` where it has a protocol field, and the port conditions where it has sport
/// and dport. Returns its length (0: no filter), or -ENOSPC when `cap` is too small.
int swstat_trace_filter(const swstat_trace_layout *_Nonnull layout,
                        const swstat_trace_ports *_Nonnull ports, char *_Nonnull out, size_t cap);

// ---------------------------------------------------------------------------------------------
// Reading

/// An open reader: per online CPU one ring buffer, each tracepoint's event on that CPU writing
/// into it. Opaque; allocated by `swstat_trace_open`, freed by `swstat_trace_close`.
typedef struct swstat_trace swstat_trace;

/// How to read.
typedef struct {
    uint32_t ring_pages;        ///< data pages per CPU ring, a power of two (0: 64, 256 KiB)
    uint32_t watermark;         ///< bytes a ring holds before poll(2) wakes (0: a quarter of
                                ///< the ring); clamped to half the ring
    uint64_t reorder_ns;        ///< records younger than this are held back (0: none)
    swstat_trace_ports ports;
} swstat_trace_options;

/// What a reader has seen so far.
typedef struct {
    uint64_t records;           ///< samples taken out of the rings
    uint64_t delivered;         ///< transitions handed to the callback (LOST reports included)
    uint64_t lost;              ///< records the kernel dropped, as reported by the drains
    uint64_t kernel_lost;       ///< the sum of the kernel's PERF_RECORD_LOST counts so far
                                ///< (written only once the next record fits: often late)
    uint64_t filtered;          ///< samples dropped by the port conditions in user space
    uint64_t undecodable;       ///< samples no layout decodes, and corrupt ring records
    uint32_t rings;             ///< CPUs read
    uint32_t events;            ///< perf events open (tracepoints x CPUs)
} swstat_trace_stats;

/// Opens one perf event per tracepoint in `layouts` (the first is normally
/// sock:inet_sock_set_state) on every online CPU: PERF_TYPE_TRACEPOINT, PERF_SAMPLE_TIME |
/// PERF_SAMPLE_RAW, times on CLOCK_MONOTONIC, pid -1; one mmap ring per CPU, the other
/// tracepoints of that CPU redirected into it (PERF_EVENT_IOC_SET_OUTPUT); the kernel filter of
/// `swstat_trace_filter`; wake-ups batched by the watermark. Returns 0 with `*out` set, or a
/// negative errno: -EACCES/-EPERM without root or CAP_PERFMON, -ENOENT/-ENODEV for a tracepoint
/// the kernel does not have, -EINVAL (with `err`) for a filter it refuses.
int swstat_trace_open(const swstat_trace_layout *_Nonnull layouts, size_t count,
                      const swstat_trace_options *_Nonnull options,
                      swstat_trace *_Nullable *_Nonnull out, swstat_trace_error *_Nonnull err);

/// One descriptor to poll(2) for POLLIN beside the caller's others (an epoll instance over the
/// rings). The watermark means a lone record wakes nobody: poll with a timeout (the caller's
/// tick, at least the reorder window) and drain then too.
int swstat_trace_fd(const swstat_trace *_Nonnull t);

/// Delivers, in time order across all CPUs, every record older than `now_ns` minus the reorder
/// window (`now_ns` 0: clock_gettime(CLOCK_MONOTONIC) now; `flush` non-zero: every record),
/// at most `max` of them (0: no limit); younger ones stay in their ring for the next call.
/// Then, if records were dropped since the last report, one SWSTAT_TRANSITION_LOST with
/// `time_ns` now and how many (records that did not decode count too). The drain counts them itself, every call (the events' counters,
/// read(2), less the samples taken out or still in the ring): the kernel's PERF_RECORD_LOST
/// comes only once the next record fits, which after a burst may be never, and some drops it
/// never reports at all (Linux 6.18: samples counted in softirq on an idle CPU, not written).
/// The caller re-reads the socket table then.
/// Returns the number delivered; nothing fails here: a corrupt ring record is skipped (the rest
/// of that ring with it) and counted in `undecodable`.
int swstat_trace_drain(swstat_trace *_Nonnull t, uint64_t now_ns, int flush, uint32_t max,
                       swstat_transition_fn _Nonnull fn, void *_Nullable ctx);

/// Appends every ring record the reader takes out from now on to `fd` (-1: stop), in the
/// format `swstat_trace_replay` reads (test fixtures).
void swstat_trace_record_to(swstat_trace *_Nonnull t, int fd);

/// The counters so far.
void swstat_trace_get_stats(const swstat_trace *_Nonnull t, swstat_trace_stats *_Nonnull out);

/// Disables and closes every event, unmaps the rings and frees `t`.
void swstat_trace_close(swstat_trace *_Nonnull t);

// ---------------------------------------------------------------------------------------------
// Exact socket lookup (sock_diag.c)

/// Asks sock_diag for the one socket with `key`'s family, protocol, local and remote address
/// and port — a request without NLM_F_DUMP, as `ss` asks to kill one socket — and hands it to
/// `fn` (its `state` says TIME_WAIT for a timewait socket). A non-zero `key->cookie` must match
/// too. The kernel's lookup falls back to a listener on the local port; that is not the socket
/// asked for, so it counts as none. Returns 0 when found, -ENOENT when there is no such socket,
/// or a negative errno as `swstat_diag_dump`.
int swstat_diag_lookup(const swstat_sock *_Nonnull key, swstat_sock_fn _Nonnull fn,
                       void *_Nullable ctx);

#endif
