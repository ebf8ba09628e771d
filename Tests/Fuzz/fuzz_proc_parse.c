// libFuzzer harness for the /proc/net table scanner (`make fuzz`).
//
// The first input byte picks the table (bits 0-1: tcp, tcp6, udp, udp6); the rest is the file's
// text. Each input is parsed three ways that must agree, since the live path (swstat_proc_scan,
// reading a file in chunks) and the replay path (swstat_proc_parse on a buffer) share one line
// parser: the whole buffer at once; the buffer split at a line boundary chosen by the second
// byte, parsed in two calls that carry the line number; and swstat_proc_scan reading a memfd.
// Every record, every error line and every reason must come out the same, except that the
// scan drops a socket repeated within the first 16 records after a read() (what the kernel
// shows twice across seq_file reads, proc_net.c's recent_filter): the model below drops the
// same ones from the whole-buffer stream.

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

enum { WINDOW = 16 };

typedef struct {
    uint8_t family;
    uint64_t calls;
    uint64_t hash;              // FNV-1a over every record's bytes, in order
    // The scan's repeat filter as a model: one read() boundary, before the first record.
    uint64_t ids[WINDOW];
    unsigned filled, next;
    uint64_t kept_calls, kept_hash;
} tally;

static uint64_t fnv(uint64_t h, const swstat_sock *s) {
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < sizeof(*s); i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int on_sock(const swstat_sock *s, void *ctx) {
    tally *t = ctx;
    uint64_t id = swstat_proc_identity(s);
    int repeat = 0;
    if (t->calls < WINDOW)
        for (unsigned i = 0; i < t->filled; i++) repeat |= t->ids[i] == id;
    if (!repeat) {
        t->ids[t->next] = id;
        t->next = (t->next + 1) % WINDOW;
        if (t->filled < WINDOW) t->filled++;
        t->kept_calls++;
        t->kept_hash = fnv(t->kept_hash, s);
    }
    if (s->family != t->family) FAIL();
    if (s->family == AF_INET) {
        for (int i = 4; i < 16; i++)
            if (s->local_addr[i] != 0 || s->remote_addr[i] != 0) FAIL();
    }
    t->hash = fnv(t->hash, s);
    t->calls++;
    return 0;
}

static void check_error(int rc, const swstat_proc_error *err, uint64_t lines) {
    if (rc == 0) return;
    if (rc != -EBADMSG) FAIL();
    if (memchr(err->reason, 0, sizeof(err->reason)) == NULL || err->reason[0] == 0) FAIL();
    if (err->line < 1 || err->line > lines + 1) FAIL();
}

// One memfd for the whole run, refilled for each input (creating one per input halves the
// executions per second).
static int memfd_for(const char *text, size_t len) {
    static int fd = -1;
    if (fd < 0) fd = memfd_create("fuzz-proc", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) FAIL();
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n <= 0) FAIL();
        off += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) FAIL();
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const uint8_t families[4] = {AF_INET, AF_INET6, AF_INET, AF_INET6};
    static const uint8_t protocols[4] = {IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDP};
    uint8_t family = families[data[0] & 3], protocol = protocols[data[0] & 3];
    uint8_t split_choice = data[1];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    uint64_t lines = 0;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') { lines++; run = 0; }
        else run++;
    }
    if (run > 0) lines++;

    // 1. The whole buffer.
    tally whole = {.family = family, .hash = 0xcbf29ce484222325ull,
                   .kept_hash = 0xcbf29ce484222325ull};
    swstat_proc_error err_whole;
    memset(&err_whole, 0xa5, sizeof(err_whole));
    int rc_whole = swstat_proc_parse(text, len, family, protocol, 1, on_sock, &whole, &err_whole);
    check_error(rc_whole, &err_whole, lines);

    // 2. Two calls, split after the n-th newline; the second starts at that line's number.
    size_t cut = 0;
    uint64_t cut_line = 1, skip = split_choice;
    for (size_t i = 0; i < len && skip > 0; i++) {
        if (text[i] == '\n') { cut = i + 1; cut_line++; skip--; }
    }
    tally halves = {.family = family, .hash = 0xcbf29ce484222325ull};
    swstat_proc_error err_halves;
    memset(&err_halves, 0xa5, sizeof(err_halves));
    int rc_halves = swstat_proc_parse(text, cut, family, protocol, 1, on_sock, &halves,
                                      &err_halves);
    if (rc_halves == 0)
        rc_halves = swstat_proc_parse(text + cut, len - cut, family, protocol, cut_line, on_sock,
                                      &halves, &err_halves);
    check_error(rc_halves, &err_halves, lines);
    if (rc_halves != rc_whole || halves.calls != whole.calls || halves.hash != whole.hash) FAIL();
    if (rc_whole != 0 && (err_halves.line != err_whole.line ||
                          strcmp(err_halves.reason, err_whole.reason) != 0))
        FAIL();

    // 3. swstat_proc_scan over a file, in one read() (under 64 KiB). It refuses an empty file,
    // which a buffer parse has no reason to; elsewhere it must agree.
    if (len > 0 && len < 65536) {
        int fd = memfd_for(text, len);
        tally scanned = {.family = family, .hash = 0xcbf29ce484222325ull};
        swstat_proc_error err_scan;
        memset(&err_scan, 0xa5, sizeof(err_scan));
        int rc_scan = swstat_proc_scan(fd, family, protocol, on_sock, &scanned, &err_scan);
        check_error(rc_scan, &err_scan, lines);
        if (rc_scan != rc_whole || scanned.calls != whole.kept_calls ||
            scanned.hash != whole.kept_hash)
            FAIL();
        if (rc_whole != 0 && (err_scan.line != err_whole.line ||
                              strcmp(err_scan.reason, err_whole.reason) != 0))
            FAIL();
    }
    return 0;
}
