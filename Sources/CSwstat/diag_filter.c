// inet_diag bytecode for a swstat_filter, compiled the way ss's ssfilter_bytecompile (misc/ss.c)
// does and checked against the kernel's inet_diag_bc_run and inet_diag_bc_audit
// (net/ipv4/inet_diag.c):
//  - The program runs from its first op; an op whose test holds moves on by `yes` bytes, one
//    whose test fails by `no` bytes (JMP always takes `no`). The socket matches when the program
//    ends exactly on its last byte, so "accept" is falling off the end and "reject" is a jump 4
//    bytes past it: `no` = bytes left + 4, the largest jump the audit allows.
//  - `yes` and `no` are multiples of 4 and at least the op's whole length: a port test carries
//    its port in the `no` of a second op; S_COND/D_COND carry an inet_diag_hostcond and the
//    address. A `no` landing inside the program must land on an op that the chain of `yes`
//    steps from the first op reaches (valid_cc).
// Each condition is compiled alone into a block whose rejects jump past its own end. AND appends
// a block and moves the earlier rejects past the new end (ss's ssfilter_patch); OR puts a JMP
// between two blocks, so a reject in the first lands on the second, and success in the first
// reaches the JMP, which skips the second.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "CSwstat.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/inet_diag.h>

typedef struct {
    uint8_t b[SWSTAT_FILTER_BYTECODE_MAX];
    size_t len;
} block;

static int put(block *blk, const void *data, size_t len) {
    if (len > sizeof(blk->b) - blk->len) return -ENOSPC;
    memcpy(blk->b + blk->len, data, len);
    blk->len += len;
    return 0;
}

static int put_op(block *blk, uint8_t code, uint8_t yes, uint16_t no) {
    struct inet_diag_bc_op op = {.code = code, .yes = yes, .no = no};
    return put(blk, &op, sizeof(op));
}

// Moves every reject of `prog` (a `no` that jumps 4 bytes past the end) `reloc` bytes further,
// past code appended after it. Walks the `yes` chain, which visits every op's start.
static void patch_rejects(uint8_t *prog, size_t len, size_t reloc) {
    size_t at = 0;
    while (at < len) {
        struct inet_diag_bc_op op;
        memcpy(&op, prog + at, sizeof(op));
        if (op.no == len - at + 4) {
            op.no = (uint16_t)(op.no + reloc);
            memcpy(prog + at, &op, sizeof(op));
        }
        if (op.yes == 0) return;                 // never built; stops a malformed walk
        at += op.yes;
    }
}

// dst := dst AND src. An empty block always holds, so appending one changes nothing.
static int and_append(block *dst, const block *src) {
    if (src->len == 0) return 0;
    if (src->len > sizeof(dst->b) - dst->len) return -ENOSPC;
    patch_rejects(dst->b, dst->len, src->len);
    return put(dst, src->b, src->len);
}

// dst := a OR b, as a, JMP past b, b. Either side empty (always true) makes the OR empty too.
static int or_blocks(block *dst, const block *a, const block *b) {
    dst->len = 0;
    if (a->len == 0 || b->len == 0) return 0;
    int rc = put(dst, a->b, a->len);
    if (rc == 0) rc = put_op(dst, INET_DIAG_BC_JMP, 4, (uint16_t)(b->len + 4));
    if (rc == 0) rc = put(dst, b->b, b->len);
    return rc;
}

// One port comparison: the op, then a second op whose `no` holds the port (host order).
static int port_test(block *blk, uint8_t code, uint16_t port) {
    blk->len = 0;
    int rc = put_op(blk, code, 8, 12);
    return rc == 0 ? put_op(blk, INET_DIAG_BC_NOP, 0, port) : rc;
}

// lo <= port <= hi as GE AND LE, leaving out a bound that every port meets.
static int port_range(block *blk, const swstat_port_range *r, uint8_t ge, uint8_t le) {
    blk->len = 0;
    if (!r->set) return 0;
    if (r->lo > r->hi) return -EINVAL;
    block t;
    int rc = 0;
    if (r->lo > 0) {
        rc = port_test(&t, ge, r->lo);
        if (rc == 0) rc = and_append(blk, &t);
    }
    if (rc == 0 && r->hi < UINT16_MAX) {
        rc = port_test(&t, le, r->hi);
        if (rc == 0) rc = and_append(blk, &t);
    }
    return rc;
}

// S_COND/D_COND with an inet_diag_hostcond: any port (-1), the family and prefix given.
static int host_cond(block *blk, const swstat_prefix *p, uint8_t code) {
    blk->len = 0;
    if (p->family == 0) return 0;
    size_t alen;
    if (p->family == AF_INET) alen = 4;
    else if (p->family == AF_INET6) alen = 16;
    else return -EINVAL;
    if (p->prefix_len > 8 * alen) return -EINVAL;
    size_t len = sizeof(struct inet_diag_bc_op) + sizeof(struct inet_diag_hostcond) + alen;
    struct inet_diag_hostcond cond;
    memset(&cond, 0, sizeof(cond));             // the padding after prefix_len goes out too
    cond.family = p->family;
    cond.prefix_len = p->prefix_len;
    cond.port = -1;
    int rc = put_op(blk, code, (uint8_t)len, (uint16_t)(len + 4));
    if (rc == 0) rc = put(blk, &cond, sizeof(cond));
    if (rc == 0) rc = put(blk, p->addr, alen);
    return rc;
}

int swstat_diag_filter_build(const swstat_filter *f, uint8_t *out, size_t cap) {
    block prog = {.len = 0}, cond, a, b;
    int rc = host_cond(&cond, &f->src, INET_DIAG_BC_S_COND);
    if (rc == 0) rc = and_append(&prog, &cond);
    if (rc == 0) rc = host_cond(&cond, &f->dst, INET_DIAG_BC_D_COND);
    if (rc == 0) rc = and_append(&prog, &cond);
    if (rc == 0) rc = port_range(&cond, &f->sport, INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE);
    if (rc == 0) rc = and_append(&prog, &cond);
    if (rc == 0) rc = port_range(&cond, &f->dport, INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE);
    if (rc == 0) rc = and_append(&prog, &cond);
    // Either end's port: the one OR, last, so its JMP lands on the end of the whole program.
    if (rc == 0) rc = port_range(&a, &f->port, INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE);
    if (rc == 0) rc = port_range(&b, &f->port, INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE);
    if (rc == 0) rc = or_blocks(&cond, &a, &b);
    if (rc == 0) rc = and_append(&prog, &cond);
    if (rc < 0) return rc;
    if (prog.len > cap) return -ENOSPC;
    memcpy(out, prog.b, prog.len);
    return (int)prog.len;
}
