// UNIX domain sockets through sock_diag (unix_diag, see sock_diag(7)), dumped with libmnl like
// sock_diag.c's inet dumps, through the same request/receive loop and message walk
// (nl_dump.c). The kernel answers with struct unix_diag_msg plus the attributes
// asked for in udiag_show: UNIX_DIAG_NAME, UNIX_DIAG_PEER, UNIX_DIAG_RQLEN, UNIX_DIAG_UID.
//
// What it cannot give, and why the netstat table reads /proc/net/unix instead: the socket's
// reference count (netstat's RefCnt column; /proc/net/unix prints sk_refcnt), and sockets that
// have no inode yet — the server end of a connection still in the accept queue, which
// /proc/net/unix lists as CONNECTING with inode 0 and unix_diag skips (sk_diag_dump returns
// early when sock_i_ino() is 0).

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "CSwstat.h"
#include "nl_dump.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

static int decode_unix(const struct nlmsghdr *nlh, swstat_unix_sock *s) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct unix_diag_msg)) return -EBADMSG;
    const struct unix_diag_msg *m = mnl_nlmsg_get_payload(nlh);
    memset(s, 0, sizeof(*s));
    if (m->udiag_family != AF_UNIX) return -EBADMSG;
    s->type = m->udiag_type;
    s->state = m->udiag_state;
    s->inode = m->udiag_ino;
    // Attributes end where the message does, not at NLMSG_ALIGN(nlmsg_len) as
    // mnl_attr_for_each has it (up to 3 bytes past the buffer; as in sock_diag.c).
    const char *end = (const char *)nlh + nlh->nlmsg_len;
    for (const struct nlattr *attr = mnl_nlmsg_get_payload_offset(nlh, sizeof(*m));
         mnl_attr_ok(attr, (int)(end - (const char *)attr)); attr = mnl_attr_next(attr)) {
        if (mnl_attr_type_valid(attr, UNIX_DIAG_MAX) < 0) continue;   // newer than our headers
        switch (mnl_attr_get_type(attr)) {
        case UNIX_DIAG_NAME: {
            uint16_t n = mnl_attr_get_payload_len(attr);
            if (n > sizeof(s->name)) n = sizeof(s->name);
            memcpy(s->name, mnl_attr_get_payload(attr), n);
            s->name_len = n;
            break;
        }
        case UNIX_DIAG_PEER:
            if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) return -EBADMSG;
            s->peer_inode = mnl_attr_get_u32(attr);
            s->has_peer = 1;
            break;
        case UNIX_DIAG_RQLEN: {
            if (mnl_attr_get_payload_len(attr) < sizeof(struct unix_diag_rqlen)) return -EBADMSG;
            const struct unix_diag_rqlen *q = mnl_attr_get_payload(attr);
            s->recv_q = q->udiag_rqueue;
            s->send_q = q->udiag_wqueue;
            s->has_queues = 1;
            break;
        }
        case UNIX_DIAG_UID:
            if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) return -EBADMSG;
            s->uid = mnl_attr_get_u32(attr);
            s->has_uid = 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

// swstat_unix_parse's state for the walk: what each decoded socket goes to.
typedef struct {
    swstat_unix_fn fn;
    void *ctx;
} parse_state;

static int parse_one(const struct nlmsghdr *nlh, void *arg) {
    const parse_state *p = arg;
    swstat_unix_sock s;
    int rc = decode_unix(nlh, &s);
    if (rc < 0) return rc;
    return p->fn(&s, p->ctx) != 0;
}

int swstat_unix_parse(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                      swstat_unix_fn fn, void *ctx) {
    parse_state p = {.fn = fn, .ctx = ctx};
    return swstat_nl_walk(buf, len, seq, portid, parse_one, &p, NULL);
}

// swstat_unix_dump's datagram handler.
static int dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                         void *arg) {
    return swstat_nl_walk(buf, len, seq, portid, parse_one, arg, NULL);
}

int swstat_unix_dump(uint32_t state_mask, swstat_unix_fn fn, void *ctx) {
    _Alignas(8) char req[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct unix_diag_req))];
    memset(req, 0, sizeof(req));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    struct unix_diag_req *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
    r->sdiag_family = AF_UNIX;
    r->udiag_states = state_mask;
    r->udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
    parse_state p = {.fn = fn, .ctx = ctx};
    int rc = swstat_nl_dump(nlh, dump_datagram, &p);
    if (rc == 1) return 0;
    if (rc == 2) return 1;
    return rc;
}
