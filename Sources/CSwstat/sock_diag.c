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
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>

enum { TCP_LISTEN_STATE = 10 };

// swstat_tcp_info mirrors the kernel's struct tcp_info byte for byte: check it against the
// installed header for every field that header has (newer fields follow the same rules).
#define SAME_OFFSET(ours, theirs) \
    _Static_assert(offsetof(swstat_tcp_info, ours) == offsetof(struct tcp_info, theirs), #ours)
SAME_OFFSET(options, tcpi_options);
SAME_OFFSET(rto, tcpi_rto);
SAME_OFFSET(fackets, tcpi_fackets);
SAME_OFFSET(last_ack_recv, tcpi_last_ack_recv);
SAME_OFFSET(reordering, tcpi_reordering);
SAME_OFFSET(total_retrans, tcpi_total_retrans);
SAME_OFFSET(pacing_rate, tcpi_pacing_rate);
SAME_OFFSET(bytes_received, tcpi_bytes_received);
SAME_OFFSET(segs_in, tcpi_segs_in);
SAME_OFFSET(data_segs_out, tcpi_data_segs_out);
SAME_OFFSET(delivery_rate, tcpi_delivery_rate);
SAME_OFFSET(sndbuf_limited, tcpi_sndbuf_limited);
SAME_OFFSET(delivered_ce, tcpi_delivered_ce);
SAME_OFFSET(bytes_retrans, tcpi_bytes_retrans);
SAME_OFFSET(reord_seen, tcpi_reord_seen);
SAME_OFFSET(rcv_ooopack, tcpi_rcv_ooopack);
SAME_OFFSET(snd_wnd, tcpi_snd_wnd);
#undef SAME_OFFSET
// Linux 6.18's struct tcp_info, the last fields (rcv_wnd to the AccECN counters) included.
_Static_assert(sizeof(swstat_tcp_info) == 280, "swstat_tcp_info is not the kernel's layout");
_Static_assert(offsetof(swstat_tcp_info, total_rto) == 240, "total_rto");
_Static_assert(sizeof(((swstat_sock_extras *)0)->vegas) == sizeof(struct tcpvegas_info), "vegas");
_Static_assert(sizeof(((swstat_sock_extras *)0)->dctcp) == sizeof(struct tcp_dctcp_info), "dctcp");
_Static_assert(sizeof(((swstat_sock_extras *)0)->bbr) == sizeof(struct tcp_bbr_info), "bbr");

// The request's idiag_ext bits for SWSTAT_EXTRA_* (only attributes 1-8 can be asked for;
// BBR and DCTCP info come back through the congestion module when VEGASINFO is asked, and
// INET_DIAG_CGROUP_ID comes unasked).
static uint8_t ext_bits(uint32_t extras) {
    uint8_t ext = 0;
    if (extras & SWSTAT_EXTRA_INFO)
        ext |= 1 << (INET_DIAG_INFO - 1) | 1 << (INET_DIAG_VEGASINFO - 1) |
               1 << (INET_DIAG_CONG - 1);
    if (extras & SWSTAT_EXTRA_MEMORY) ext |= 1 << (INET_DIAG_SKMEMINFO - 1);
    return ext;
}

// Copies a fixed-size attribute when its payload holds the whole struct; a shorter one is
// left out (every field of these has been there since the attribute was added).
static int copy_whole(const struct nlattr *attr, void *out, size_t size) {
    if (mnl_attr_get_payload_len(attr) < size) return 0;
    memcpy(out, mnl_attr_get_payload(attr), size);
    return 1;
}

// One attribute that `extras` asked for, into `x`; anything else is ignored.
static void decode_extra(const struct nlattr *attr, uint32_t extras, swstat_sock_extras *x) {
    size_t len = mnl_attr_get_payload_len(attr);
    const void *payload = mnl_attr_get_payload(attr);
    switch (mnl_attr_get_type(attr)) {
    case INET_DIAG_INFO:
        if (!(extras & SWSTAT_EXTRA_INFO)) break;
        // Kernels differ in how much of tcp_info they send: keep what came and its length, so
        // that fields past it read as absent rather than zero. A longer one (a newer kernel)
        // is cut to what swstat knows. A second one (never from a kernel) replaces the first,
        // as in ss, leaving nothing of it behind (found by Tests/Fuzz/fuzz_diag_parse).
        if (x->present & SWSTAT_HAS_INFO) memset(&x->info, 0, sizeof(x->info));
        x->info_len = (uint16_t)(len < sizeof(x->info) ? len : sizeof(x->info));
        memcpy(&x->info, payload, x->info_len);
        x->present |= SWSTAT_HAS_INFO;
        break;
    case INET_DIAG_CONG: {
        if (!(extras & SWSTAT_EXTRA_INFO)) break;
        size_t n = 0;
        const char *name = payload;
        while (n < len && n < sizeof(x->congestion) - 1 && name[n] != '\0') n++;
        if (n == 0) break;
        memcpy(x->congestion, name, n);
        x->congestion[n] = '\0';
        x->present |= SWSTAT_HAS_CONG;
        break;
    }
    case INET_DIAG_VEGASINFO:
        if ((extras & SWSTAT_EXTRA_INFO) && copy_whole(attr, &x->vegas, sizeof(x->vegas)))
            x->present |= SWSTAT_HAS_VEGAS;
        break;
    case INET_DIAG_DCTCPINFO:
        if ((extras & SWSTAT_EXTRA_INFO) && copy_whole(attr, &x->dctcp, sizeof(x->dctcp)))
            x->present |= SWSTAT_HAS_DCTCP;
        break;
    case INET_DIAG_BBRINFO:
        if ((extras & SWSTAT_EXTRA_INFO) && copy_whole(attr, &x->bbr, sizeof(x->bbr)))
            x->present |= SWSTAT_HAS_BBR;
        break;
    case INET_DIAG_SKMEMINFO: {
        if (!(extras & SWSTAT_EXTRA_MEMORY)) break;
        size_t n = len / sizeof(uint32_t);
        if (n > SWSTAT_SKMEM_MAX) n = SWSTAT_SKMEM_MAX;
        if (x->present & SWSTAT_HAS_SKMEM) memset(x->skmem, 0, sizeof(x->skmem));
        memcpy(x->skmem, payload, n * sizeof(uint32_t));
        x->skmem_count = (uint8_t)n;
        x->present |= SWSTAT_HAS_SKMEM;
        break;
    }
    case INET_DIAG_CGROUP_ID:
        if ((extras & SWSTAT_EXTRA_CGROUP) && copy_whole(attr, &x->cgroup_id, sizeof(uint64_t)))
            x->present |= SWSTAT_HAS_CGROUP;
        break;
    default:
        break;
    }
}

// The attributes of one message (already checked by decode_one) that `extras` asks for, into
// `x`; `s->extras` then points at `x` when the kernel sent any of it. A second walk over the
// attributes, so that the plain listing's decode_one stays as it was.
static void decode_extras(const struct nlmsghdr *nlh, uint32_t extras, swstat_sock_extras *x,
                          swstat_sock *s) {
    memset(x, 0, sizeof(*x));
    const char *end = (const char *)nlh + nlh->nlmsg_len;
    for (const struct nlattr *attr =
             mnl_nlmsg_get_payload_offset(nlh, sizeof(struct inet_diag_msg));
         mnl_attr_ok(attr, (int)(end - (const char *)attr)); attr = mnl_attr_next(attr)) {
        if (mnl_attr_type_valid(attr, INET_DIAG_MAX) < 0) continue;
        decode_extra(attr, extras, x);
    }
    if (x->present != 0) s->extras = x;
}

// Decodes one SOCK_DIAG_BY_FAMILY message into `s`.
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
    s->ifindex = m->id.idiag_if;

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

// swstat_diag_parse's state for the walk: what each decoded socket goes to, and where the
// extras asked for are decoded (unused when `extras` is 0).
typedef struct {
    uint8_t protocol;
    uint32_t extras;
    swstat_sock_fn fn;
    void *ctx;
    uint64_t *emitted;
    swstat_sock_extras *scratch;
} parse_state;

static int parse_one(const struct nlmsghdr *nlh, void *arg) {
    parse_state *p = arg;
    swstat_sock s;
    int rc = decode_one(nlh, p->protocol, &s);
    if (rc < 0) return rc;
    if (p->extras != 0) decode_extras(nlh, p->extras, p->scratch, &s);
    *p->emitted += 1;
    return p->fn(&s, p->ctx) != 0;
}

int swstat_diag_parse(const void *buf, size_t len, uint8_t protocol, uint32_t seq,
                      uint32_t portid, swstat_sock_fn fn, void *ctx, uint64_t *emitted,
                      int *interrupted) {
    parse_state p = {.protocol = protocol, .fn = fn, .ctx = ctx, .emitted = emitted};
    return swstat_nl_walk(buf, len, seq, portid, parse_one, &p, interrupted);
}

int swstat_diag_parse_extras(const void *buf, size_t len, uint8_t protocol, uint32_t seq,
                             uint32_t portid, uint32_t extras, swstat_sock_fn fn, void *ctx,
                             uint64_t *emitted, int *interrupted) {
    swstat_sock_extras scratch;
    parse_state p = {.protocol = protocol, .extras = extras, .fn = fn, .ctx = ctx,
                     .emitted = emitted, .scratch = &scratch};
    return swstat_nl_walk(buf, len, seq, portid, parse_one, &p, interrupted);
}

// The request: nlmsghdr, inet_diag_req_v2 and at most one bytecode attribute.
#define SWSTAT_DIAG_REQUEST (NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_req_v2)) + \
                           NLA_HDRLEN + SWSTAT_DIAG_BYTECODE_MAX)

// Builds the dump request in `req` (SWSTAT_DIAG_REQUEST bytes), with `bytecode` as its
// INET_DIAG_REQ_BYTECODE attribute when `bytecode_len` > 0; swstat_nl_dump fills in the rest
// of the header. Returns the message or NULL when the bytecode does not fit.
static struct nlmsghdr *diag_request(char *req, uint8_t family, uint8_t protocol,
                                     uint32_t state_mask, uint32_t extras,
                                     const uint8_t *bytecode, size_t bytecode_len) {
    if (bytecode_len > SWSTAT_DIAG_BYTECODE_MAX || (bytecode_len > 0 && bytecode == NULL))
        return NULL;
    memset(req, 0, SWSTAT_DIAG_REQUEST);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
    r->sdiag_family = family;
    r->sdiag_protocol = protocol;
    r->idiag_states = state_mask;
    // INET_DIAG_SHUTDOWN (and INET_DIAG_CGROUP_ID) come with every full socket unasked.
    r->idiag_ext = ext_bits(extras);
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
    return swstat_diag_dump_extras(family, protocol, state_mask, bytecode, bytecode_len, 0, fn,
                                   ctx, emitted);
}

int swstat_diag_dump_extras(uint8_t family, uint8_t protocol, uint32_t state_mask,
                            const uint8_t *bytecode, size_t bytecode_len, uint32_t extras,
                            swstat_sock_fn fn, void *ctx, uint64_t *emitted) {
    _Alignas(8) char req[SWSTAT_DIAG_REQUEST];
    struct nlmsghdr *nlh = diag_request(req, family, protocol, state_mask, extras, bytecode,
                                        bytecode_len);
    if (nlh == NULL) return -EMSGSIZE;
    swstat_sock_extras scratch;
    dump_state d = {
        .parse = {.protocol = protocol, .extras = extras, .fn = fn, .ctx = ctx,
                  .emitted = emitted, .scratch = &scratch},
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

int swstat_diag_record(uint8_t family, uint8_t protocol, uint32_t state_mask, uint32_t extras,
                       int fd) {
    _Alignas(8) char req[SWSTAT_DIAG_REQUEST];
    struct nlmsghdr *nlh = diag_request(req, family, protocol, state_mask, extras, NULL, 0);
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
    struct nlmsghdr *nlh = diag_request(req, key->family, key->protocol, ~0u, 0, NULL, 0);
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

// Hands each SOCK_DIAG_BY_FAMILY message of one datagram of destroy notifications to `fn`.
// Not swstat_nl_walk: notifications carry no seq to check and no dump to end, and one message
// that does not decode must not cost the others. Returns the number delivered, and sets
// `*stopped` when `fn` asked to stop.
static int destroy_messages(const void *buf, size_t len, uint32_t extras, swstat_sock_fn fn,
                            void *ctx, int *stopped) {
    swstat_sock_extras scratch;
    const struct nlmsghdr *nlh = buf;
    int remaining = len > INT32_MAX ? INT32_MAX : (int)len;
    int delivered = 0;
    while (swstat_nl_message_ok(nlh, remaining)) {
        if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            swstat_sock s;
            // The protocol comes from INET_DIAG_PROTOCOL; TCP until then.
            if (decode_one(nlh, IPPROTO_TCP, &s) == 0) {
                if (extras != 0) decode_extras(nlh, extras, &scratch, &s);
                delivered++;
                if (fn(&s, ctx) != 0) {
                    *stopped = 1;
                    return delivered;
                }
            }
        }
        nlh = mnl_nlmsg_next(nlh, &remaining);
    }
    return delivered;
}

int swstat_diag_destroy_parse(const void *buf, size_t len, uint32_t extras, swstat_sock_fn fn,
                              void *ctx) {
    int stopped = 0;
    return destroy_messages(buf, len, extras, fn, ctx, &stopped);
}

int swstat_diag_destroy_read(int fd, uint32_t extras, swstat_sock_fn fn, void *ctx) {
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
        int stopped = 0;
        delivered += destroy_messages(buf, (size_t)n, extras, fn, ctx, &stopped);
        if (stopped) return delivered;
    }
    return delivered;
}

int swstat_diag_kill_open(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int swstat_diag_kill(int fd, const swstat_sock *s) {
    // The request: nlmsghdr and inet_diag_req_v2, as ss's kill_inet_sock builds it.
    _Alignas(8) char req[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_req_v2))];
    memset(req, 0, sizeof(req));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    nlh->nlmsg_type = SOCK_DESTROY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    static uint32_t counter;
    uint32_t seq = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    nlh->nlmsg_seq = seq;
    struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
    r->sdiag_family = s->family;
    r->sdiag_protocol = s->protocol;
    r->id.idiag_sport = htons(s->local_port);
    r->id.idiag_dport = htons(s->remote_port);
    size_t alen = s->family == AF_INET ? 4 : 16;
    memcpy(r->id.idiag_src, s->local_addr, alen);
    memcpy(r->id.idiag_dst, s->remote_addr, alen);
    r->id.idiag_if = s->ifindex;
    // A socket known without its cookie (from /proc) is named by its ends alone.
    uint64_t cookie = s->cookie != 0 ? s->cookie : ((uint64_t)INET_DIAG_NOCOOKIE << 32 |
                                                     INET_DIAG_NOCOOKIE);
    r->id.idiag_cookie[0] = (uint32_t)cookie;
    r->id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    for (;;) {
        if (sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) >= 0)
            break;
        if (errno != EINTR) return -errno;
    }
    // The kernel answers in the sender's context, so the acknowledgement is already queued;
    // anything else on the socket (an earlier request's late answer) is skipped by its seq.
    _Alignas(8) char buf[8192];
    for (int tries = 0; tries < 16; tries++) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        const struct nlmsghdr *m = (const struct nlmsghdr *)buf;
        int remaining = (int)n;
        while (swstat_nl_message_ok(m, remaining)) {
            if (m->nlmsg_seq == seq && m->nlmsg_type == NLMSG_ERROR) {
                if (mnl_nlmsg_get_payload_len(m) < sizeof(struct nlmsgerr)) return -EPROTO;
                const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);
                return e->error <= 0 && e->error >= -4095 ? e->error : -EPROTO;
            }
            m = mnl_nlmsg_next(m, &remaining);
        }
    }
    return -EPROTO;
}
