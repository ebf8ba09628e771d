// sock_diag dumps through libmnl, after libmnl's examples/rtnl/rtnl-link-dump.c, with
// NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY and struct inet_diag_req_v2 (see sock_diag(7)).
// Socket I/O (swstat_diag_dump) and decoding (swstat_diag_parse) are separate so that tests
// replay recorded replies through the decoder alone.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "CSwstat.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

// The kernel sizes a dump's datagrams from the reader's buffer, up to 32 KiB; libmnl's default
// (one page) would cost about eight times as many recvmsg() calls at 100k sockets.
#define SWSTAT_NL_BUFFER 32768

enum { TCP_LISTEN_STATE = 10 };

// Whether a whole message starts at `nlh` with `remaining` bytes left. libmnl's mnl_nlmsg_ok
// compares `(int)nlmsg_len`, so a length of 2 GiB or more passes as negative and
// mnl_nlmsg_next then steps gigabytes past the buffer (found by Tests/Fuzz/fuzz_diag_parse).
static int message_ok(const struct nlmsghdr *nlh, int remaining) {
    return remaining >= (int)sizeof(struct nlmsghdr) &&
           nlh->nlmsg_len >= sizeof(struct nlmsghdr) && nlh->nlmsg_len <= (uint32_t)remaining;
}

static int decode_one(const struct nlmsghdr *nlh, uint8_t protocol, swstat_sock *s) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct inet_diag_msg)) return -EBADMSG;
    const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
    memset(s, 0, sizeof(*s));
    s->family = m->idiag_family;
    if (s->family != AF_INET && s->family != AF_INET6) return -EBADMSG;
    s->protocol = protocol;
    s->state = m->idiag_state;
    s->timer = m->idiag_timer;
    if (s->timer == 2 || s->timer == 4) {
        // For the keepalive and zero-window probe timers the kernel puts icsk_probes_out in
        // idiag_retrans; /proc/net/tcp shows it as `timeout` beside icsk_retransmits (then 0
        // nearly always). Keep the fields meaning the same whichever source filled them.
        s->probes = m->idiag_retrans;
    } else {
        s->retransmits = m->idiag_retrans;
    }
    s->local_port = ntohs(m->id.idiag_sport);
    s->remote_port = ntohs(m->id.idiag_dport);
    size_t alen = s->family == AF_INET ? 4 : 16;
    memcpy(s->local_addr, m->id.idiag_src, alen);
    memcpy(s->remote_addr, m->id.idiag_dst, alen);
    s->recv_q = m->idiag_rqueue;
    s->send_q = m->idiag_wqueue;
    if (protocol == IPPROTO_TCP && s->state == TCP_LISTEN_STATE) {
        // For a listener the kernel reports the accept queue and the backlog; /proc/net/tcp,
        // and so netstat, shows Send-Q 0. Keep the backlog apart.
        s->backlog = m->idiag_wqueue;
        s->has_backlog = 1;
        s->send_q = 0;
    }
    s->uid = m->idiag_uid;
    s->inode = m->idiag_inode;
    s->expires_ms = m->idiag_expires;
    s->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];

    // Attributes end where the message does. mnl_attr_for_each runs to NLMSG_ALIGN(nlmsg_len),
    // up to 3 bytes past the buffer when the last message's length is not a multiple of 4
    // (found by Tests/Fuzz/fuzz_diag_parse).
    const char *end = (const char *)nlh + nlh->nlmsg_len;
    for (const struct nlattr *attr = mnl_nlmsg_get_payload_offset(nlh, sizeof(*m));
         mnl_attr_ok(attr, (int)(end - (const char *)attr)); attr = mnl_attr_next(attr)) {
        if (mnl_attr_type_valid(attr, INET_DIAG_MAX) < 0) continue;   // newer than our headers
        if (mnl_attr_get_type(attr) == INET_DIAG_SHUTDOWN) {
            if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0) return -EBADMSG;
            s->shutdown = mnl_attr_get_u8(attr) & 3;
            s->has_shutdown = 1;
        } else if (mnl_attr_get_type(attr) == INET_DIAG_PROTOCOL) {
            // Only destroy notifications carry it: one group socket hears TCP and UDP.
            if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0) return -EBADMSG;
            s->protocol = mnl_attr_get_u8(attr);
        }
    }
    return 0;
}

int swstat_diag_parse(const void *buf, size_t len, uint8_t protocol, uint32_t seq,
                      uint32_t portid, swstat_sock_fn fn, void *ctx, uint64_t *emitted,
                      int *interrupted) {
    const struct nlmsghdr *nlh = buf;
    int remaining = len > INT32_MAX ? INT32_MAX : (int)len;
    while (message_ok(nlh, remaining)) {
        // seq = portid = 0 switch these checks off, which replaying a recording needs.
        if (!mnl_nlmsg_portid_ok(nlh, portid) || !mnl_nlmsg_seq_ok(nlh, seq)) return -EPROTO;
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = 1;
        switch (nlh->nlmsg_type) {
        case NLMSG_DONE:
            return 1;
        case NLMSG_ERROR: {
            if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr)) return -EBADMSG;
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            // Only -4095..-1 are errnos. Anything else is a corrupt reply, and INT_MIN would
            // trap when Swift negates it for Errno (found by Tests/Fuzz/fuzz_diag_parse).
            return e->error < 0 && e->error >= -4095 ? e->error : -EPROTO;
        }
        case SOCK_DIAG_BY_FAMILY: {
            swstat_sock s;
            int rc = decode_one(nlh, protocol, &s);
            if (rc < 0) return rc;
            *emitted += 1;
            if (fn(&s, ctx) != 0) return 2;
            break;
        }
        default:    // NLMSG_NOOP and anything else carry no socket
            break;
        }
        nlh = mnl_nlmsg_next(nlh, &remaining);
    }
    // Bytes left over that do not form a whole message: a truncated reply.
    return remaining == 0 ? 0 : -EBADMSG;
}

// The request: nlmsghdr, inet_diag_req_v2 and at most one bytecode attribute.
#define SWSTAT_NL_REQUEST (NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_req_v2)) + \
                           NLA_HDRLEN + SWSTAT_FILTER_BYTECODE_MAX)

// Opens a sock_diag socket and sends the dump request, with `bytecode` as its
// INET_DIAG_REQ_BYTECODE attribute when `bytecode_len` > 0. Returns the socket or NULL with
// *err set.
static struct mnl_socket *diag_request(uint8_t family, uint8_t protocol, uint32_t state_mask,
                                       const uint8_t *bytecode, size_t bytecode_len,
                                       uint32_t *seq, uint32_t *portid, int *err) {
    if (bytecode_len > SWSTAT_FILTER_BYTECODE_MAX || (bytecode_len > 0 && bytecode == NULL)) {
        *err = -EMSGSIZE;
        return NULL;
    }
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
    if (nl == NULL) { *err = -errno; return NULL; }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        *err = -errno;
        mnl_socket_close(nl);
        return NULL;
    }
    _Alignas(8) char req[SWSTAT_NL_REQUEST];
    memset(req, 0, sizeof(req));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    *seq = (uint32_t)time(NULL);
    nlh->nlmsg_seq = *seq;
    struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
    r->sdiag_family = family;
    r->sdiag_protocol = protocol;
    r->idiag_states = state_mask;
    r->idiag_ext = 0;           // INET_DIAG_SHUTDOWN comes with every full socket unasked
    if (bytecode_len > 0 &&
        !mnl_attr_put_check(nlh, sizeof(req), INET_DIAG_REQ_BYTECODE, bytecode_len, bytecode)) {
        *err = -EMSGSIZE;
        mnl_socket_close(nl);
        return NULL;
    }
    *portid = mnl_socket_get_portid(nl);
    for (;;) {
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0) return nl;
        if (errno != EINTR) break;
    }
    *err = -errno;
    mnl_socket_close(nl);
    return NULL;
}

// recvmsg() on the dump socket, retried on EINTR; a datagram cut short (MSG_TRUNC, which libmnl
// reports as ENOSPC) is a truncated reply.
static ssize_t diag_receive(struct mnl_socket *nl, void *buf, size_t len) {
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return errno == ENOSPC ? -EMSGSIZE : -errno;
    }
}

int swstat_diag_dump(uint8_t family, uint8_t protocol, uint32_t state_mask,
                     swstat_sock_fn fn, void *ctx, uint64_t *emitted) {
    return swstat_diag_dump_filtered(family, protocol, state_mask, NULL, 0, fn, ctx, emitted);
}

int swstat_diag_dump_filtered(uint8_t family, uint8_t protocol, uint32_t state_mask,
                              const uint8_t *bytecode, size_t bytecode_len, swstat_sock_fn fn,
                              void *ctx, uint64_t *emitted) {
    uint32_t seq, portid;
    int err = 0, interrupted = 0;
    struct mnl_socket *nl = diag_request(family, protocol, state_mask, bytecode, bytecode_len,
                                         &seq, &portid, &err);
    if (nl == NULL) return err;
    // 8-byte aligned for struct nlmsghdr; static would not be reentrant across threads.
    _Alignas(8) char buf[SWSTAT_NL_BUFFER];
    int rc;
    for (;;) {
        ssize_t n = diag_receive(nl, buf, sizeof(buf));
        if (n < 0) { rc = (int)n; break; }
        if (n == 0) { rc = -EBADMSG; break; }          // the kernel never closes a dump early
        rc = swstat_diag_parse(buf, (size_t)n, protocol, seq, portid, fn, ctx, emitted,
                               &interrupted);
        if (rc != 0) break;
    }
    mnl_socket_close(nl);
    if (rc == 1) return interrupted ? -EINTR : 0;
    if (rc == 2) return 1;
    return rc;
}

int swstat_diag_record(uint8_t family, uint8_t protocol, uint32_t state_mask, int fd) {
    uint32_t seq, portid;
    int err = 0;
    struct mnl_socket *nl = diag_request(family, protocol, state_mask, NULL, 0, &seq, &portid,
                                         &err);
    if (nl == NULL) return err;
    _Alignas(8) char buf[SWSTAT_NL_BUFFER];
    int rc = 0;
    for (;;) {
        ssize_t n = diag_receive(nl, buf, sizeof(buf));
        if (n <= 0) { rc = n < 0 ? (int)n : -EBADMSG; break; }
        if (write(fd, buf, (size_t)n) != n) { rc = -errno; break; }
        // Stop after the datagram that carries NLMSG_DONE or an error.
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
        int remaining = (int)n, last = 0;
        while (message_ok(nlh, remaining)) {
            if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) last = 1;
            nlh = mnl_nlmsg_next(nlh, &remaining);
        }
        if (last) break;
    }
    mnl_socket_close(nl);
    return rc;
}

int swstat_diag_destroy_open(int tcp, int udp, int rcvbuf) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    // A burst of closes must not overflow the queue between two reads: ask for a big buffer.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    int groups[4], n = 0;
    if (tcp) { groups[n++] = SKNLGRP_INET_TCP_DESTROY; groups[n++] = SKNLGRP_INET6_TCP_DESTROY; }
    if (udp) { groups[n++] = SKNLGRP_INET_UDP_DESTROY; groups[n++] = SKNLGRP_INET6_UDP_DESTROY; }
    for (int i = 0; i < n; i++) {
        if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i], sizeof(int)) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    return fd;
}

int swstat_diag_destroy_read(int fd, swstat_sock_fn fn, void *ctx) {
    _Alignas(8) char buf[SWSTAT_NL_BUFFER];
    int delivered = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return delivered;
            return -errno;      // ENOBUFS: the kernel dropped notifications
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
        int remaining = (int)n;
        while (message_ok(nlh, remaining)) {
            if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
                swstat_sock s;
                // The protocol comes from INET_DIAG_PROTOCOL; TCP until then.
                if (decode_one(nlh, IPPROTO_TCP, &s) == 0) {
                    delivered++;
                    if (fn(&s, ctx) != 0) return delivered;
                }
            }
            nlh = mnl_nlmsg_next(nlh, &remaining);
        }
    }
}
