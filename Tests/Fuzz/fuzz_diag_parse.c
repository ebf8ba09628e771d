// libFuzzer harness for the sock_diag reply decoders (`make fuzz`): swstat_diag_parse (inet)
// and swstat_unix_parse (unix_diag), which share nl_dump.c's message walk, and the decoding of
// the attributes `--info`, `--memory` and `--cgroup` ask for (swstat_diag_parse_extras, and
// swstat_diag_destroy_parse for destroy notifications) at every payload length.
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
    uint32_t extras;            // what the decode asked for
    uint64_t hash;              // FNV-1a of every record delivered, extras left out
} counter;

static int all_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return 0;
    return 1;
}

// What a decode with `asked` may hand over: only the parts asked for, each within its bounds,
// nothing past what the kernel sent.
static void check_extras(const swstat_sock_extras *x, uint32_t asked) {
    const uint32_t known = SWSTAT_HAS_INFO | SWSTAT_HAS_CONG | SWSTAT_HAS_VEGAS |
                           SWSTAT_HAS_DCTCP | SWSTAT_HAS_BBR | SWSTAT_HAS_SKMEM |
                           SWSTAT_HAS_CGROUP;
    if (x->present == 0 || (x->present & ~known)) FAIL();
    const uint32_t info = SWSTAT_HAS_INFO | SWSTAT_HAS_CONG | SWSTAT_HAS_VEGAS |
                          SWSTAT_HAS_DCTCP | SWSTAT_HAS_BBR;
    if (!(asked & SWSTAT_EXTRA_INFO) && (x->present & info)) FAIL();
    if (!(asked & SWSTAT_EXTRA_MEMORY) && (x->present & SWSTAT_HAS_SKMEM)) FAIL();
    if (!(asked & SWSTAT_EXTRA_CGROUP) && (x->present & SWSTAT_HAS_CGROUP)) FAIL();
    if (x->info_len > sizeof(x->info)) FAIL();
    if (!(x->present & SWSTAT_HAS_INFO) && x->info_len != 0) FAIL();
    // Fields past the payload are absent: the bytes behind them were never written.
    if (!all_zero((const uint8_t *)&x->info + x->info_len, sizeof(x->info) - x->info_len)) FAIL();
    if (x->skmem_count > SWSTAT_SKMEM_MAX) FAIL();
    if (!(x->present & SWSTAT_HAS_SKMEM) && x->skmem_count != 0) FAIL();
    if (!all_zero(x->skmem + x->skmem_count,
                  (SWSTAT_SKMEM_MAX - x->skmem_count) * sizeof(uint32_t))) FAIL();
    size_t name = strnlen(x->congestion, sizeof(x->congestion));
    if (name >= sizeof(x->congestion)) FAIL();          // always NUL-terminated
    if ((x->present & SWSTAT_HAS_CONG) ? name == 0 : name != 0) FAIL();
    if (!(x->present & SWSTAT_HAS_CGROUP) && x->cgroup_id != 0) FAIL();
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int on_sock(const swstat_sock *s, void *ctx) {
    counter *c = ctx;
    if (c->extras == 0 && s->extras != NULL) FAIL();
    if (s->extras != NULL) check_extras(s->extras, c->extras);
    swstat_sock plain = *s;
    plain.extras = NULL;
    c->hash = fnv(c->hash, &plain, sizeof(plain));
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
    counter c = {0, stop_after, 0, 0xcbf29ce484222325ull};
    uint64_t emitted = 0;
    int interrupted = 0;
    int rc = swstat_diag_parse(buf, len, protocol, 0, 0, on_sock, &c, &emitted, &interrupted);
    // 0 (more to come), 1 (NLMSG_DONE), 2 (stopped), or a negative errno.
    if (rc > 2 || rc < -4095) FAIL();
    if (rc == 2 && (stop_after == 0 || c.calls != stop_after)) FAIL();
    if (emitted != c.calls) FAIL();
    if (interrupted != 0 && interrupted != 1) FAIL();
    // Asking for extras (all of them, or one kind) changes nothing about the records
    // themselves, nor the result.
    static const uint32_t asks[] = {
        SWSTAT_EXTRA_INFO | SWSTAT_EXTRA_MEMORY | SWSTAT_EXTRA_CGROUP,
        SWSTAT_EXTRA_INFO, SWSTAT_EXTRA_MEMORY, SWSTAT_EXTRA_CGROUP,
    };
    for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
        counter e = {0, stop_after, asks[i], 0xcbf29ce484222325ull};
        uint64_t emitted_e = 0;
        int interrupted_e = 0;
        int rc_e = swstat_diag_parse_extras(buf, len, protocol, 0, 0, asks[i], on_sock, &e,
                                            &emitted_e, &interrupted_e);
        if (rc_e != rc || e.calls != c.calls || e.hash != c.hash) FAIL();
        if (emitted_e != emitted || interrupted_e != interrupted) FAIL();
    }
    // The same bytes as destroy notifications (one datagram): no sequence, no end of dump.
    counter d = {0, 0, SWSTAT_EXTRA_INFO, 0xcbf29ce484222325ull};
    int delivered = swstat_diag_destroy_parse(buf, len, SWSTAT_EXTRA_INFO, on_sock, &d);
    if (delivered < 0 || (uint64_t)delivered != d.calls) FAIL();
    // With sequence checks on, a recording (seq 0) is only accepted when it says seq 0 too; the
    // decoder must still stay inside the buffer.
    emitted = 0;
    c.calls = 0;
    c.stop_after = 0;
    c.extras = 0;
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
    counter c = {0, stop_after, 0, 0};
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
