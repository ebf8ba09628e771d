// One sock_diag dump over netlink through libmnl, after libmnl's examples/rtnl/rtnl-link-dump.c:
// the request and receive loop and the message walk that sock_diag.c (inet) and unix_diag.c
// (UNIX) share. Each of those builds its own request and decodes its own messages.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "nl_dump.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/sock_diag.h>

int swstat_nl_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                   swstat_nl_msg_fn fn, void *arg, int *interrupted) {
    const struct nlmsghdr *nlh = buf;
    int remaining = len > INT32_MAX ? INT32_MAX : (int)len;
    while (swstat_nl_message_ok(nlh, remaining)) {
        // seq = portid = 0 switch these checks off, which replaying a recording needs.
        if (!mnl_nlmsg_portid_ok(nlh, portid) || !mnl_nlmsg_seq_ok(nlh, seq)) return -EPROTO;
        if (interrupted != NULL && (nlh->nlmsg_flags & NLM_F_DUMP_INTR)) *interrupted = 1;
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
            int rc = fn(nlh, arg);
            if (rc < 0) return rc;
            if (rc > 0) return 2;
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

// Opens a sock_diag socket and sends `req` with `flags` (NLM_F_DUMP for a dump, 0 for one
// object). Returns the socket or NULL with *err set.
static struct mnl_socket *dump_request(struct nlmsghdr *req, uint16_t flags, uint32_t *seq,
                                       uint32_t *portid, int *err) {
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
    if (nl == NULL) { *err = -errno; return NULL; }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        *err = -errno;
        mnl_socket_close(nl);
        return NULL;
    }
    req->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req->nlmsg_flags = NLM_F_REQUEST | flags;
    *seq = (uint32_t)time(NULL);
    req->nlmsg_seq = *seq;
    *portid = mnl_socket_get_portid(nl);
    for (;;) {
        if (mnl_socket_sendto(nl, req, req->nlmsg_len) >= 0) return nl;
        if (errno != EINTR) break;
    }
    *err = -errno;
    mnl_socket_close(nl);
    return NULL;
}

// recvmsg() on the dump socket, retried on EINTR; a datagram cut short (MSG_TRUNC, which libmnl
// reports as ENOSPC) is a truncated reply. ENOBUFS (the socket overran) comes back as is.
static ssize_t dump_receive(struct mnl_socket *nl, void *buf, size_t len) {
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return errno == ENOSPC ? -EMSGSIZE : -errno;
    }
}

// A sock_diag socket kept by each thread for exact requests (one per thread: a socket answers
// for the network namespace it was opened in, and namespace threads each have their own),
// closed when the thread ends.
static pthread_key_t cached_key;
static pthread_once_t cached_once = PTHREAD_ONCE_INIT;

static void cached_close(void *nl) { mnl_socket_close(nl); }
static void cached_init(void) { (void)pthread_key_create(&cached_key, cached_close); }

int swstat_nl_request_kept(struct nlmsghdr *req, swstat_nl_datagram_fn fn, void *arg) {
    (void)pthread_once(&cached_once, cached_init);
    struct mnl_socket *nl = pthread_getspecific(cached_key);
    if (nl == NULL) {
        nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
        if (nl == NULL) return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
            int e = -errno;
            mnl_socket_close(nl);
            return e;
        }
        (void)pthread_setspecific(cached_key, nl);
    }
    static _Thread_local uint32_t next_seq;
    uint32_t seq = ++next_seq;
    uint32_t portid = mnl_socket_get_portid(nl);
    req->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req->nlmsg_flags = NLM_F_REQUEST;
    req->nlmsg_seq = seq;
    int rc;
    for (;;) {
        if (mnl_socket_sendto(nl, req, req->nlmsg_len) >= 0) break;
        if (errno != EINTR) { rc = -errno; goto fail; }
    }
    _Alignas(8) char buf[SWSTAT_NL_BUFFER];
    for (;;) {
        ssize_t n = dump_receive(nl, buf, sizeof(buf));
        if (n < 0) { rc = (int)n; goto fail; }
        if (n == 0) { rc = -EBADMSG; goto fail; }
        rc = fn(buf, (size_t)n, seq, portid, arg);
        if (rc != 0) break;
    }
    if (rc >= 0) return rc;
fail:
    // Whatever is left unread would answer the next request: start over with a new socket.
    (void)pthread_setspecific(cached_key, NULL);
    mnl_socket_close(nl);
    return rc;
}

int swstat_nl_dump(struct nlmsghdr *req, swstat_nl_datagram_fn fn, void *arg) {
    return swstat_nl_request(req, NLM_F_DUMP, fn, arg);
}

int swstat_nl_request(struct nlmsghdr *req, uint16_t flags, swstat_nl_datagram_fn fn,
                      void *arg) {
    uint32_t seq, portid;
    int err = 0;
    struct mnl_socket *nl = dump_request(req, flags, &seq, &portid, &err);
    if (nl == NULL) return err;
    // 8-byte aligned for struct nlmsghdr; static would not be reentrant across threads.
    _Alignas(8) char buf[SWSTAT_NL_BUFFER];
    int rc;
    for (;;) {
        ssize_t n = dump_receive(nl, buf, sizeof(buf));
        if (n < 0) { rc = (int)n; break; }
        if (n == 0) { rc = -EBADMSG; break; }          // the kernel never closes a dump early
        rc = fn(buf, (size_t)n, seq, portid, arg);
        if (rc != 0) break;
    }
    mnl_socket_close(nl);
    return rc;
}
