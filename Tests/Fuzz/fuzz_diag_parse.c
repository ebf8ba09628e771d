// libFuzzer harness for the sock_diag reply decoders (`make fuzz`): swstat_diag_parse (inet)
// and swstat_unix_parse (unix_diag), which share nl_dump.c's message walk.
//
// The input is one receive buffer as recvmsg() would hand it over: any number of netlink
// messages, cut anywhere. The decoder must never read outside it, never deliver a record it did
// not fully decode, and always return one of its documented codes. libmnl is not built with
// the sanitizers, so the input is copied to end exactly at a PROT_NONE guard page: a read past
// the buffer from libmnl (mnl_nlmsg_ok, mnl_attr_ok) faults just as one from sock_diag.c
// does under ASan.

#include "CSwstat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

// A broken invariant: say which (the line) before libFuzzer saves the input.
#define FAIL() do { fprintf(stderr, "fuzz invariant broken at %s:%d\n", __FILE__, __LINE__); abort(); } while (0)

// Inputs up to this size get the guard page; larger ones (rare: -max_len is far smaller) are
// parsed from libFuzzer's own heap copy, where ASan still sees the instrumented reads.
#define GUARDED_MAX (1u << 20)

static uint8_t *guarded_end;

static void setup_guard(void) {
    long page = sysconf(_SC_PAGESIZE);
    size_t span = GUARDED_MAX + (size_t)page;
    uint8_t *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) FAIL();
    if (mprotect(base + GUARDED_MAX, (size_t)page, PROT_NONE) != 0) FAIL();
    guarded_end = base + GUARDED_MAX;
}

typedef struct {
    uint64_t calls;
    uint64_t stop_after;        // 0: never stop
} counter;

static int on_sock(const swstat_sock *s, void *ctx) {
    counter *c = ctx;
    // Only whole, well-formed records reach Swift.
    if (s->family != AF_INET && s->family != AF_INET6) FAIL();
    if (s->family == AF_INET) {
        for (int i = 4; i < 16; i++)
            if (s->local_addr[i] != 0 || s->remote_addr[i] != 0) FAIL();
    }
    if (s->shutdown > 3 || s->has_shutdown > 1 || s->has_backlog > 1) FAIL();
    if (s->has_backlog && s->send_q != 0) FAIL();
    c->calls++;
    return c->stop_after != 0 && c->calls >= c->stop_after;
}

static void check(const uint8_t *buf, size_t len, uint8_t protocol, uint64_t stop_after) {
    counter c = {0, stop_after};
    uint64_t emitted = 0;
    int interrupted = 0;
    int rc = swstat_diag_parse(buf, len, protocol, 0, 0, on_sock, &c, &emitted, &interrupted);
    // 0 (more to come), 1 (NLMSG_DONE), 2 (stopped), or a negative errno.
    if (rc > 2 || rc < -4095) FAIL();
    if (rc == 2 && (stop_after == 0 || c.calls != stop_after)) FAIL();
    if (emitted != c.calls) FAIL();
    if (interrupted != 0 && interrupted != 1) FAIL();
    // With sequence checks on, a recording (seq 0) is only accepted when it says seq 0 too; the
    // decoder must still stay inside the buffer.
    emitted = 0;
    c.calls = 0;
    c.stop_after = 0;
    rc = swstat_diag_parse(buf, len, protocol, 0x12345678u, 0x9abcu, on_sock, &c, &emitted,
                           &interrupted);
    if (rc > 2 || emitted != c.calls) FAIL();
}

static int on_unix(const swstat_unix_sock *s, void *ctx) {
    counter *c = ctx;
    if (s->name_len > sizeof(s->name)) FAIL();
    if (s->has_peer > 1 || s->has_queues > 1 || s->has_uid > 1) FAIL();
    if (!s->has_peer && s->peer_inode != 0) FAIL();
    c->calls++;
    return c->stop_after != 0 && c->calls >= c->stop_after;
}

static void check_unix(const uint8_t *buf, size_t len, uint64_t stop_after) {
    counter c = {0, stop_after};
    int rc = swstat_unix_parse(buf, len, 0, 0, on_unix, &c);
    if (rc > 2 || rc < -4095) FAIL();
    if (rc == 2 && (stop_after == 0 || c.calls != stop_after)) FAIL();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (guarded_end == NULL) setup_guard();
    const uint8_t *buf = data;
    if (size <= GUARDED_MAX) {
        uint8_t *copy = guarded_end - size;
        memcpy(copy, data, size);
        buf = copy;
    }
    // inet_diag_msg carries no protocol: decode as both, and once stopping after the first
    // record (the path a write error in Swift takes).
    check(buf, size, IPPROTO_TCP, 0);
    check(buf, size, IPPROTO_UDP, 0);
    check(buf, size, IPPROTO_TCP, 1);
    check_unix(buf, size, 0);
    check_unix(buf, size, 1);
    return 0;
}
