// swstat-procparse: the /proc read+parse floor for `make bench`.
//
// Reads /proc/net/tcp and /proc/net/tcp6 to EOF (seq_file hands out about one page per read(),
// so it loops until read() returns 0) and parses every line's fields with a hand-written
// scanner: addresses, ports, state, queues, uid and inode, as `swstat --source proc` needs them.
// Nothing is formatted; it prints the number of sockets and a checksum of the parsed fields (so
// the parse cannot be optimised away). Exit status: 0, or 1 with one line on stderr.

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { READ_BUFFER_SIZE = 65536 };

typedef struct {
    uint64_t sockets, checksum;
} totals;

static const char *skip_spaces(const char *p, const char *end) {
    while (p < end && *p == ' ') p++;
    return p;
}

/// Parses hex digits into *out (high nibble first); returns the first byte after them.
static const char *scan_hex(const char *p, const char *end, uint64_t *out) {
    uint64_t v = 0;
    for (; p < end; p++) {
        unsigned c = (unsigned char)*p, d;
        if (c - '0' < 10) d = c - '0';
        else if ((c | 0x20) - 'a' < 6) d = (c | 0x20) - 'a' + 10;
        else break;
        v = v << 4 | d;
    }
    *out = v;
    return p;
}

static const char *scan_decimal(const char *p, const char *end, uint64_t *out) {
    uint64_t v = 0;
    for (; p < end && (unsigned)(*p - '0') < 10; p++) v = v * 10 + (uint64_t)(*p - '0');
    *out = v;
    return p;
}

/// Address "0100007F:1F90" or 32 hex digits for IPv6; folds the address and port into *sum.
static const char *scan_endpoint(const char *p, const char *end, uint64_t *sum) {
    uint64_t part;
    const char *start = p;
    while (p < end && *p != ':') {  // IPv6 addresses are 4 words of 8 hex digits
        const char *stop = p + 8 < end ? p + 8 : end;
        const char *q = scan_hex(p, stop, &part);
        if (q == p) return NULL;
        *sum += part;
        p = q;
    }
    if (p == start || p >= end) return NULL;
    p = scan_hex(p + 1, end, &part);
    *sum += part;
    return p;
}

/// One line: "  sl: local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
static int parse_line(const char *p, const char *end, totals *t) {
    uint64_t v, sum = 0;
    p = skip_spaces(p, end);
    p = scan_decimal(p, end, &v);  // sl
    if (p >= end || *p != ':') return -1;
    p = skip_spaces(p + 1, end);
    if (!(p = scan_endpoint(p, end, &sum))) return -1;           // local
    if (!(p = scan_endpoint(skip_spaces(p, end), end, &sum))) return -1;  // remote
    p = scan_hex(skip_spaces(p, end), end, &v);                  // st
    sum += v << 8;
    p = scan_hex(skip_spaces(p, end), end, &v);                  // tx_queue
    sum += v;
    if (p < end && *p == ':') p = scan_hex(p + 1, end, &v), sum += v;  // rx_queue
    p = scan_hex(skip_spaces(p, end), end, &v);                  // tr
    if (p < end && *p == ':') p = scan_hex(p + 1, end, &v);      // tm->when
    p = scan_hex(skip_spaces(p, end), end, &v);                  // retrnsmt
    p = scan_decimal(skip_spaces(p, end), end, &v);              // uid
    sum += v;
    p = scan_decimal(skip_spaces(p, end), end, &v);              // timeout
    p = skip_spaces(p, end);
    const char *inode = p;
    p = scan_decimal(p, end, &v);                                // inode
    if (p == inode) return -1;
    sum += v;
    t->sockets++;
    t->checksum += sum;
    return 0;
}

static int parse_file(const char *path, totals *t) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;  // no IPv6
        fprintf(stderr, "swstat-procparse: %s: %s (errno %d)\n", path, strerror(errno), errno);
        return -1;
    }
    static char buffer[READ_BUFFER_SIZE];
    size_t kept = 0, line_number = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buffer + kept, sizeof(buffer) - kept);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "swstat-procparse: %s: %s (errno %d)\n", path, strerror(errno), errno);
            rc = -1;
            break;
        }
        size_t have = kept + (size_t)n;
        const char *p = buffer, *end = buffer + have;
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) break;
            if (line_number++ > 0 && parse_line(p, nl, t) < 0) {
                fprintf(stderr, "swstat-procparse: %s:%zu: unexpected fields\n", path,
                        line_number);
                close(fd);
                return -1;
            }
            p = nl + 1;
        }
        kept = (size_t)(end - p);
        if (n == 0) break;  // a partial last line without '\n' is ignored, as the kernel ends each
        if (kept == sizeof(buffer)) {
            fprintf(stderr, "swstat-procparse: %s: line longer than %d bytes\n", path,
                    READ_BUFFER_SIZE);
            rc = -1;
            break;
        }
        memmove(buffer, p, kept);
    }
    close(fd);
    return rc;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "/proc";
    const char *files[] = {"net/tcp", "net/tcp6"};
    totals t = {0, 0};
    for (unsigned i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", root, files[i]);
        if (parse_file(path, &t) < 0) return 1;
    }
    printf("%llu %llx\n", (unsigned long long)t.sockets, (unsigned long long)t.checksum);
    return 0;
}
