// swstat-tracefloor: the "bare read" floor for the transition source in `make bench`.
//
// The same read as swstat's transition source (Sources/CSwstat/transitions.c), nothing else:
// the tracepoint sock:inet_sock_set_state, one perf event per online CPU (PERF_TYPE_TRACEPOINT,
// PERF_SAMPLE_TIME | PERF_SAMPLE_RAW, CLOCK_MONOTONIC times, sample_id_all), one ring per CPU of
// the same size, wake-ups at the same watermark, the same kernel filter (`protocol == 6`, and
// `(sport == P || dport == P)` with --port), poll(2) with the same tick. It counts the samples
// and the records the kernel reports lost, and decodes and merges nothing. Needs root (or
// CAP_PERFMON with tracefs readable); mounts tracefs in a private mount namespace of its own
// when none is mounted (it is single-threaded, so unshare(CLONE_NEWNS) takes the whole process).
//
// Usage: swstat-tracefloor [--seconds N] [--port P] [--ring-pages N] [--watermark BYTES]
//                          [--tick-ms N]
// Runs N seconds (0, the default: until SIGINT or SIGTERM), then prints one line:
// `transitions T lost L wakeups W polls P`. Exit status: 0, or 1 with one
// `swstat-tracefloor: ...` line on stderr.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/perf_event.h>

enum { MAX_CPUS = 1024, TRACEFS_MAGIC_NUMBER = 0x74726163 };

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static int fail(const char *what, int err) {
    fprintf(stderr, "swstat-tracefloor: %s: %s (errno %d)\n", what, strerror(err), err);
    return 1;
}

static int is_tracefs(const char *path) {
    struct statfs st;
    return statfs(path, &st) == 0 && st.f_type == TRACEFS_MAGIC_NUMBER;
}

// The tracepoint's id, from a mounted tracefs or one mounted privately. Returns it or -errno.
static long tracepoint_id(void) {
    const char *root = NULL;
    if (is_tracefs("/sys/kernel/tracing")) root = "/sys/kernel/tracing";
    else if (is_tracefs("/sys/kernel/debug/tracing")) root = "/sys/kernel/debug/tracing";
    if (root == NULL) {
        // Single-threaded: the whole process moves; private, so the host never sees the mount.
        if (unshare(CLONE_NEWNS) != 0) return -errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -errno;
        if (mount("nodev", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) != 0)
            return -errno;
        root = "/sys/kernel/tracing";
    }
    char path[256], text[32];
    snprintf(path, sizeof(path), "%s/events/sock/inet_sock_set_state/id", root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    int err = errno;
    close(fd);
    if (n <= 0) return n < 0 ? -err : -EINVAL;
    text[n] = '\0';
    return strtol(text, NULL, 10);
}

// The online CPUs ("0-3,5"). Returns how many.
static int online_cpus(int *cpus) {
    FILE *f = fopen("/sys/devices/system/cpu/online", "re");
    int n = 0;
    if (f != NULL) {
        int lo, hi;
        char sep;
        while (n < MAX_CPUS && fscanf(f, "%d", &lo) == 1) {
            hi = lo;
            if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
                if (fscanf(f, "%d", &hi) != 1) break;
                if (fscanf(f, "%c", &sep) != 1) sep = '\n';
            }
            for (int c = lo; c <= hi && n < MAX_CPUS; c++) cpus[n++] = c;
            if (sep != ',') break;
        }
        fclose(f);
    }
    if (n == 0) {
        long conf = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < conf && n < MAX_CPUS; c++) cpus[n++] = (int)c;
    }
    return n;
}

typedef struct {
    uint8_t *base, *data;
    uint64_t size;
} ring;

// Takes everything out of one ring: counts samples and lost records, hands the space back.
static void drain(ring *r, uint64_t *samples, uint64_t *lost) {
    struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)r->base;
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;
    while (tail < head) {
        struct perf_event_header h;
        memcpy(&h, r->data + (tail & (r->size - 1)), sizeof(h));
        if (h.size < sizeof(h)) break;
        if (h.type == PERF_RECORD_SAMPLE) {
            (*samples)++;
        } else if (h.type == PERF_RECORD_LOST) {
            uint64_t n;
            uint64_t at = (tail + sizeof(h) + 8) & (r->size - 1);
            memcpy(&n, r->data + at, sizeof(n));
            *lost += n;
        }
        tail += h.size;
    }
    __atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
}

int main(int argc, char **argv) {
    long seconds = 0, port = -1, pages = 64, watermark = 0, tick_ms = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--seconds") == 0) seconds = v;
        else if (strcmp(argv[i], "--port") == 0) port = v;
        else if (strcmp(argv[i], "--ring-pages") == 0) pages = v;
        else if (strcmp(argv[i], "--watermark") == 0) watermark = v;
        else if (strcmp(argv[i], "--tick-ms") == 0) tick_ms = v;
        else return fail(argv[i], EINVAL);
    }
    if (pages <= 0 || (pages & (pages - 1)) != 0) return fail("--ring-pages", EINVAL);
    long page = sysconf(_SC_PAGESIZE);
    if (watermark <= 0) watermark = pages * page / 4;

    long id = tracepoint_id();
    if (id < 0) return fail("tracepoint sock:inet_sock_set_state", (int)-id);
    char filter[128] = "protocol == 6";
    if (port >= 0)
        snprintf(filter, sizeof(filter), "protocol == 6 && (sport == %ld || dport == %ld)", port,
                 port);

    static int cpus[MAX_CPUS];
    static ring rings[MAX_CPUS];
    static struct pollfd fds[MAX_CPUS];
    int n = online_cpus(cpus);
    for (int i = 0; i < n; i++) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof(a));
        a.size = sizeof(a);
        a.type = PERF_TYPE_TRACEPOINT;
        a.config = (uint64_t)id;
        a.sample_period = 1;
        a.sample_type = PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
        a.disabled = 1;
        a.watermark = 1;
        a.wakeup_watermark = (uint32_t)watermark;
        a.use_clockid = 1;
        a.clockid = CLOCK_MONOTONIC;
        a.sample_id_all = 1;
        int fd = (int)syscall(SYS_perf_event_open, &a, -1, cpus[i], -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) return fail("perf_event_open", errno);
        if (ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter) != 0) return fail("filter", errno);
        size_t len = (size_t)(pages + 1) * (size_t)page;
        void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) return fail("mmap", errno);
        struct perf_event_mmap_page *meta = base;
        rings[i].base = base;
        rings[i].data = (uint8_t *)base + (meta->data_offset ? meta->data_offset : (uint64_t)page);
        rings[i].size = meta->data_size ? meta->data_size : (uint64_t)(pages * page);
        fds[i] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    for (int i = 0; i < n; i++)
        if (ioctl(fds[i].fd, PERF_EVENT_IOC_ENABLE, 0) != 0) return fail("enable", errno);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t samples = 0, lost = 0, wakeups = 0, polls = 0;
    while (!stopping) {
        int rc = poll(fds, (nfds_t)n, (int)tick_ms);
        if (rc < 0 && errno != EINTR) return fail("poll", errno);
        polls++;
        if (rc > 0) wakeups++;
        for (int i = 0; i < n; i++) drain(&rings[i], &samples, &lost);
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed = (int64_t)(now.tv_sec - start.tv_sec) * 1000000000 +
                          (now.tv_nsec - start.tv_nsec);
        if (seconds > 0 && elapsed >= (int64_t)seconds * 1000000000) break;
    }
    printf("transitions %llu lost %llu wakeups %llu polls %llu\n", (unsigned long long)samples,
           (unsigned long long)lost, (unsigned long long)wakeups, (unsigned long long)polls);
    return 0;
}
