// sock_diag dumps of inet sockets through libmnl, with NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY
// and struct inet_diag_req_v2 (see sock_diag(7)); the request/receive loop and the message walk
// are nl_dump.c's. Socket I/O (swstat_diag_dump) and decoding (swstat_diag_parse) are separate
// so that tests replay recorded replies through the decoder alone.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "CSwstat.h"
#include "nl_dump.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

enum { TCP_LISTEN_STATE = 10 };

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

// swstat_diag_parse's state for the walk: what each decoded socket goes to.
typedef struct {
    uint8_t protocol;
    swstat_sock_fn fn;
    void *ctx;
    uint64_t *emitted;
} parse_state;

static int parse_one(const struct nlmsghdr *nlh, void *arg) {
    parse_state *p = arg;
    swstat_sock s;
    int rc = decode_one(nlh, p->protocol, &s);
    if (rc < 0) return rc;
    *p->emitted += 1;
    return p->fn(&s, p->ctx) != 0;
}

int swstat_diag_parse(const void *buf, size_t len, uint8_t protocol, uint32_t seq,
                      uint32_t portid, swstat_sock_fn fn, void *ctx, uint64_t *emitted,
                      int *interrupted) {
    parse_state p = {.protocol = protocol, .fn = fn, .ctx = ctx, .emitted = emitted};
    return swstat_nl_walk(buf, len, seq, portid, parse_one, &p, interrupted);
}

// The request: nlmsghdr, inet_diag_req_v2 and at most one bytecode attribute.
#define SWSTAT_DIAG_REQUEST (NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_req_v2)) + \
                           NLA_HDRLEN + SWSTAT_DIAG_BYTECODE_MAX)

// Builds the dump request in `req` (SWSTAT_DIAG_REQUEST bytes), with `bytecode` as its
// INET_DIAG_REQ_BYTECODE attribute when `bytecode_len` > 0; swstat_nl_dump fills in the rest
// of the header. Returns the message or NULL when the bytecode does not fit.
static struct nlmsghdr *diag_request(char *req, uint8_t family, uint8_t protocol,
                                     uint32_t state_mask, const uint8_t *bytecode,
                                     size_t bytecode_len) {
    if (bytecode_len > SWSTAT_DIAG_BYTECODE_MAX || (bytecode_len > 0 && bytecode == NULL))
        return NULL;
    memset(req, 0, SWSTAT_DIAG_REQUEST);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
    r->sdiag_family = family;
    r->sdiag_protocol = protocol;
    r->idiag_states = state_mask;
    r->idiag_ext = 0;           // INET_DIAG_SHUTDOWN comes with every full socket unasked
    if (bytecode_len > 0 &&
        !mnl_attr_put_check(nlh, SWSTAT_DIAG_REQUEST, INET_DIAG_REQ_BYTECODE, bytecode_len,
                            bytecode))
        return NULL;
    return nlh;
}

int swstat_diag_dump(uint8_t family, uint8_t protocol, uint32_t state_mask,
                     swstat_sock_fn fn, void *ctx, uint64_t *emitted) {
    return swstat_diag_dump_filtered(family, protocol, state_mask, NULL, 0, fn, ctx, emitted);
}

// swstat_diag_dump's datagram handler: the walk's state and the dump's NLM_F_DUMP_INTR flag.
typedef struct {
    parse_state parse;
    int interrupted;
} dump_state;

static int dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                         void *arg) {
    dump_state *d = arg;
    return swstat_nl_walk(buf, len, seq, portid, parse_one, &d->parse, &d->interrupted);
}

int swstat_diag_dump_filtered(uint8_t family, uint8_t protocol, uint32_t state_mask,
                              const uint8_t *bytecode, size_t bytecode_len, swstat_sock_fn fn,
                              void *ctx, uint64_t *emitted) {
    _Alignas(8) char req[SWSTAT_DIAG_REQUEST];
    struct nlmsghdr *nlh = diag_request(req, family, protocol, state_mask, bytecode,
                                        bytecode_len);
    if (nlh == NULL) return -EMSGSIZE;
    dump_state d = {
        .parse = {.protocol = protocol, .fn = fn, .ctx = ctx, .emitted = emitted},
        .interrupted = 0,
    };
    int rc = swstat_nl_dump(nlh, dump_datagram, &d);
    if (rc == 1) return d.interrupted ? -EINTR : 0;
    if (rc == 2) return 1;
    return rc;
}

// swstat_diag_record's datagram handler: appends it to the file descriptor in `arg` and stops
// (1) after the datagram that carries NLMSG_DONE or an error.
static int record_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                           void *arg) {
    (void)seq;
    (void)portid;
    ssize_t n = (ssize_t)len;
    if (write(*(const int *)arg, buf, len) != n) return -errno;
    const struct nlmsghdr *nlh = buf;
    int remaining = (int)n, last = 0;
    while (swstat_nl_message_ok(nlh, remaining)) {
        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) last = 1;
        nlh = mnl_nlmsg_next(nlh, &remaining);
    }
    return last;
}

int swstat_diag_record(uint8_t family, uint8_t protocol, uint32_t state_mask, int fd) {
    _Alignas(8) char req[SWSTAT_DIAG_REQUEST];
    struct nlmsghdr *nlh = diag_request(req, family, protocol, state_mask, NULL, 0);
    if (nlh == NULL) return -EMSGSIZE;
    int rc = swstat_nl_dump(nlh, record_datagram, &fd);
    return rc == 1 ? 0 : rc;
}

// swstat_diag_lookup's state: the socket asked for and what became of it.
typedef struct {
    const swstat_sock *key;
    swstat_sock_fn fn;
    void *ctx;
    int found;
} lookup_state;

static int same_socket(const swstat_sock *a, const swstat_sock *b) {
    size_t alen = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->local_port == b->local_port &&
           a->remote_port == b->remote_port && memcmp(a->local_addr, b->local_addr, alen) == 0 &&
           memcmp(a->remote_addr, b->remote_addr, alen) == 0;
}

static int lookup_one(const struct nlmsghdr *nlh, void *arg) {
    lookup_state *l = arg;
    swstat_sock s;
    int rc = decode_one(nlh, l->key->protocol, &s);
    if (rc < 0) return rc;
    // The kernel's lookup falls back to a listener on the local port (inet_lookup): that is
    // not the connection asked for.
    if (!same_socket(l->key, &s)) return 1;
    l->found = 1;
    (void)l->fn(&s, l->ctx);
    return 1;
}

static int lookup_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                           void *arg) {
    int rc = swstat_nl_walk(buf, len, seq, portid, lookup_one, arg, NULL);
    // The whole answer to an exact request is one datagram: a socket or an error.
    return rc < 0 ? rc : 1;
}

int swstat_diag_lookup(const swstat_sock *key, swstat_sock_fn fn, void *ctx) {
    if (key->family != AF_INET && key->family != AF_INET6) return -EAFNOSUPPORT;
    _Alignas(8) char req[SWSTAT_DIAG_REQUEST];
    struct nlmsghdr *nlh = diag_request(req, key->family, key->protocol, ~0u, NULL, 0);
    if (nlh == NULL) return -EMSGSIZE;
    struct inet_diag_req_v2 *r = mnl_nlmsg_get_payload(nlh);
    size_t alen = key->family == AF_INET ? 4 : 16;
    r->id.idiag_sport = htons(key->local_port);
    r->id.idiag_dport = htons(key->remote_port);
    memcpy(r->id.idiag_src, key->local_addr, alen);
    memcpy(r->id.idiag_dst, key->remote_addr, alen);
    r->id.idiag_if = 0;
    if (key->cookie != 0) {
        r->id.idiag_cookie[0] = (uint32_t)key->cookie;
        r->id.idiag_cookie[1] = (uint32_t)(key->cookie >> 32);
    } else {
        r->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
        r->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    }
    lookup_state l = {.key = key, .fn = fn, .ctx = ctx, .found = 0};
    int rc = swstat_nl_request_kept(nlh, lookup_datagram, &l);
    if (rc < 0) return rc;
    return l.found ? 0 : -ENOENT;
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
    // A bounded number of datagrams a call: on a host closing sockets faster than they can be
    // read the queue never empties, and the caller's ticks and signals must still get a turn.
    for (int datagrams = 0; datagrams < SWSTAT_DESTROY_READ_MAX; datagrams++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return delivered;
            return -errno;      // ENOBUFS: the kernel dropped notifications
        }
        // Not swstat_nl_walk: notifications carry no seq to check and no dump to end, and one
        // message that does not decode must not cost the others.
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
        int remaining = (int)n;
        while (swstat_nl_message_ok(nlh, remaining)) {
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
    return delivered;
}
