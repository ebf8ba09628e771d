// One sock_diag dump over netlink, shared by the inet (sock_diag.c) and UNIX (unix_diag.c)
// dumps: the request and receive loop, and the walk over the messages of a reply. Internal to
// the shim; the public API is include/CSwstat.h.

#ifndef SWSTAT_NL_DUMP_H
#define SWSTAT_NL_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

// The kernel sizes a dump's datagrams from the reader's buffer, up to 32 KiB; libmnl's default
// (one page) would cost about eight times as many recvmsg() calls at 100k sockets.
#define SWSTAT_NL_BUFFER 32768

// Whether a whole message starts at `nlh` with `remaining` bytes left. libmnl's mnl_nlmsg_ok
// compares `(int)nlmsg_len`, so a length of 2 GiB or more passes as negative and
// mnl_nlmsg_next then steps gigabytes past the buffer (found by Tests/Fuzz/fuzz_diag_parse).
static inline int swstat_nl_message_ok(const struct nlmsghdr *nlh, int remaining) {
    return remaining >= (int)sizeof(struct nlmsghdr) &&
           nlh->nlmsg_len >= sizeof(struct nlmsghdr) && nlh->nlmsg_len <= (uint32_t)remaining;
}

// Handed each SOCK_DIAG_BY_FAMILY message of a reply. Returns 0 to go on, a positive value to
// stop the walk (which then returns 2), or a negative errno, which the walk returns.
typedef int (*swstat_nl_msg_fn)(const struct nlmsghdr *nlh, void *arg);

// Walks the netlink messages in `buf` (`len` bytes, one received datagram or a replayed
// recording), checking each one's portid and seq (seq = portid = 0 switch the checks off).
// Returns 1 at NLMSG_DONE, 0 when every byte formed a whole message and more are expected, 2
// when `fn` asked to stop, or a negative errno: the one NLMSG_ERROR carries (-EPROTO when it is
// no errno), -EPROTO for a foreign portid or seq, -EBADMSG for a truncated message or what `fn`
// returns. Sets `*interrupted` to 1 when a message carried NLM_F_DUMP_INTR, if not NULL.
int swstat_nl_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                   swstat_nl_msg_fn fn, void *arg, int *interrupted);

// Handed each datagram of a dump with the request's seq and the socket's portid. Returns 0 to
// receive the next, anything else to end the dump with that value.
typedef int (*swstat_nl_datagram_fn)(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                                     void *arg);

// Runs one dump: opens and binds a NETLINK_SOCK_DIAG socket, sends `req` (built by the caller:
// header, request struct, attributes) as a SOCK_DIAG_BY_FAMILY dump request with a fresh seq,
// then receives into a SWSTAT_NL_BUFFER buffer and hands each datagram to `fn` until it returns
// non-zero. Returns what `fn` returned, or a negative errno: the socket's, -EMSGSIZE for a
// datagram cut short, -EBADMSG when the socket reads end of file before `fn` stopped.
/// An exact request (no NLM_F_DUMP) on a sock_diag socket the calling thread keeps open across
/// calls, in its network namespace; the datagrams go to `fn` as for `swstat_nl_request`.
int swstat_nl_request_kept(struct nlmsghdr *req, swstat_nl_datagram_fn fn, void *arg);

int swstat_nl_dump(struct nlmsghdr *req, swstat_nl_datagram_fn fn, void *arg);

// Like swstat_nl_dump, with `flags` instead of NLM_F_DUMP beside NLM_F_REQUEST: 0 asks for one
// object (sock_diag's exact lookup), whose reply is a single datagram.
int swstat_nl_request(struct nlmsghdr *req, uint16_t flags, swstat_nl_datagram_fn fn, void *arg);

#endif
