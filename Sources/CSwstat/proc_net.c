// The /proc/net/{tcp,tcp6,udp,udp6} scanner: the fallback when sock_diag is unavailable.
// Line format (net/ipv4/tcp_ipv4.c get_tcp4_sock, tcp6 and udp alike):
//   sl local_address:port rem_address:port st tx_queue:rx_queue tr:tm->when retrnsmt uid
//   timeout inode [refcnt pointer ... extra fields we ignore]
// Addresses are the in-memory bytes of each 32-bit word printed as %08X (so host order on
// little-endian), ports and everything else hexadecimal but uid, timeout and inode (decimal).

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "CSwstat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

enum { TCP_LISTEN_STATE = 10, MIN_FIELDS = 10, SCAN_BUFFER = 65536 };

typedef struct {
    const char *p, *end;
} cursor;

static int is_space(char c) { return c == ' ' || c == '\t'; }

static void skip_spaces(cursor *c) {
    while (c->p < c->end && is_space(*c->p)) c->p++;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads hex digits up to (not including) a terminator; 1 to 16 digits.
static int read_hex(cursor *c, uint64_t *out, size_t max_digits) {
    uint64_t v = 0;
    size_t n = 0;
    while (c->p < c->end) {
        int h = hex_value(*c->p);
        if (h < 0) break;
        if (++n > max_digits) return -1;
        v = v << 4 | (uint64_t)h;
        c->p++;
    }
    if (n == 0) return -1;
    *out = v;
    return 0;
}

static int read_dec(cursor *c, int64_t *out) {
    int neg = 0;
    if (c->p < c->end && *c->p == '-') { neg = 1; c->p++; }
    uint64_t v = 0;
    size_t n = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (++n > 19) return -1;
        v = v * 10 + (uint64_t)(*c->p - '0');
        c->p++;
    }
    if (n == 0) return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int expect(cursor *c, char ch) {
    if (c->p < c->end && *c->p == ch) { c->p++; return 0; }
    return -1;
}

static int at_field_end(const cursor *c) { return c->p == c->end || is_space(*c->p); }

// "0100007F:B79C" or a 32-digit IPv6 form; each group of 8 digits is one 32-bit word as it
// sits in memory, so writing it back little-endian gives the address in network order.
static int read_endpoint(cursor *c, uint8_t family, uint8_t addr[16], uint16_t *port) {
    size_t digits = family == AF_INET ? 8 : 32;
    if ((size_t)(c->end - c->p) < digits + 2) return -1;
    for (size_t w = 0; w < digits / 8; w++) {
        uint32_t v = 0;
        for (size_t i = 0; i < 8; i++) {
            int h = hex_value(c->p[w * 8 + i]);
            if (h < 0) return -1;
            v = v << 4 | (uint32_t)h;
        }
        addr[w * 4 + 0] = (uint8_t)v;
        addr[w * 4 + 1] = (uint8_t)(v >> 8);
        addr[w * 4 + 2] = (uint8_t)(v >> 16);
        addr[w * 4 + 3] = (uint8_t)(v >> 24);
    }
    c->p += digits;
    uint64_t p;
    if (expect(c, ':') < 0 || read_hex(c, &p, 4) < 0 || !at_field_end(c)) return -1;
    *port = (uint16_t)p;
    return 0;
}

static size_t count_fields(const char *p, const char *end) {
    size_t n = 0;
    while (p < end) {
        while (p < end && is_space(*p)) p++;
        if (p == end) break;
        n++;
        while (p < end && !is_space(*p)) p++;
    }
    return n;
}

static int fail(swstat_proc_error *err, uint64_t line, const char *reason) {
    err->line = line;
    snprintf(err->reason, sizeof(err->reason), "%s", reason);
    return -EBADMSG;
}

// A line that failed to parse: too few fields is the likelier story, so say that when it is
// true; else the field-specific reason already in `err`.
static int reject(const char *p, const char *end, uint64_t line, swstat_proc_error *err) {
    size_t fields = count_fields(p, end);
    if (fields < MIN_FIELDS) {
        err->line = line;
        snprintf(err->reason, sizeof(err->reason), "expected at least %d fields, found %zu",
                 MIN_FIELDS, fields);
    }
    return -EBADMSG;
}

static int parse_line(const char *p, const char *end, uint8_t family, uint8_t protocol,
                      swstat_sock *s, uint64_t line, swstat_proc_error *err) {
    cursor c = {p, end};
    uint64_t v;
    int64_t d;
    memset(s, 0, sizeof(*s));
    s->family = family;
    s->protocol = protocol;
    skip_spaces(&c);
    if (read_dec(&c, &d) < 0 || expect(&c, ':') < 0) return fail(err, line, "bad slot number");
    skip_spaces(&c);
    if (read_endpoint(&c, family, s->local_addr, &s->local_port) < 0)
        return fail(err, line, "bad local address");
    skip_spaces(&c);
    if (read_endpoint(&c, family, s->remote_addr, &s->remote_port) < 0)
        return fail(err, line, "bad remote address");
    skip_spaces(&c);
    if (read_hex(&c, &v, 2) < 0 || !at_field_end(&c)) return fail(err, line, "bad state");
    s->state = (uint8_t)v;
    skip_spaces(&c);
    uint64_t tx, rx;
    if (read_hex(&c, &tx, 8) < 0 || expect(&c, ':') < 0 || read_hex(&c, &rx, 8) < 0 ||
        !at_field_end(&c))
        return fail(err, line, "bad tx_queue:rx_queue");
    s->send_q = (uint32_t)tx;
    s->recv_q = (uint32_t)rx;
    skip_spaces(&c);
    uint64_t tr, when;
    if (read_hex(&c, &tr, 2) < 0 || expect(&c, ':') < 0 || read_hex(&c, &when, 8) < 0 ||
        !at_field_end(&c))
        return fail(err, line, "bad tr:tm->when");
    s->timer = (uint8_t)tr;
    // tm->when is in USER_HZ clock ticks (jiffies_delta_to_clock_t), 100 per second on Linux.
    s->expires_ms = (uint32_t)(when * 10);
    skip_spaces(&c);
    if (read_hex(&c, &v, 8) < 0 || !at_field_end(&c)) return fail(err, line, "bad retrnsmt");
    s->retransmits = v > 255 ? 255 : (uint8_t)v;
    skip_spaces(&c);
    if (read_dec(&c, &d) < 0 || !at_field_end(&c) || d < 0 || d > UINT32_MAX)
        return fail(err, line, "bad uid");
    s->uid = (uint32_t)d;
    skip_spaces(&c);
    if (read_dec(&c, &d) < 0 || !at_field_end(&c)) return fail(err, line, "bad timeout");
    s->probes = d < 0 ? 0 : (uint32_t)d;
    skip_spaces(&c);
    if (read_dec(&c, &d) < 0 || !at_field_end(&c) || d < 0) return fail(err, line, "bad inode");
    s->inode = (uint64_t)d;
    (void)protocol;
    (void)TCP_LISTEN_STATE;     // listeners: rx_queue is the accept queue, tx_queue is 0
    return 0;
}

static int parse_lines(const char *buf, size_t len, uint8_t family, uint8_t protocol,
                       uint64_t *next_line, swstat_sock_fn fn, void *ctx, swstat_proc_error *err);

int swstat_proc_parse(const char *buf, size_t len, uint8_t family, uint8_t protocol,
                      uint64_t first_line, swstat_sock_fn fn, void *ctx, swstat_proc_error *err) {
    uint64_t line = first_line;
    return parse_lines(buf, len, family, protocol, &line, fn, ctx, err);
}

// Parses whole lines; `*next_line` moves past each one, so a scan carries the count along.
static int parse_lines(const char *buf, size_t len, uint8_t family, uint8_t protocol,
                       uint64_t *next_line, swstat_sock_fn fn, void *ctx, swstat_proc_error *err) {
    if (family != AF_INET && family != AF_INET6) return fail(err, 0, "bad address family");
    const char *p = buf, *end = buf + len;
    uint64_t line = *next_line;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (line == 1) {
            // The header ("  sl  local_address rem_address ..."): check it is one.
            const char *q = p;
            while (q < eol && is_space(*q)) q++;
            if (eol - q < 2 || q[0] != 's' || q[1] != 'l') {
                rc = fail(err, line, "expected the header line (sl local_address ...)");
                break;
            }
        } else if (eol > p) {
            swstat_sock s;
            if (parse_line(p, eol, family, protocol, &s, line, err) < 0) {
                rc = reject(p, eol, line, err);
                break;
            }
            if (fn(&s, ctx) != 0) {
                rc = 2;
                break;
            }
        }
        line++;
        p = nl ? nl + 1 : end;
    }
    *next_line = line;
    return rc;
}

// Sockets shown twice across a read() boundary. seq_file hands out about a page per read(),
// and /proc/net/tcp resumes each one at (hash bucket, number of sockets of that bucket already
// shown). A connection added to that bucket in between goes to the head of its chain and
// pushes sockets already shown past the resume point, so they come again (netstat prints them
// twice; 56 repeats in 60 listings at 10k connections/s, found by FaultTests). A repeat can
// only be one of the last sockets before the boundary (one bucket's chain), so the first
// RECENT_WINDOW records after each read are checked against the last RECENT_WINDOW shown.
enum { RECENT_WINDOW = 16 };

typedef struct {
    swstat_sock_fn fn;
    void *ctx;
    uint64_t ids[RECENT_WINDOW];
    unsigned next, filled, since_read;
} recent_filter;

uint64_t swstat_proc_identity(const swstat_sock *s) {
    if (s->inode != 0) return s->inode;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 16; i++) h = (h ^ s->local_addr[i]) * 0x100000001b3ull;
    for (int i = 0; i < 16; i++) h = (h ^ s->remote_addr[i]) * 0x100000001b3ull;
    h = (h ^ s->local_port) * 0x100000001b3ull;
    h = (h ^ s->remote_port) * 0x100000001b3ull;
    return h | 1ull << 63;
}

// Stands in for the caller's callback: drops a repeat, passes everything else on.
static int recent_deliver(const swstat_sock *s, void *ctx) {
    recent_filter *r = ctx;
    uint64_t id = swstat_proc_identity(s);
    if (r->since_read < RECENT_WINDOW) {
        r->since_read++;
        for (unsigned i = 0; i < r->filled; i++)
            if (r->ids[i] == id) return 0;
    }
    r->ids[r->next] = id;
    r->next = (r->next + 1) % RECENT_WINDOW;
    if (r->filled < RECENT_WINDOW) r->filled++;
    return r->fn(s, r->ctx);
}

int swstat_proc_scan(int fd, uint8_t family, uint8_t protocol, swstat_sock_fn fn, void *ctx,
                     swstat_proc_error *err) {
    char buf[SCAN_BUFFER];
    size_t held = 0;
    uint64_t line = 1;
    recent_filter recent = {.fn = fn, .ctx = ctx};
    for (;;) {
        ssize_t n = read(fd, buf + held, sizeof(buf) - held);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) break;
        held += (size_t)n;
        recent.since_read = 0;
        // Parse every complete line; keep the partial last one for the next read.
        const char *last = memrchr(buf, '\n', held);
        if (last == NULL) {
            if (held == sizeof(buf)) return fail(err, line, "line longer than 64 KiB");
            continue;
        }
        size_t upto = (size_t)(last - buf) + 1;
        int rc = parse_lines(buf, upto, family, protocol, &line, recent_deliver, &recent, err);
        if (rc != 0) return rc;
        memmove(buf, buf + upto, held - upto);
        held -= upto;
    }
    if (held > 0) {
        // A last line without its newline.
        return parse_lines(buf, held, family, protocol, &line, recent_deliver, &recent, err);
    }
    if (line == 1) return fail(err, 1, "empty file: expected the header line");
    return 0;
}
