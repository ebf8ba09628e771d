// libFuzzer harness for swstat_diag_filter_build, the inet_diag bytecode compiler (`make fuzz`).
//
// The input's first bytes are a swstat_filter as is (any family, prefix length, range), then a
// capacity byte, then bytes that pick test sockets. Whatever the filter, the builder must
// return -EINVAL exactly when the filter is invalid, -ENOSPC only when `cap` is too small, and
// otherwise a program that (1) passes the kernel's own checks and (2) run by the kernel's own
// interpreter keeps exactly the sockets the filter describes. The audit and the interpreter
// below follow net/ipv4/inet_diag.c (inet_diag_bc_audit, valid_cc, valid_hostcond,
// inet_diag_bc_run, bitstring_match) as of Linux 6.x; the description is SocketFilter.matches.

#include "CSwstat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/inet_diag.h>

// A broken invariant: say which (the line) before libFuzzer saves the input.
#define FAIL() do { fprintf(stderr, "fuzz invariant broken at %s:%d\n", __FILE__, __LINE__); abort(); } while (0)

// ---- The kernel's side ----------------------------------------------------------------------

static int valid_cc(const uint8_t *bc, int len, int cc) {
    while (len >= 0) {
        struct inet_diag_bc_op op;
        if (cc > len) return 0;
        if (cc == len) return 1;
        memcpy(&op, bc, sizeof(op));
        if (op.yes < 4 || op.yes & 3) return 0;
        len -= op.yes;
        bc += op.yes;
    }
    return 0;
}

static bool valid_hostcond(const uint8_t *bc, int len, int *min_len) {
    *min_len += (int)sizeof(struct inet_diag_hostcond);
    if (len < *min_len) return false;
    struct inet_diag_hostcond cond;
    memcpy(&cond, bc + sizeof(struct inet_diag_bc_op), sizeof(cond));
    int addr_len;
    switch (cond.family) {
    case AF_UNSPEC: addr_len = 0; break;
    case AF_INET: addr_len = 4; break;
    case AF_INET6: addr_len = 16; break;
    default: return false;
    }
    *min_len += addr_len;
    if (len < *min_len) return false;
    return cond.prefix_len <= 8 * addr_len;
}

static int kernel_audit(const uint8_t *bytecode, int bytecode_len) {
    const uint8_t *bc = bytecode;
    int len = bytecode_len;
    while (len > 0) {
        int min_len = (int)sizeof(struct inet_diag_bc_op);
        struct inet_diag_bc_op op;
        if (len < (int)sizeof(op)) return -EINVAL;     // the kernel reads op before checking
        memcpy(&op, bc, sizeof(op));
        switch (op.code) {
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND:
            if (!valid_hostcond(bc, len, &min_len)) return -EINVAL;
            break;
        case INET_DIAG_BC_S_EQ: case INET_DIAG_BC_S_GE: case INET_DIAG_BC_S_LE:
        case INET_DIAG_BC_D_EQ: case INET_DIAG_BC_D_GE: case INET_DIAG_BC_D_LE:
            min_len += (int)sizeof(struct inet_diag_bc_op);
            if (len < min_len) return -EINVAL;
            break;
        case INET_DIAG_BC_AUTO: case INET_DIAG_BC_JMP: case INET_DIAG_BC_NOP:
            break;
        default:
            return -EINVAL;
        }
        if (op.code != INET_DIAG_BC_NOP) {
            if (op.no < min_len || op.no > len + 4 || op.no & 3) return -EINVAL;
            if (op.no < len && !valid_cc(bytecode, bytecode_len, len - op.no))
                return -EINVAL;
        }
        if (op.yes < min_len || op.yes > len + 4 || op.yes & 3) return -EINVAL;
        bc += op.yes;
        len -= op.yes;
    }
    return len == 0 ? 0 : -EINVAL;
}

typedef struct {
    uint8_t family;
    uint16_t sport, dport;       // host order
    uint32_t saddr[4], daddr[4]; // network order words, as the kernel's entry
} entry;

static int bitstring_match(const uint32_t *a1, const uint32_t *a2, int bits) {
    int words = bits >> 5;
    bits &= 0x1f;
    if (words && memcmp(a1, a2, (size_t)words << 2)) return 0;
    if (bits) {
        uint32_t mask = htonl(0xffffffffu << (32 - bits));
        if ((a1[words] ^ a2[words]) & mask) return 0;
    }
    return 1;
}

static int kernel_run(const uint8_t *bytecode, int len, const entry *e) {
    const uint8_t *bc = bytecode;
    while (len > 0) {
        int yes = 1;
        struct inet_diag_bc_op op, op1;
        memcpy(&op, bc, sizeof(op));
        memcpy(&op1, bc + sizeof(op), sizeof(op1));     // read only by the port tests
        switch (op.code) {
        case INET_DIAG_BC_NOP: break;
        case INET_DIAG_BC_JMP: yes = 0; break;
        case INET_DIAG_BC_S_EQ: yes = e->sport == op1.no; break;
        case INET_DIAG_BC_S_GE: yes = e->sport >= op1.no; break;
        case INET_DIAG_BC_S_LE: yes = e->sport <= op1.no; break;
        case INET_DIAG_BC_D_EQ: yes = e->dport == op1.no; break;
        case INET_DIAG_BC_D_GE: yes = e->dport >= op1.no; break;
        case INET_DIAG_BC_D_LE: yes = e->dport <= op1.no; break;
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND: {
            struct inet_diag_hostcond cond;
            uint32_t caddr[4] = {0};
            memcpy(&cond, bc + sizeof(op), sizeof(cond));
            size_t alen = cond.family == AF_INET ? 4 : cond.family == AF_INET6 ? 16 : 0;
            memcpy(caddr, bc + sizeof(op) + sizeof(cond), alen);
            int is_s = op.code == INET_DIAG_BC_S_COND;
            if (cond.port != -1 && cond.port != (is_s ? e->sport : e->dport)) { yes = 0; break; }
            const uint32_t *addr = is_s ? e->saddr : e->daddr;
            if (cond.family != AF_UNSPEC && cond.family != e->family) {
                if (e->family == AF_INET6 && cond.family == AF_INET) {
                    if (addr[0] == 0 && addr[1] == 0 && addr[2] == htonl(0xffff) &&
                        bitstring_match(addr + 3, caddr, cond.prefix_len))
                        break;
                }
                yes = 0;
                break;
            }
            if (cond.prefix_len == 0) break;
            if (bitstring_match(addr, caddr, cond.prefix_len)) break;
            yes = 0;
            break;
        }
        default:
            FAIL();    // the audit refused every other code
        }
        if (yes) { len -= op.yes; bc += op.yes; }
        else { len -= op.no; bc += op.no; }
    }
    return len == 0;
}

// ---- What the filter means ------------------------------------------------------------------

static bool range_ok(const swstat_port_range *r) { return !r->set || r->lo <= r->hi; }
static bool in_range(const swstat_port_range *r, uint16_t p) {
    return !r->set || (r->lo <= p && p <= r->hi);
}

static bool prefix_ok(const swstat_prefix *p) {
    if (p->family == 0) return true;
    if (p->family == AF_INET) return p->prefix_len <= 32;
    if (p->family == AF_INET6) return p->prefix_len <= 128;
    return false;
}

// The first `bits` bits of a and b (byte strings) agree.
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
    for (unsigned i = 0; i < bits; i++) {
        unsigned mask = 0x80u >> (i % 8);
        if ((a[i / 8] & mask) != (b[i / 8] & mask)) return false;
    }
    return true;
}

static bool in_prefix(const swstat_prefix *p, uint8_t family, const uint32_t words[4]) {
    if (p->family == 0) return true;
    const uint8_t *a = (const uint8_t *)words;
    if (p->family == AF_INET && family == AF_INET) return bits_equal(p->addr, a, p->prefix_len);
    if (p->family == AF_INET && family == AF_INET6) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return memcmp(a, mapped, 12) == 0 && bits_equal(p->addr, a + 12, p->prefix_len);
    }
    if (p->family == AF_INET6 && family == AF_INET6) return bits_equal(p->addr, a, p->prefix_len);
    return false;
}

static bool reference(const swstat_filter *f, const entry *e) {
    return in_range(&f->sport, e->sport) && in_range(&f->dport, e->dport) &&
           (in_range(&f->port, e->sport) || in_range(&f->port, e->dport)) &&
           in_prefix(&f->src, e->family, e->saddr) && in_prefix(&f->dst, e->family, e->daddr);
}

// ---- Test sockets ---------------------------------------------------------------------------

typedef struct {
    const uint8_t *p;
    size_t n;
} bytes;

static uint8_t take(bytes *b) {
    if (b->n == 0) return 0;
    b->n--;
    return *b->p++;
}

// A port near the interesting values of the filter's ranges, or any.
static uint16_t pick_port(bytes *b, const swstat_filter *f) {
    uint8_t c = take(b);
    const swstat_port_range *r = c & 0x10 ? &f->port : (c & 0x20 ? &f->dport : &f->sport);
    int16_t delta = (int16_t)((int)(c & 3) - 1);        // -1, 0, +1, +2
    switch ((c >> 2) & 3) {
    case 0: return (uint16_t)(r->lo + delta);
    case 1: return (uint16_t)(r->hi + delta);
    case 2: return (uint16_t)(take(b) << 8 | take(b));
    default: return c & 0x40 ? 0 : 65535;
    }
}

// An address equal to the filter's prefix address with one bit flipped (or none), in the
// socket's family, or IPv4-mapped.
static void pick_addr(bytes *b, const swstat_prefix *p, uint8_t family, uint32_t out[4]) {
    uint8_t *a = (uint8_t *)out;
    memset(a, 0, 16);
    uint8_t c = take(b);
    bool mapped = family == AF_INET6 && (c & 1);
    if (family == AF_INET) memcpy(a, p->addr, 4);
    else if (mapped) { a[10] = a[11] = 0xff; memcpy(a + 12, p->addr, 4); }
    else memcpy(a, p->addr, 16);
    if (c & 2) {
        unsigned bit = take(b) % (family == AF_INET ? 32u : 128u);
        if (mapped) bit = 96 + bit % 32;
        a[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    swstat_filter f;
    memset(&f, 0, sizeof(f));
    memcpy(&f, data, size < sizeof(f) ? size : sizeof(f));
    bytes rest = {data + (size < sizeof(f) ? size : sizeof(f)),
                  size < sizeof(f) ? 0 : size - sizeof(f)};
    uint8_t cap_byte = take(&rest);
    size_t cap = cap_byte >= 0x80 ? SWSTAT_FILTER_BYTECODE_MAX : cap_byte;

    uint8_t out[SWSTAT_FILTER_BYTECODE_MAX + 16];
    memset(out, 0xee, sizeof(out));
    int n = swstat_diag_filter_build(&f, out, cap);

    bool valid = range_ok(&f.sport) && range_ok(&f.dport) && range_ok(&f.port) &&
                 prefix_ok(&f.src) && prefix_ok(&f.dst);
    if (!valid) {
        if (n != -EINVAL) FAIL();
        return 0;
    }
    if (n == -ENOSPC) {
        // Only a short `cap`; the largest program fits SWSTAT_FILTER_BYTECODE_MAX.
        if (cap >= SWSTAT_FILTER_BYTECODE_MAX) FAIL();
        return 0;
    }
    if (n < 0 || (size_t)n > cap || n % 4 != 0) FAIL();
    for (size_t i = (size_t)n; i < sizeof(out); i++)
        if (out[i] != 0xee) FAIL();                    // nothing written past the program
    if (n > 0 && kernel_audit(out, n) != 0) FAIL();

    // Sockets of both families, near the filter's edges: the kernel keeps exactly the ones the
    // filter describes (no program at all keeps every socket).
    for (int i = 0; i < 16; i++) {
        entry e;
        memset(&e, 0, sizeof(e));
        e.family = take(&rest) & 1 ? AF_INET6 : AF_INET;
        e.sport = pick_port(&rest, &f);
        e.dport = pick_port(&rest, &f);
        pick_addr(&rest, &f.src, e.family, e.saddr);
        pick_addr(&rest, &f.dst, e.family, e.daddr);
        bool kept = n == 0 ? true : kernel_run(out, n, &e);
        if (kept != reference(&f, &e)) FAIL();
    }
    return 0;
}
