// libFuzzer harness for the transition source's pure side (`make fuzz`): the tracefs format
// parser (swstat_trace_parse_format), the record decoders (swstat_trace_decode,
// swstat_trace_decode_record) and the replay with its per-CPU merge (swstat_trace_replay).
//
// Byte 0 chooses, by its value modulo 3, what the rest is:
//   0  a format file, parsed for the kind (byte 0 / 3) % 4 + 1;
//   1  a recording (u32 cpu, u32 length, a perf ring record; repeated), replayed with the
//      layouts of this machine's four tracepoints (Linux 6.18) and again with the pre-5.6 one;
//   2  a format file up to the first NUL, then a record decoded with whatever it parsed to,
//      as raw tracepoint data, as a perf ring record and as a recording.
// Every result must be one the header documents, and only whole, consistent transitions may
// reach the callback. ASan sees every read of the input (the shim only memcpy()s from it).

#include "CSwstat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

// A broken invariant: say which (the line) before libFuzzer saves the input.
#define FAIL() do { fprintf(stderr, "fuzz invariant broken at %s:%d\n", __FILE__, __LINE__); abort(); } while (0)

// The recorded formats' ID and field lines (Tests/SwstatCoreTests/Fixtures/trace/).
static const char *const formats[] = {
    // inet_sock_set_state.format
    "ID: 2287\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n"
    "\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n"
    "\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;\n"
    "\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;\n"
    "\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;\n"
    ,
    // tcp_send_reset.format
    "ID: 2280\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;\n"
    "\tfield:enum sk_rst_reason reason;\toffset:28;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr[28];\toffset:32;\tsize:28;\tsigned:0;\n"
    "\tfield:__u8 daddr[28];\toffset:60;\tsize:28;\tsigned:0;\n"
    ,
    // tcp_receive_reset.format
    "ID: 2279\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:__u16 sport;\toffset:16;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 dport;\toffset:18;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 family;\toffset:20;\tsize:2;\tsigned:0;\n"
    "\tfield:__u8 saddr[4];\toffset:22;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 daddr[4];\toffset:26;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr_v6[16];\toffset:30;\tsize:16;\tsigned:0;\n"
    "\tfield:__u8 daddr_v6[16];\toffset:46;\tsize:16;\tsigned:0;\n"
    "\tfield:__u64 sock_cookie;\toffset:64;\tsize:8;\tsigned:0;\n"
    ,
    // tcp_retransmit_skb.format
    "ID: 2281\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;\n"
    "\tfield:__u16 sport;\toffset:28;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 dport;\toffset:30;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 family;\toffset:32;\tsize:2;\tsigned:0;\n"
    "\tfield:__u8 saddr[4];\toffset:34;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 daddr[4];\toffset:38;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr_v6[16];\toffset:42;\tsize:16;\tsigned:0;\n"
    "\tfield:__u8 daddr_v6[16];\toffset:58;\tsize:16;\tsigned:0;\n"
    "\tfield:int err;\toffset:76;\tsize:4;\tsigned:1;\n"
    ,
    // inet_sock_set_state.pre-5.6.format
    "ID: 1382\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n"
    "\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n"
    "\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n"
    "\tfield:__u8 protocol;\toffset:30;\tsize:1;\tsigned:0;\n"
    "\tfield:__u8 saddr[4];\toffset:31;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 daddr[4];\toffset:35;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr_v6[16];\toffset:39;\tsize:16;\tsigned:0;\n"
    "\tfield:__u8 daddr_v6[16];\toffset:55;\tsize:16;\tsigned:0;\n"
    ,
};

static swstat_trace_layout machine[4], legacy[4];

static void setup(void) {
    swstat_trace_error err;
    for (int i = 0; i < 4; i++) {
        if (swstat_trace_parse_format(formats[i], strlen(formats[i]), (uint8_t)(i + 1),
                                      &machine[i], &err) != 0)
            FAIL();
    }
    memcpy(legacy, machine, sizeof(legacy));
    if (swstat_trace_parse_format(formats[4], strlen(formats[4]), 1, &legacy[0], &err) != 0)
        FAIL();
}

typedef struct {
    uint64_t calls;
    uint64_t stop_after;        // 0: never stop
} counter;

static void check_transition(const swstat_transition *t) {
    if (t->kind == SWSTAT_TRANSITION_LOST) {
        if (t->family != 0 || t->has_cookie != 0) FAIL();
        return;
    }
    if (t->kind < SWSTAT_TRANSITION_STATE || t->kind > SWSTAT_TRANSITION_RETRANSMIT) FAIL();
    if (t->family != AF_INET && t->family != AF_INET6) FAIL();
    if (t->has_cookie > 1 || (!t->has_cookie && t->cookie != 0) || t->lost != 0) FAIL();
    if (t->kind != SWSTAT_TRANSITION_STATE && t->old_state != t->new_state) FAIL();
    if (t->kind == SWSTAT_TRANSITION_STATE && (t->old_state == 0 || t->new_state == 0)) FAIL();
    if (t->family == AF_INET) {
        for (int i = 4; i < 16; i++)
            if (t->local_addr[i] != 0 || t->remote_addr[i] != 0) FAIL();
    }
}

static int on_transition(const swstat_transition *t, void *ctx) {
    counter *c = ctx;
    check_transition(t);
    c->calls++;
    return c->stop_after != 0 && c->calls >= c->stop_after;
}

static void check_layout(const swstat_trace_layout *l, uint8_t kind) {
    if (l->kind != kind || l->min_size < 2 || l->sockaddr_addrs > 1) FAIL();
    const swstat_trace_field *f = &l->skaddr;
    for (int i = 0; i < 13; i++) {
        if (f[i].size != 0 && (uint32_t)f[i].offset + f[i].size > l->min_size) FAIL();
    }
    if (kind == SWSTAT_TRANSITION_STATE && (l->oldstate.size == 0 || l->newstate.size == 0))
        FAIL();
}

static void replay(const swstat_trace_layout *layouts, const uint8_t *buf, size_t len) {
    counter c = {0, 0};
    int rc = swstat_trace_replay(layouts, 4, buf, len, NULL, on_transition, &c);
    if (rc < 0 ? (rc != -EBADMSG && rc != -ENOMEM) : (uint64_t)rc != c.calls) FAIL();
    // Stopping after the first delivery, and with port conditions.
    counter one = {0, 1};
    rc = swstat_trace_replay(layouts, 4, buf, len, NULL, on_transition, &one);
    if (rc > 1 || (rc == 1 && one.calls != 1)) FAIL();
    swstat_trace_ports ports = {.local = {1, 1000, 60000}, .either = {1, 80, 80}};
    counter some = {0, 0};
    rc = swstat_trace_replay(layouts, 4, buf, len, &ports, on_transition, &some);
    if (rc >= 0 && (uint64_t)rc > c.calls) FAIL();
}

static void decode(const swstat_trace_layout *layouts, size_t count, const uint8_t *buf,
                   size_t len) {
    swstat_transition t;
    int rc = swstat_trace_decode(layouts, count, buf, len, &t);
    if (rc == 0) check_transition(&t);
    else if (rc != -ENOENT && rc != -EBADMSG && rc != -EAFNOSUPPORT) FAIL();
    rc = swstat_trace_decode_record(layouts, count, buf, len, 7, &t);
    if (rc == 0) {
        check_transition(&t);
        if (t.cpu != 7) FAIL();
    } else if (rc != 1 && rc != -ENOENT && rc != -EBADMSG && rc != -EAFNOSUPPORT) {
        FAIL();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (machine[0].id == 0) setup();
    if (size == 0) return 0;
    uint8_t mode = data[0] % 3, kind = (uint8_t)((data[0] / 3) % 4 + 1);
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    swstat_trace_layout l;
    swstat_trace_error err;
    switch (mode) {
    case 0: {
        int rc = swstat_trace_parse_format((const char *)rest, len, kind, &l, &err);
        if (rc == 0) check_layout(&l, kind);
        else if (rc != -EINVAL && rc != -EBADMSG) FAIL();
        if (memchr(err.reason, 0, sizeof(err.reason)) == NULL) FAIL();
        break;
    }
    case 1:
        replay(machine, rest, len);
        replay(legacy, rest, len);
        break;
    default: {
        const uint8_t *nul = memchr(rest, 0, len);
        size_t flen = nul ? (size_t)(nul - rest) : len;
        int rc = swstat_trace_parse_format((const char *)rest, flen, kind, &l, &err);
        if (rc != 0) break;
        check_layout(&l, kind);
        const uint8_t *rec = nul ? nul + 1 : rest + len;
        size_t rlen = nul ? len - flen - 1 : 0;
        decode(&l, 1, rec, rlen);
        // The layout alone, in place of this machine's state-change one: whatever it parsed to
        // must replay safely.
        swstat_trace_layout set[4];
        memcpy(set, machine, sizeof(set));
        set[0] = l;
        replay(set, rec, rlen);
        break;
    }
    }
    return 0;
}
