// UNIX domain sockets through sock_diag (unix_diag, see sock_diag(7)), dumped with libmnl like
// sock_diag.c's inet dumps. The kernel answers with struct unix_diag_msg plus the attributes
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

#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#define SWSTAT_UNIX_BUFFER 32768

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

int swstat_unix_parse(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                      swstat_unix_fn fn, void *ctx) {
    const struct nlmsghdr *nlh = buf;
    int remaining = len > INT32_MAX ? INT32_MAX : (int)len;
    // An unsigned length check: mnl_nlmsg_ok passes lengths of 2 GiB and more (as in
    // sock_diag.c's message_ok).
    while (remaining >= (int)sizeof(struct nlmsghdr) &&
           nlh->nlmsg_len >= sizeof(struct nlmsghdr) && nlh->nlmsg_len <= (uint32_t)remaining) {
        if (!mnl_nlmsg_portid_ok(nlh, portid) || !mnl_nlmsg_seq_ok(nlh, seq)) return -EPROTO;
        switch (nlh->nlmsg_type) {
        case NLMSG_DONE:
            return 1;
        case NLMSG_ERROR: {
            if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr)) return -EBADMSG;
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            return e->error < 0 && e->error >= -4095 ? e->error : -EPROTO;
        }
        case SOCK_DIAG_BY_FAMILY: {
            swstat_unix_sock s;
            int rc = decode_unix(nlh, &s);
            if (rc < 0) return rc;
            if (fn(&s, ctx) != 0) return 2;
            break;
        }
        default:
            break;
        }
        nlh = mnl_nlmsg_next(nlh, &remaining);
    }
    return remaining == 0 ? 0 : -EBADMSG;
}

int swstat_unix_dump(uint32_t state_mask, swstat_unix_fn fn, void *ctx) {
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
    if (nl == NULL) return -errno;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int err = -errno;
        mnl_socket_close(nl);
        return err;
    }
    _Alignas(8) char req[MNL_SOCKET_BUFFER_SIZE];
    memset(req, 0, sizeof(req));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    uint32_t seq = (uint32_t)time(NULL);
    nlh->nlmsg_seq = seq;
    struct unix_diag_req *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
    r->sdiag_family = AF_UNIX;
    r->udiag_states = state_mask;
    r->udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
    uint32_t portid = mnl_socket_get_portid(nl);
    for (;;) {
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0) break;
        if (errno != EINTR) {
            int err = -errno;
            mnl_socket_close(nl);
            return err;
        }
    }
    _Alignas(8) char buf[SWSTAT_UNIX_BUFFER];
    int rc;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = errno == ENOSPC ? -EMSGSIZE : -errno;
            break;
        }
        if (n == 0) { rc = -EBADMSG; break; }
        rc = swstat_unix_parse(buf, (size_t)n, seq, portid, fn, ctx);
        if (rc != 0) break;
    }
    mnl_socket_close(nl);
    if (rc == 1) return 0;
    if (rc == 2) return 1;
    return rc;
}
