// TCP state transitions from the kernel's tracepoints, read with perf_event_open without eBPF
// (declared in include/swstat_trace.h): finding or privately mounting tracefs, parsing each
// tracepoint's field layout from its `format` file, decoding records (pure, for replays and
// fuzzing), and reading the per-CPU perf rings merged in time order.
//
// The facts this relies on, from the kernel's perf and tracing code and its ABI headers:
// - A PERF_TYPE_TRACEPOINT event with PERF_SAMPLE_RAW hands over the tracepoint's record as
//   ftrace lays it out, `common_type` (the tracepoint id) first, with the offsets tracefs
//   prints in `format`. The raw size is padded so the whole sample stays 8-byte aligned.
// - The ring is the perf_event_mmap_page then 2^n data pages; the kernel advances data_head,
//   the reader data_tail (a writable mapping: the kernel never overwrites unread records and
//   counts what it cannot write in a PERF_RECORD_LOST written once space frees up).
// - Records in one ring are in time order; across rings they are not, and one CPU may commit a
//   record after another CPU's later one was read, hence the reorder window.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "swstat_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>

#include <linux/perf_event.h>

#define TRACEFS_MAGIC_NUMBER 0x74726163     // "trac", include/uapi/linux/magic.h
#define FORMAT_MAX (64 * 1024)              // a format file is a few KiB
#define MAX_CPUS 4096
#define MAX_LAYOUTS 8

__attribute__((format(printf, 2, 3)))
static void set_reason(swstat_trace_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
}

// ---------------------------------------------------------------------------------------------
// tracefs

static int open_if_tracefs(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct statfs st;
    if (fstatfs(fd, &st) != 0 || st.f_type != TRACEFS_MAGIC_NUMBER) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}

// Undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134) in place.
static void unescape_mountinfo(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

// A tracefs mounted anywhere in this thread's mount namespace, from /proc/self/mountinfo
// (fields: id parent major:minor root mountpoint options [optional...] - fstype source ...).
static int open_from_mountinfo(void) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL) return -errno;
    char line[4096];
    int fd = -ENOENT;
    while (fd < 0 && fgets(line, sizeof(line), f) != NULL) {
        char *dash = strstr(line, " - ");
        if (dash == NULL || strncmp(dash + 3, "tracefs ", 8) != 0) continue;
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 0; field != NULL && i < 4; i++) field = strtok_r(NULL, " ", &save);
        if (field == NULL) continue;
        unescape_mountinfo(field);
        fd = open_if_tracefs(field);
    }
    fclose(f);
    return fd;
}

// A mount namespace of the calling thread's own, with every mount in it private.
static int unshare_private(void) {
    if (unshare(CLONE_NEWNS) != 0) return -errno;
    // Mounts are shared with the host's peer groups under systemd: without this, a mount made
    // here would appear in the host's namespace too.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -errno;
    return 0;
}

static int mount_tracefs(const char *target) {
    return mount("nodev", target, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0
               ? 0 : -errno;
}

int swstat_tracefs_mount_private(const char *target) {
    int rc = unshare_private();
    return rc != 0 ? rc : mount_tracefs(target);
}

typedef struct {
    int result;                 // the directory descriptor or a negative errno
} private_mount_job;

// Runs on a thread of its own, which then ends: its mount namespace goes with it, and the
// tracefs mount lives on only through the descriptor it opened (as after `umount -l`).
static void *private_mount_thread(void *arg) {
    private_mount_job *job = arg;
    static const char *const targets[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
                                          "/mnt", "/tmp"};
    int rc = unshare_private();
    // Any folder will do as the mount point: only this thread sees what is mounted there.
    for (size_t i = 0; rc == 0 && i < sizeof(targets) / sizeof(targets[0]); i++) {
        struct stat st;
        if (stat(targets[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        int m = mount_tracefs(targets[i]);
        if (m == 0) {
            job->result = open_if_tracefs(targets[i]);
            return NULL;
        }
        if (m == -EPERM || m == -EACCES || m == -ENODEV) rc = m;   // ENODEV: no tracefs
    }
    job->result = rc != 0 ? rc : -ENOENT;
    return NULL;
}

int swstat_tracefs_open(int *mounted_privately) {
    *mounted_privately = 0;
    int fd = open_if_tracefs("/sys/kernel/tracing");
    if (fd >= 0) return fd;
    int first = fd;
    fd = open_if_tracefs("/sys/kernel/debug/tracing");
    if (fd >= 0) return fd;
    fd = open_from_mountinfo();
    if (fd >= 0) return fd;
    private_mount_job job = {.result = -ENOENT};
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, private_mount_thread, &job);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    if (job.result >= 0) {
        *mounted_privately = 1;
        return job.result;
    }
    // A mounted tracefs refused to us (EACCES) says more than the failed mount.
    return first == -EACCES ? first : job.result;
}

// ---------------------------------------------------------------------------------------------
// Layout

// The fields swstat reads, by their names in the format file, and where each goes.
static const struct {
    const char *name;
    size_t offset;
} known_fields[] = {
    {"skaddr", offsetof(swstat_trace_layout, skaddr)},
    {"oldstate", offsetof(swstat_trace_layout, oldstate)},
    {"newstate", offsetof(swstat_trace_layout, newstate)},
    {"state", offsetof(swstat_trace_layout, state)},
    {"sport", offsetof(swstat_trace_layout, sport)},
    {"dport", offsetof(swstat_trace_layout, dport)},
    {"family", offsetof(swstat_trace_layout, family)},
    {"protocol", offsetof(swstat_trace_layout, protocol)},
    {"saddr", offsetof(swstat_trace_layout, saddr)},
    {"daddr", offsetof(swstat_trace_layout, daddr)},
    {"saddr_v6", offsetof(swstat_trace_layout, saddr_v6)},
    {"daddr_v6", offsetof(swstat_trace_layout, daddr_v6)},
    {"sock_cookie", offsetof(swstat_trace_layout, cookie)},
};

static swstat_trace_field *field_at(swstat_trace_layout *l, size_t i) {
    return (swstat_trace_field *)((char *)l + known_fields[i].offset);
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int starts_with(const char *p, const char *e, const char *prefix) {
    size_t n = strlen(prefix);
    return (size_t)(e - p) >= n && memcmp(p, prefix, n) == 0;
}

// Reads a decimal number of at most `max` at *p, advancing it. Returns 0 or -1.
static int parse_number(const char **p, const char *e, uint64_t max, uint64_t *out) {
    const char *s = *p;
    uint64_t v = 0;
    while (s < e && *s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max) return -1;
        s++;
    }
    if (s == *p) return -1;
    *p = s;
    *out = v;
    return 0;
}

// Finds `key` ("offset:") among the `;`-separated items after a field's declaration and reads
// the number after it.
static int field_attribute(const char *p, const char *e, const char *key, uint64_t *out) {
    size_t n = strlen(key);
    while (p < e) {
        while (p < e && (is_blank(*p) || *p == ';')) p++;
        if (starts_with(p, e, key)) {
            p += n;
            return parse_number(&p, e, UINT16_MAX, out);
        }
        while (p < e && *p != ';') p++;
    }
    return -1;
}

// One `field:TYPE NAME[N];\toffset:O;\tsize:S;\tsigned:G;` line, `p` past "field:".
static int parse_field_line(const char *p, const char *e, swstat_trace_layout *out,
                            int *have_common_type, swstat_trace_error *err) {
    const char *semi = memchr(p, ';', (size_t)(e - p));
    if (semi == NULL) {
        set_reason(err, "field line without ';'");
        return -EBADMSG;
    }
    // The name is the declaration's last word, less any array suffix.
    const char *end = semi;
    while (end > p && is_blank(end[-1])) end--;
    const char *bracket = end;
    for (const char *q = p; q < end; q++)
        if (*q == '[') { bracket = q; break; }
    // "char[] name" has its bracket before the name: only a suffix bracket counts.
    for (const char *q = bracket; q < end; q++)
        if (is_blank(*q)) { bracket = end; break; }
    end = bracket;
    const char *name = end;
    while (name > p && !is_blank(name[-1]) && name[-1] != '*') name--;
    size_t name_len = (size_t)(end - name);
    uint64_t offset, size;
    if (field_attribute(semi, e, "offset:", &offset) != 0 ||
        field_attribute(semi, e, "size:", &size) != 0) {
        // The name is not NUL-terminated: print its length's worth.
        set_reason(err, "field %.*s: no offset or size", (int)(name_len > 40 ? 40 : name_len),
                   name);
        return -EBADMSG;
    }
    if (offset + size > UINT16_MAX) {
        set_reason(err, "field %.*s: offset %lu beyond 64 KiB",
                   (int)(name_len > 40 ? 40 : name_len), name, (unsigned long)offset);
        return -EBADMSG;
    }
    if (name_len == 11 && memcmp(name, "common_type", 11) == 0) {
        // The record's first u16 says which tracepoint wrote it; swstat relies on that.
        if (offset != 0 || size != 2) {
            set_reason(err, "field common_type: not a u16 at offset 0");
            return -EINVAL;
        }
        *have_common_type = 1;
        return 0;
    }
    for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++) {
        if (strlen(known_fields[i].name) != name_len ||
            memcmp(known_fields[i].name, name, name_len) != 0)
            continue;
        swstat_trace_field *f = field_at(out, i);
        if (f->size != 0) {
            set_reason(err, "field %s twice", known_fields[i].name);
            return -EBADMSG;
        }
        if (size == 0) {
            set_reason(err, "field %s: size 0", known_fields[i].name);
            return -EINVAL;
        }
        f->offset = (uint16_t)offset;
        f->size = (uint16_t)size;
        return 0;
    }
    return 0;   // a field swstat does not read
}

// Whether `f` is absent or has one of the sizes (a zero-terminated list) swstat reads.
static int size_ok(const swstat_trace_field *f, const uint16_t *sizes) {
    if (f->size == 0) return 1;
    for (; *sizes; sizes++)
        if (f->size == *sizes) return 1;
    return 0;
}

static int check_layout(swstat_trace_layout *l, swstat_trace_error *err) {
    static const uint16_t pointer[] = {4, 8, 0}, integer[] = {1, 2, 4, 0}, u16[] = {2, 0},
                          small[] = {1, 2, 0}, addr4[] = {4, 28, 0}, addr6[] = {16, 0},
                          u64[] = {8, 0};
    const struct {
        const char *name;
        const swstat_trace_field *f;
        const uint16_t *sizes;
    } checks[] = {
        {"skaddr", &l->skaddr, pointer},     {"oldstate", &l->oldstate, integer},
        {"newstate", &l->newstate, integer}, {"state", &l->state, integer},
        {"sport", &l->sport, u16},           {"dport", &l->dport, u16},
        {"family", &l->family, small},       {"protocol", &l->protocol, small},
        {"saddr", &l->saddr, addr4},         {"daddr", &l->daddr, addr4},
        {"saddr_v6", &l->saddr_v6, addr6},   {"daddr_v6", &l->daddr_v6, addr6},
        {"sock_cookie", &l->cookie, u64},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (!size_ok(checks[i].f, checks[i].sizes)) {
            set_reason(err, "field %s: size %u not understood", checks[i].name,
                       checks[i].f->size);
            return -EINVAL;
        }
    }
    // The addresses: sockaddr_in/_in6 pairs (ports and family inside), or v4 and v6 arrays
    // beside separate ports.
    l->sockaddr_addrs = l->saddr.size == 28;
    if (l->sockaddr_addrs != (l->daddr.size == 28)) {
        set_reason(err, "fields saddr and daddr differ in size");
        return -EINVAL;
    }
    const struct {
        const char *name;
        const swstat_trace_field *f;
    } state_needs[] = {
        {"skaddr", &l->skaddr},     {"oldstate", &l->oldstate}, {"newstate", &l->newstate},
        {"sport", &l->sport},       {"dport", &l->dport},       {"family", &l->family},
        {"protocol", &l->protocol}, {"saddr", &l->saddr},       {"daddr", &l->daddr},
        {"saddr_v6", &l->saddr_v6}, {"daddr_v6", &l->daddr_v6},
    };
    if (l->kind == SWSTAT_TRANSITION_STATE) {
        for (size_t i = 0; i < sizeof(state_needs) / sizeof(state_needs[0]); i++) {
            if (state_needs[i].f->size == 0) {
                set_reason(err, "no field %s", state_needs[i].name);
                return -EINVAL;
            }
        }
        if (l->sockaddr_addrs) {
            set_reason(err, "field saddr: size 28 not understood here");
            return -EINVAL;
        }
    } else if (!l->sockaddr_addrs) {
        // Without sockaddrs: ports and both address forms (the family may be derived).
        if (l->sport.size == 0 || l->dport.size == 0 || l->saddr.size == 0 ||
            l->daddr.size == 0 || l->saddr_v6.size == 0 || l->daddr_v6.size == 0) {
            set_reason(err, "no ports or addresses");
            return -EINVAL;
        }
    }
    uint32_t end = 2;
    for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++) {
        const swstat_trace_field *f = field_at(l, i);
        if (f->size != 0 && (uint32_t)f->offset + f->size > end) end = (uint32_t)f->offset + f->size;
    }
    l->min_size = (uint16_t)end;
    return 0;
}

int swstat_trace_parse_format(const char *text, size_t len, uint8_t kind,
                              swstat_trace_layout *out, swstat_trace_error *err) {
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (kind < SWSTAT_TRANSITION_STATE || kind > SWSTAT_TRANSITION_RETRANSMIT) {
        set_reason(err, "unknown kind %d", kind);
        return -EINVAL;
    }
    out->kind = kind;
    int have_common_type = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end;
        const char *s = p;
        while (s < e && is_blank(*s)) s++;
        if (starts_with(s, e, "ID:")) {
            s += 3;
            while (s < e && is_blank(*s)) s++;
            uint64_t id;
            if (parse_number(&s, e, UINT32_MAX, &id) != 0) {
                set_reason(err, "bad ID line");
                return -EBADMSG;
            }
            out->id = (uint32_t)id;
        } else if (starts_with(s, e, "field:")) {
            int rc = parse_field_line(s + 6, e, out, &have_common_type, err);
            if (rc != 0) return rc;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (!have_common_type) {
        set_reason(err, "no field common_type");
        return -EINVAL;
    }
    return check_layout(out, err);
}

// Reads a whole small file under `dirfd`. Returns its length or a negative errno.
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t cap) {
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = -errno;
            close(fd);
            return e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    return n == cap ? -EFBIG : (ssize_t)n;
}

int swstat_trace_load(int tracefs_fd, const char *event, uint8_t kind,
                      swstat_trace_layout *out, swstat_trace_error *err) {
    memset(err, 0, sizeof(*err));
    char path[256];
    if (snprintf(path, sizeof(path), "events/%s/format", event) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    char *text = malloc(FORMAT_MAX);
    if (text == NULL) return -ENOMEM;
    ssize_t n = read_small(tracefs_fd, path, text, FORMAT_MAX);
    int rc = n < 0 ? (int)n : swstat_trace_parse_format(text, (size_t)n, kind, out, err);
    free(text);
    if (rc != 0) return rc;
    // The id file is the documented place; the format's ID line must agree with it.
    char idtext[32];
    snprintf(path, sizeof(path), "events/%s/id", event);
    n = read_small(tracefs_fd, path, idtext, sizeof(idtext) - 1);
    if (n < 0) return (int)n;
    const char *p = idtext;
    uint64_t id;
    if (parse_number(&p, idtext + n, UINT16_MAX, &id) != 0) {
        set_reason(err, "bad id file");
        return -EBADMSG;
    }
    if (out->id != 0 && out->id != id) {
        set_reason(err, "id file and format disagree");
        return -EBADMSG;
    }
    out->id = (uint32_t)id;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding

static uint64_t read_unsigned(const uint8_t *raw, swstat_trace_field f) {
    switch (f.size) {
    case 1: return raw[f.offset];
    case 2: { uint16_t v; memcpy(&v, raw + f.offset, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, raw + f.offset, 4); return v; }
    case 8: { uint64_t v; memcpy(&v, raw + f.offset, 8); return v; }
    default: return 0;
    }
}

// A state (an `int` in the record, or narrower). -1 when it does not fit a byte.
static int read_state(const uint8_t *raw, swstat_trace_field f) {
    if (f.size == 0) return 0;
    uint64_t v = read_unsigned(raw, f);
    if (f.size == 4) {
        int32_t s = (int32_t)(uint32_t)v;
        return s < 0 || s > 255 ? -1 : s;
    }
    return v > 255 ? -1 : (int)v;
}

// struct sockaddr_in / sockaddr_in6 as the tcp tracepoints store them (TP_STORE_ADDR_PORTS):
// family in host order at 0, port in network order at 2, the address at 4 (v4) or 8 (v6).
static int read_sockaddr(const uint8_t *sa, uint16_t *port, uint8_t addr[16]) {
    uint16_t family, p;
    memcpy(&family, sa, 2);
    memcpy(&p, sa + 2, 2);
    *port = ntohs(p);
    if (family == AF_INET) {
        memcpy(addr, sa + 4, 4);
    } else if (family == AF_INET6) {
        memcpy(addr, sa + 8, 16);
    }
    return family;
}

static int is_v4_mapped(const uint8_t a[16]) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, 12) == 0;
}

int swstat_trace_decode(const swstat_trace_layout *layouts, size_t count, const void *raw_,
                        size_t len, swstat_transition *out) {
    const uint8_t *raw = raw_;
    if (len < 2) return -EBADMSG;
    uint16_t type;
    memcpy(&type, raw, 2);
    const swstat_trace_layout *l = NULL;
    for (size_t i = 0; i < count; i++) {
        if (layouts[i].id == type) { l = &layouts[i]; break; }
    }
    if (l == NULL) return -ENOENT;
    if (len < l->min_size) return -EBADMSG;
    memset(out, 0, sizeof(*out));
    out->kind = l->kind;
    out->skaddr = read_unsigned(raw, l->skaddr);
    if (l->kind == SWSTAT_TRANSITION_STATE) {
        int o = read_state(raw, l->oldstate), n = read_state(raw, l->newstate);
        // The kernel's TCP states start at 1; a 0 is a record that is not one (seen once on
        // Linux 6.18, with another process opening perf events at the same time).
        if (o <= 0 || n <= 0) return -EBADMSG;
        out->old_state = (uint8_t)o;
        out->new_state = (uint8_t)n;
    } else {
        int s = read_state(raw, l->state);
        if (s < 0) return -EBADMSG;
        out->old_state = out->new_state = (uint8_t)s;
    }
    out->protocol = l->protocol.size != 0 ? (uint16_t)read_unsigned(raw, l->protocol)
                                          : IPPROTO_TCP;   // the tcp:* tracepoints
    if (l->cookie.size != 0) {
        out->cookie = read_unsigned(raw, l->cookie);
        out->has_cookie = 1;
    }
    int family;
    if (l->sockaddr_addrs) {
        uint16_t rport;
        family = read_sockaddr(raw + l->saddr.offset, &out->local_port, out->local_addr);
        int rfamily = read_sockaddr(raw + l->daddr.offset, &rport, out->remote_addr);
        out->remote_port = rport;
        if (rfamily != family) return -EAFNOSUPPORT;
    } else {
        out->local_port = (uint16_t)read_unsigned(raw, l->sport);
        out->remote_port = (uint16_t)read_unsigned(raw, l->dport);
        const uint8_t *v6 = raw + l->saddr_v6.offset;
        if (l->family.size != 0) {
            family = (int)read_unsigned(raw, l->family);
        } else {
            // Kernels before the family field store IPv4 as mapped IPv6 addresses.
            family = is_v4_mapped(v6) ? AF_INET : AF_INET6;
        }
        if (family == AF_INET) {
            memcpy(out->local_addr, raw + l->saddr.offset, 4);
            memcpy(out->remote_addr, raw + l->daddr.offset, 4);
        } else if (family == AF_INET6) {
            memcpy(out->local_addr, v6, 16);
            memcpy(out->remote_addr, raw + l->daddr_v6.offset, 16);
        }
    }
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    out->family = (uint8_t)family;
    return 0;
}

int swstat_trace_decode_record(const swstat_trace_layout *layouts, size_t count,
                               const void *record, size_t len, uint32_t cpu,
                               swstat_transition *out) {
    const uint8_t *rec = record;
    struct perf_event_header h;
    if (len < sizeof(h)) return -EBADMSG;
    memcpy(&h, rec, sizeof(h));
    if (h.size < sizeof(h) || h.size > len) return -EBADMSG;
    if (h.type == PERF_RECORD_SAMPLE) {
        // sample_type TIME | RAW: u64 time, u32 size, size bytes.
        uint64_t time;
        uint32_t raw_size;
        if (h.size < sizeof(h) + 12) return -EBADMSG;
        memcpy(&time, rec + sizeof(h), 8);
        memcpy(&raw_size, rec + sizeof(h) + 8, 4);
        if (raw_size > (size_t)h.size - sizeof(h) - 12) return -EBADMSG;
        int rc = swstat_trace_decode(layouts, count, rec + sizeof(h) + 12, raw_size, out);
        if (rc != 0) return rc;
        out->time_ns = time;
        out->cpu = cpu;
        return 0;
    }
    if (h.type == PERF_RECORD_LOST) {
        // u64 id, u64 lost, then sample_id (sample_id_all): the TIME of the record that
        // followed the gap.
        if (h.size < sizeof(h) + 16) return -EBADMSG;
        memset(out, 0, sizeof(*out));
        memcpy(&out->lost, rec + sizeof(h) + 8, 8);
        if (h.size >= sizeof(h) + 24) memcpy(&out->time_ns, rec + sizeof(h) + 16, 8);
        out->kind = SWSTAT_TRANSITION_LOST;
        out->cpu = cpu;
        return 0;
    }
    return 1;
}

static int in_range(const swstat_port_range *r, uint16_t port) {
    return !r->set || (port >= r->lo && port <= r->hi);
}

static int ports_match(const swstat_trace_ports *p, const swstat_transition *t) {
    if (p == NULL) return 1;
    if (!in_range(&p->local, t->local_port) || !in_range(&p->remote, t->remote_port)) return 0;
    return !p->either.set || in_range(&p->either, t->local_port) ||
           in_range(&p->either, t->remote_port);
}

// ---------------------------------------------------------------------------------------------
// The merge: per-CPU streams, each in time order, delivered in time order overall. The same
// code runs over live rings and over a recording.

typedef struct merge_source merge_source;
struct merge_source {
    // Sets the next record of stream `i` (valid until the next call) and returns 1, or 0 when
    // the stream has none now.
    int (*peek)(merge_source *self, size_t i, const uint8_t **rec, size_t *len);
    // Moves stream `i` past its next record, `len` bytes.
    void (*consume)(merge_source *self, size_t i, size_t len);
};

typedef struct {
    int has;                    // `t` holds the stream's next deliverable record, decoded
    size_t size;                // its size in the stream
    uint32_t cpu;
    uint64_t samples;           // PERF_RECORD_SAMPLEs moved past (delivered or skipped)
    int kernel_lost;            // a PERF_RECORD_LOST went by since the last loss check
    swstat_transition t;
} stream_head;

typedef struct {
    merge_source *src;
    const swstat_trace_layout *layouts;
    size_t count;
    const swstat_trace_ports *ports;
    stream_head *heads;
    size_t streams;
    swstat_trace_stats *stats;
    int record_fd;
    int deliver_kernel_lost;    // replays: a PERF_RECORD_LOST is the only word on a loss
    int stopped;                // the callback asked to stop
} merger;

static void record_raw(int fd, uint32_t cpu, const uint8_t *rec, size_t len) {
    uint32_t size = (uint32_t)len;
    struct iovec iov[3] = {{&cpu, 4}, {&size, 4}, {(void *)rec, len}};
    (void)!writev(fd, iov, 3);
}

static int is_sample(const uint8_t *rec, size_t len) {
    struct perf_event_header h;
    if (len < sizeof(h)) return 0;
    memcpy(&h, rec, sizeof(h));
    return h.type == PERF_RECORD_SAMPLE;
}

// Decodes stream i's next deliverable record into its head, skipping what is not delivered.
static int fill(merger *m, size_t i) {
    stream_head *h = &m->heads[i];
    while (!h->has) {
        const uint8_t *rec;
        size_t len;
        if (!m->src->peek(m->src, i, &rec, &len)) return 0;
        if (m->record_fd >= 0) record_raw(m->record_fd, h->cpu, rec, len);
        int rc = swstat_trace_decode_record(m->layouts, m->count, rec, len, h->cpu, &h->t);
        if (rc == 0 && h->t.kind == SWSTAT_TRANSITION_LOST) {
            m->stats->kernel_lost += h->t.lost;
            h->kernel_lost = 1;
            if (m->deliver_kernel_lost) {
                m->stats->lost += h->t.lost;
                h->has = 1;
            }
        } else if (rc == 0) {
            m->stats->records++;
            if (ports_match(m->ports, &h->t)) h->has = 1;
            else m->stats->filtered++;
        } else if (rc < 0) {
            m->stats->records++;
            m->stats->undecodable++;
        }
        if (h->has) {
            h->size = len;
        } else {
            h->samples += is_sample(rec, len);
            m->src->consume(m->src, i, len);
        }
    }
    return 1;
}

static int merge(merger *m, uint64_t cutoff, uint32_t max, swstat_transition_fn fn,
                 void *ctx) {
    int delivered = 0;
    while (max == 0 || (uint32_t)delivered < max) {
        size_t best = m->streams;
        for (size_t i = 0; i < m->streams; i++) {
            if (!fill(m, i)) continue;
            // Ties go to the lower stream: stable, and the same on every run.
            if (best == m->streams || m->heads[i].t.time_ns < m->heads[best].t.time_ns) best = i;
        }
        if (best == m->streams || m->heads[best].t.time_ns > cutoff) break;
        stream_head *h = &m->heads[best];
        h->has = 0;
        h->samples += h->t.kind != SWSTAT_TRANSITION_LOST;
        m->src->consume(m->src, best, h->size);
        delivered++;
        m->stats->delivered++;
        if (fn(&h->t, ctx) != 0) {
            m->stopped = 1;
            break;
        }
    }
    return delivered;
}

// ---------------------------------------------------------------------------------------------
// Replay

typedef struct {
    uint32_t cpu;
    uint32_t len;
    size_t offset;
} replay_entry;

typedef struct {
    merge_source base;
    const uint8_t *buf;
    replay_entry *entries;      // grouped by stream, file order within each
    size_t *next, *end;         // per stream: the next entry and the end of its group
} replay_source;

static int replay_peek(merge_source *self, size_t i, const uint8_t **rec, size_t *len) {
    replay_source *r = (replay_source *)self;
    if (r->next[i] == r->end[i]) return 0;
    const replay_entry *e = &r->entries[r->next[i]];
    *rec = r->buf + e->offset;
    *len = e->len;
    return 1;
}

static void replay_consume(merge_source *self, size_t i, size_t len) {
    (void)len;
    replay_source *r = (replay_source *)self;
    r->next[i]++;
}

int swstat_trace_replay(const swstat_trace_layout *layouts, size_t count, const void *buf_,
                        size_t len, const swstat_trace_ports *ports, swstat_transition_fn fn,
                        void *ctx) {
    const uint8_t *buf = buf_;
    // Pass 1: check the framing and count the entries.
    size_t n = 0;
    for (size_t off = 0; off < len; n++) {
        uint32_t cpu, size;
        if (len - off < 8) return -EBADMSG;
        memcpy(&cpu, buf + off, 4);
        memcpy(&size, buf + off + 4, 4);
        if (size > len - off - 8 || cpu >= MAX_CPUS) return -EBADMSG;
        off += 8 + size;
    }
    replay_entry *flat = calloc(n ? n : 1, sizeof(*flat));
    replay_entry *grouped = calloc(n ? n : 1, sizeof(*grouped));
    size_t *per_cpu = calloc(MAX_CPUS, sizeof(*per_cpu));
    int rc = -ENOMEM;
    size_t *next = NULL, *end = NULL;
    stream_head *heads = NULL;
    if (flat == NULL || grouped == NULL || per_cpu == NULL) goto out;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(&flat[i].cpu, buf + off, 4);
        memcpy(&flat[i].len, buf + off + 4, 4);
        flat[i].offset = off + 8;
        off += 8 + flat[i].len;
        per_cpu[flat[i].cpu]++;
    }
    // One stream per CPU that has records, in CPU order; a counting sort keeps file order.
    size_t streams = 0;
    for (size_t c = 0; c < MAX_CPUS; c++) streams += per_cpu[c] != 0;
    next = calloc(streams ? streams : 1, sizeof(*next));
    end = calloc(streams ? streams : 1, sizeof(*end));
    heads = calloc(streams ? streams : 1, sizeof(*heads));
    if (next == NULL || end == NULL || heads == NULL) goto out;
    size_t start = 0, s = 0;
    for (size_t c = 0; c < MAX_CPUS; c++) {
        if (per_cpu[c] == 0) continue;
        next[s] = end[s] = start;
        heads[s].cpu = (uint32_t)c;
        start += per_cpu[c];
        per_cpu[c] = s++;           // from here on: the CPU's stream
    }
    for (size_t i = 0; i < n; i++) grouped[end[per_cpu[flat[i].cpu]]++] = flat[i];
    replay_source src = {{replay_peek, replay_consume}, buf, grouped, next, end};
    swstat_trace_stats stats = {0};
    merger m = {&src.base, layouts, count, ports, heads, streams, &stats, -1, 1, 0};
    rc = merge(&m, UINT64_MAX, 0, fn, ctx);
out:
    free(flat);
    free(grouped);
    free(per_cpu);
    free(next);
    free(end);
    free(heads);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// The kernel filter

// Text built in a fixed buffer; `overflow` once it did not fit.
typedef struct {
    char *out;
    size_t cap, used;
    int overflow;
} text_buffer;

__attribute__((format(printf, 2, 3)))
static void put(text_buffer *t, const char *fmt, ...) {
    if (t->overflow) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->out + t->used, t->cap - t->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->used) t->overflow = 1;
    else t->used += (size_t)n;
}

static void put_range(text_buffer *t, const char *field, const swstat_port_range *r) {
    if (r->lo == r->hi) put(t, "%s == %u", field, r->lo);
    else put(t, "(%s >= %u && %s <= %u)", field, r->lo, field, r->hi);
}

int swstat_trace_filter(const swstat_trace_layout *l, const swstat_trace_ports *p, char *out,
                        size_t cap) {
    if (cap == 0) return -ENOSPC;
    out[0] = '\0';
    text_buffer t = {out, cap, 0, 0};
    const char *and = "";
    if (l->protocol.size != 0) {
        put(&t, "protocol == %d", IPPROTO_TCP);
        and = " && ";
    }
    // Without both port fields the ports are checked after decoding only.
    if (l->sport.size != 0 && l->dport.size != 0) {
        if (p->local.set) {
            put(&t, "%s", and);
            put_range(&t, "sport", &p->local);
            and = " && ";
        }
        if (p->remote.set) {
            put(&t, "%s", and);
            put_range(&t, "dport", &p->remote);
            and = " && ";
        }
        if (p->either.set) {
            put(&t, "%s(", and);
            put_range(&t, "sport", &p->either);
            put(&t, " || ");
            put_range(&t, "dport", &p->either);
            put(&t, ")");
        }
    }
    if (t.overflow) {
        out[0] = '\0';
        return -ENOSPC;
    }
    return (int)t.used;
}

// ---------------------------------------------------------------------------------------------
// Reading

typedef struct {
    int fd;                     // the event whose mmap this is; the CPU's others write here
    uint8_t *base;              // the perf_event_mmap_page, then the data
    size_t map_len;
    uint8_t *data;
    uint64_t data_size;         // a power of two
    uint64_t head;              // data_head as last read
    uint64_t tail;              // the read position, written back as data_tail
    uint64_t published;         // the data_tail the kernel knows
    uint64_t lost;              // records found dropped and reported so far
} ring;

struct swstat_trace {
    merge_source base;          // first: the merge calls back with this
    int epfd;
    ring *rings;
    size_t nrings;
    int *fds;                   // every event, ring owners included
    size_t nfds;
    swstat_trace_layout layouts[MAX_LAYOUTS];
    size_t nlayouts;
    swstat_trace_options options;
    swstat_trace_stats stats;
    stream_head *heads;
    int record_fd;
    uint8_t scratch[65536];     // a record that wraps around the end of its ring
};

static int ring_peek(merge_source *self, size_t i, const uint8_t **rec, size_t *len) {
    swstat_trace *t = (swstat_trace *)self;
    ring *g = &t->rings[i];
    if (g->tail >= g->head) {
        struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)g->base;
        g->head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
        if (g->tail >= g->head) return 0;
    }
    uint64_t avail = g->head - g->tail;
    uint64_t off = g->tail & (g->data_size - 1);
    struct perf_event_header h;
    if (avail < sizeof(h)) return 0;
    // The kernel keeps records 8-byte aligned in a ring of whole pages, so a header never
    // wraps; copied piecewise all the same, should that ever change.
    for (size_t b = 0; b < sizeof(h); b++)
        ((uint8_t *)&h)[b] = g->data[(off + b) & (g->data_size - 1)];
    if (h.size < sizeof(h) || h.size > avail) {
        // Not a record the kernel writes: give up on what this ring holds now.
        t->stats.undecodable++;
        g->tail = g->head;
        return 0;
    }
    if (off + h.size <= g->data_size) {
        *rec = g->data + off;
    } else {
        size_t first = (size_t)(g->data_size - off);
        memcpy(t->scratch, g->data + off, first);
        memcpy(t->scratch + first, g->data, h.size - first);
        *rec = t->scratch;
    }
    *len = h.size;
    return 1;
}

static void ring_consume(merge_source *self, size_t i, size_t len) {
    swstat_trace *t = (swstat_trace *)self;
    t->rings[i].tail += len;
}

static long perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group,
                            unsigned long flags) {
    return syscall(SYS_perf_event_open, attr, pid, cpu, group, flags);
}

// The online CPUs, from /sys/devices/system/cpu/online ("0-3,5"). Returns how many, or a
// negative errno.
static int online_cpus(int *cpus, int cap) {
    char text[1024];
    ssize_t n = read_small(AT_FDCWD, "/sys/devices/system/cpu/online", text, sizeof(text));
    if (n < 0) {
        long conf = sysconf(_SC_NPROCESSORS_ONLN);
        if (conf <= 0) return (int)n;
        int count = 0;
        for (long c = 0; c < conf && count < cap; c++) cpus[count++] = (int)c;
        return count;
    }
    const char *p = text, *e = text + n;
    int count = 0;
    while (p < e && *p != '\n') {
        uint64_t lo, hi;
        if (parse_number(&p, e, MAX_CPUS - 1, &lo) != 0) return -EBADMSG;
        hi = lo;
        if (p < e && *p == '-') {
            p++;
            if (parse_number(&p, e, MAX_CPUS - 1, &hi) != 0 || hi < lo) return -EBADMSG;
        }
        for (uint64_t c = lo; c <= hi; c++) {
            if (count == cap) return -E2BIG;
            cpus[count++] = (int)c;
        }
        if (p < e && *p == ',') p++;
    }
    return count;
}

int swstat_trace_open(const swstat_trace_layout *layouts, size_t count,
                      const swstat_trace_options *options, swstat_trace **out,
                      swstat_trace_error *err) {
    *out = NULL;
    memset(err, 0, sizeof(*err));
    if (count == 0 || count > MAX_LAYOUTS) return -EINVAL;
    uint32_t pages = options->ring_pages ? options->ring_pages : 64;
    if ((pages & (pages - 1)) != 0 || pages > (1u << 20)) {
        set_reason(err, "ring pages %u: not a power of two", pages);
        return -EINVAL;
    }
    long page_size = sysconf(_SC_PAGESIZE);
    uint64_t ring_bytes = (uint64_t)pages * (uint64_t)page_size;
    uint32_t watermark = options->watermark ? options->watermark : (uint32_t)(ring_bytes / 4);
    if (watermark > ring_bytes / 2) watermark = (uint32_t)(ring_bytes / 2);
    if (watermark == 0) watermark = 1;

    int *cpus = malloc(sizeof(int) * MAX_CPUS);
    if (cpus == NULL) return -ENOMEM;
    int ncpus = online_cpus(cpus, MAX_CPUS);
    if (ncpus <= 0) {
        free(cpus);
        return ncpus < 0 ? ncpus : -ENODEV;
    }
    swstat_trace *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        free(cpus);
        return -ENOMEM;
    }
    t->base.peek = ring_peek;
    t->base.consume = ring_consume;
    t->epfd = -1;
    t->record_fd = -1;
    t->options = *options;
    memcpy(t->layouts, layouts, count * sizeof(*layouts));
    t->nlayouts = count;
    t->rings = calloc((size_t)ncpus, sizeof(*t->rings));
    t->heads = calloc((size_t)ncpus, sizeof(*t->heads));
    t->fds = malloc(sizeof(int) * (size_t)ncpus * count);
    int rc = -ENOMEM;
    if (t->rings == NULL || t->heads == NULL || t->fds == NULL) goto fail;
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (t->epfd < 0) { rc = -errno; goto fail; }

    char filters[MAX_LAYOUTS][256];
    for (size_t k = 0; k < count; k++) {
        int n = swstat_trace_filter(&layouts[k], &options->ports, filters[k], sizeof(filters[k]));
        if (n < 0) { rc = n; goto fail; }
    }
    for (int c = 0; c < ncpus; c++) {
        ring *g = &t->rings[t->nrings];
        g->fd = -1;
        for (size_t k = 0; k < count; k++) {
            struct perf_event_attr a;
            memset(&a, 0, sizeof(a));
            a.size = sizeof(a);
            a.type = PERF_TYPE_TRACEPOINT;
            a.config = layouts[k].id;
            a.sample_period = 1;
            a.sample_type = PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
            a.disabled = 1;
            a.watermark = 1;
            a.wakeup_watermark = watermark;
            a.use_clockid = 1;
            a.clockid = CLOCK_MONOTONIC;
            a.sample_id_all = 1;        // PERF_RECORD_LOST carries its time
            long fd = perf_event_open(&a, -1, cpus[c], -1, PERF_FLAG_FD_CLOEXEC);
            if (fd < 0) {
                rc = -errno;
                set_reason(err, "perf_event_open (cpu %d)", cpus[c]);
                goto fail;
            }
            t->fds[t->nfds++] = (int)fd;
            if (filters[k][0] != '\0' && ioctl((int)fd, PERF_EVENT_IOC_SET_FILTER, filters[k]) != 0) {
                rc = -errno;
                set_reason(err, "filter refused: %.70s", filters[k]);
                goto fail;
            }
            if (k == 0) {
                g->fd = (int)fd;
                g->map_len = (size_t)(ring_bytes + (uint64_t)page_size);
                void *base = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
                if (base == MAP_FAILED) {
                    rc = -errno;
                    set_reason(err, "mmap of the ring");
                    goto fail;
                }
                g->base = base;
                struct perf_event_mmap_page *meta = base;
                // data_offset/data_size exist since Linux 4.1; before, the data follows the page.
                uint64_t data_offset = meta->data_offset ? meta->data_offset : (uint64_t)page_size;
                g->data_size = meta->data_size ? meta->data_size : ring_bytes;
                g->data = g->base + data_offset;
                g->tail = g->head = g->published =
                    __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
                t->heads[t->nrings].cpu = (uint32_t)cpus[c];
                t->nrings++;
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = t->nrings - 1};
                if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, (int)fd, &ev) != 0) {
                    rc = -errno;
                    goto fail;
                }
            } else if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, g->fd) != 0) {
                rc = -errno;
                set_reason(err, "PERF_EVENT_IOC_SET_OUTPUT");
                goto fail;
            }
        }
    }
    for (size_t i = 0; i < t->nfds; i++) {
        if (ioctl(t->fds[i], PERF_EVENT_IOC_ENABLE, 0) != 0) {
            rc = -errno;
            set_reason(err, "PERF_EVENT_IOC_ENABLE");
            goto fail;
        }
    }
    t->stats.rings = (uint32_t)t->nrings;
    t->stats.events = (uint32_t)t->nfds;
    free(cpus);
    *out = t;
    return 0;
fail:
    free(cpus);
    swstat_trace_close(t);
    return rc;
}

int swstat_trace_fd(const swstat_trace *t) { return t->epfd; }

// The samples in ring i from its read position to `head`, walking the record headers.
static uint64_t unread_samples(const ring *g, uint64_t head) {
    uint64_t n = 0;
    for (uint64_t pos = g->tail; pos < head;) {
        struct perf_event_header h;
        for (size_t b = 0; b < sizeof(h); b++)
            ((uint8_t *)&h)[b] = g->data[(pos + b) & (g->data_size - 1)];
        if (h.size < sizeof(h)) break;
        n += h.type == PERF_RECORD_SAMPLE;
        pos += h.size;
    }
    return n;
}

// How many records ring i lost so far: what its events counted (a tracepoint event counts
// every hit its filter passes, written or not) less the samples taken out or still waiting:
// a ring that overflowed, and samples the kernel counted but never wrote.
// The counters are read before the head, so a sample counted is a sample written by then
// (it is written with preemption off, within microseconds): a count, never an overcount,
// unless that write is still under way; the walk is repeated once to let it finish.
static uint64_t count_lost(swstat_trace *t, size_t i) {
    ring *g = &t->rings[i];
    uint64_t counted = 0;
    for (size_t k = 0; k < t->nlayouts; k++) {
        uint64_t v = 0;
        if (read(t->fds[i * t->nlayouts + k], &v, sizeof(v)) != (ssize_t)sizeof(v)) return g->lost;
        counted += v;
    }
    struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)g->base;
    uint64_t seen = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
        seen = t->heads[i].samples + unread_samples(g, head);
        if (counted <= seen) return g->lost;
    }
    return counted - seen > g->lost ? counted - seen : g->lost;
}

int swstat_trace_drain(swstat_trace *t, uint64_t now_ns, int flush, uint32_t max,
                       swstat_transition_fn fn, void *ctx) {
    if (now_ns == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    // Take the wake-ups off the epoll instance (a level-triggered perf fd stays readable
    // until polled again), so the caller's next poll sleeps until new data.
    struct epoll_event evs[64];
    (void)epoll_wait(t->epfd, evs, 64, 0);
    uint64_t window = t->options.reorder_ns;
    uint64_t cutoff = flush ? UINT64_MAX : now_ns > window ? now_ns - window : 0;
    merger m = {&t->base, t->layouts, t->nlayouts, &t->options.ports, t->heads, t->nrings,
                &t->stats, t->record_fd, 0, 0};
    uint64_t undecodable = t->stats.undecodable;
    int delivered = merge(&m, cutoff, max, fn, ctx);
    // A record that does not decode is a change the caller will not see: lost as well.
    uint64_t dropped = t->stats.undecodable - undecodable;
    for (size_t i = 0; i < t->nrings; i++) {
        ring *g = &t->rings[i];
        struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)g->base;
        // Checked on every drain, not only when the ring filled up: the kernel also drops
        // samples it has counted without a PERF_RECORD_LOST or a lost_samples count (seen on
        // Linux 6.18: a tracepoint hit in softirq on an idle CPU, a delayed ACK's timer).
        if (!m.stopped) {
            uint64_t lost = count_lost(t, i);
            dropped += lost - g->lost;
            g->lost = lost;
            t->heads[i].kernel_lost = 0;
        }
        // Hand the space back: everything before the read position is read (a held head
        // is not).
        __atomic_store_n(&meta->data_tail, g->tail, __ATOMIC_RELEASE);
        g->published = g->tail;
    }
    if (dropped > 0) {
        swstat_transition lost;
        memset(&lost, 0, sizeof(lost));
        lost.kind = SWSTAT_TRANSITION_LOST;
        lost.lost = dropped;
        lost.time_ns = now_ns;
        t->stats.lost += dropped;
        t->stats.delivered++;
        delivered++;
        (void)fn(&lost, ctx);
    }
    return delivered;
}

void swstat_trace_record_to(swstat_trace *t, int fd) { t->record_fd = fd; }

void swstat_trace_get_stats(const swstat_trace *t, swstat_trace_stats *out) { *out = t->stats; }

void swstat_trace_close(swstat_trace *t) {
    for (size_t i = 0; i < t->nfds; i++) (void)ioctl(t->fds[i], PERF_EVENT_IOC_DISABLE, 0);
    for (size_t i = 0; i < t->nrings; i++)
        if (t->rings[i].base != NULL) munmap(t->rings[i].base, t->rings[i].map_len);
    for (size_t i = 0; i < t->nfds; i++) close(t->fds[i]);
    if (t->epfd >= 0) close(t->epfd);
    free(t->rings);
    free(t->heads);
    free(t->fds);
    free(t);
}
