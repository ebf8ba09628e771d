// One sock_diag dump over netlink through libmnl, after libmnl's examples/rtnl/rtnl-link-dump.c:
// the request and receive loop and the message walk that sock_diag.c (inet) and unix_diag.c
// (UNIX) share. Each of those builds its own request and decodes its own messages.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "nl_dump.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
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
    // The kernel's answer, whole: the socket, or an error it sent (ENOENT: no such socket,
    // ESTALE: another cookie), after which nothing more is pending. Another namespace's socket
    // is looked up in vain thousands of times a second in a burst: a socket each time cost
    // socket(), bind() and close() on top of the request.
    if (rc >= 0 || (rc != -EPROTO && rc != -EBADMSG)) return rc;
fail:
    // Whatever is left unread would answer the next request: start over with a new socket.
    (void)pthread_setspecific(cached_key, NULL);
    mnl_socket_close(nl);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// A dump received on a thread of its own. The kernel fills each datagram of a dump inside
// recvmsg(): at 100k sockets that is most of a dump's time (about 56 ms of 75), and the
// caller's decoding and printing (the rest) waited for it. A reader thread receives the next
// datagrams while the calling thread hands the last one to `fn`, so the two run on two cores:
// the dump takes about as long as the kernel's part alone. The reader only receives; every call
// of `fn` stays on the calling thread. A dump that fits its first datagram (a small table) never
// starts the thread.

// Datagrams in flight between the reader and the caller (3 × 32 KiB), and how many the caller
// waits for before it wakes (each wake-up is two context switches; the caller decodes faster than
// the kernel fills, so it would otherwise wake for every datagram).
#define SWSTAT_NL_SLOTS 3
#define SWSTAT_NL_BATCH 2

// Whether the datagram ends the dump: its last message is NLMSG_DONE or an error (after which
// the kernel sends nothing more, so receiving again would wait for ever), or it is malformed
// (the walk will say so). Only the headers are read.
static int datagram_ends_dump(const void *buf, ssize_t n) {
    if (n <= 0) return 1;
    const struct nlmsghdr *nlh = buf;
    int remaining = (int)n;
    while (swstat_nl_message_ok(nlh, remaining)) {
        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) return 1;
        nlh = mnl_nlmsg_next(nlh, &remaining);
    }
    return remaining != 0;
}

typedef struct {
    struct mnl_socket *nl;
    char (*buf)[SWSTAT_NL_BUFFER];
    ssize_t len[SWSTAT_NL_SLOTS];
    // Datagrams received and consumed so far; slot = count % SWSTAT_NL_SLOTS.
    unsigned received, consumed;
    int stop, finished;
    pthread_mutex_t mutex;
    pthread_cond_t filled, freed;
} reader_state;

static void *reader_main(void *arg) {
    reader_state *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mutex);
        while (r->received - r->consumed == SWSTAT_NL_SLOTS && !r->stop)
            pthread_cond_wait(&r->freed, &r->mutex);
        int stop = r->stop;
        unsigned slot = r->received % SWSTAT_NL_SLOTS;
        pthread_mutex_unlock(&r->mutex);
        if (stop) break;
        ssize_t n = dump_receive(r->nl, r->buf[slot], SWSTAT_NL_BUFFER);
        int last = datagram_ends_dump(r->buf[slot], n);
        pthread_mutex_lock(&r->mutex);
        r->len[slot] = n;
        r->received++;
        r->finished = last;
        if (last || r->received - r->consumed >= SWSTAT_NL_BATCH)
            pthread_cond_signal(&r->filled);
        pthread_mutex_unlock(&r->mutex);
        if (last) break;
    }
    return NULL;
}

// Hands the rest of the dump on `nl` to `fn`, received by a reader thread; `first` (already
// handed) did not end it. Returns as swstat_nl_request, or 0 to let the caller go on alone
// (the thread could not start).
static int dump_rest_pipelined(struct mnl_socket *nl, uint32_t seq, uint32_t portid,
                               swstat_nl_datagram_fn fn, void *arg, int *rc_out) {
    reader_state r = {.nl = nl};
    r.buf = aligned_alloc(8, (size_t)SWSTAT_NL_SLOTS * SWSTAT_NL_BUFFER);
    if (r.buf == NULL) return 0;
    pthread_mutex_init(&r.mutex, NULL);
    pthread_cond_init(&r.filled, NULL);
    pthread_cond_init(&r.freed, NULL);
    // Signals stay with the calling thread (SIGINT, SIGPIPE, the live modes' self-pipe).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int started = pthread_create(&thread, NULL, reader_main, &r) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!started) {
        free(r.buf);
        return 0;
    }
    int rc;
    for (;;) {
        pthread_mutex_lock(&r.mutex);
        // Nothing left: wait for a batch, or what is left at the end.
        if (r.received == r.consumed) {
            while (r.received - r.consumed < SWSTAT_NL_BATCH && !r.finished)
                pthread_cond_wait(&r.filled, &r.mutex);
        }
        unsigned slot = r.consumed % SWSTAT_NL_SLOTS;
        ssize_t n = r.len[slot];
        pthread_mutex_unlock(&r.mutex);
        if (n < 0) { rc = (int)n; break; }
        if (n == 0) { rc = -EBADMSG; break; }
        rc = fn(r.buf[slot], (size_t)n, seq, portid, arg);
        pthread_mutex_lock(&r.mutex);
        r.consumed++;
        pthread_cond_signal(&r.freed);
        pthread_mutex_unlock(&r.mutex);
        if (rc != 0) break;
    }
    // The reader stops at the dump's end, or at its next datagram once told to (the kernel
    // makes the next part of a dump inside the reader's recvmsg, so it does not wait long).
    pthread_mutex_lock(&r.mutex);
    r.stop = 1;
    pthread_cond_signal(&r.freed);
    pthread_mutex_unlock(&r.mutex);
    pthread_join(thread, NULL);
    pthread_cond_destroy(&r.freed);
    pthread_cond_destroy(&r.filled);
    pthread_mutex_destroy(&r.mutex);
    free(r.buf);
    *rc_out = rc;
    return 1;
}

int swstat_nl_dump(struct nlmsghdr *req, swstat_nl_datagram_fn fn, void *arg) {
    uint32_t seq, portid;
    int err = 0;
    struct mnl_socket *nl = dump_request(req, NLM_F_DUMP, &seq, &portid, &err);
    if (nl == NULL) return err;
    _Alignas(8) char buf[SWSTAT_NL_BUFFER];
    int rc;
    ssize_t n = dump_receive(nl, buf, sizeof(buf));
    if (n < 0) {
        rc = (int)n;
    } else if (n == 0) {
        rc = -EBADMSG;
    } else {
        int last = datagram_ends_dump(buf, n);
        rc = fn(buf, (size_t)n, seq, portid, arg);
        if (rc == 0 && !last && !dump_rest_pipelined(nl, seq, portid, fn, arg, &rc)) {
            // No thread: the rest on this one.
            for (;;) {
                n = dump_receive(nl, buf, sizeof(buf));
                if (n < 0) { rc = (int)n; break; }
                if (n == 0) { rc = -EBADMSG; break; }
                rc = fn(buf, (size_t)n, seq, portid, arg);
                if (rc != 0) break;
            }
        }
    }
    mnl_socket_close(nl);
    return rc;
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
