// swstat-diagdump: the "bare dump" floor for `make bench`.
//
// One NETLINK_SOCK_DIAG dump of the TCP sockets in the asked states per family (IPv4, then
// IPv6), raw netlink sockets, a 32 KiB receive buffer (the kernel caps a dump datagram at
// 32 KiB, so a larger one buys nothing), counting messages and formatting nothing. It prints
// the count on stdout so the benchmark can check how many sockets exist; the timed runs send
// that line to /dev/null.
//
// The floor must ask the kernel exactly what the swstat command it is compared with asks, and
// nothing more: the states are part of the work. Bit 13 (TCP_BOUND_INACTIVE, kernel 6.8+)
// makes the kernel walk the bind hash as well, so `idiag_states = ~0` costs about a third more
// at 100k sockets than swstat's own request. The default is swstat's StateMask.all, 0x1ffe:
// every state but BOUND_INACTIVE, which is what `swstat -tan`, `-tanp` and `-t --count` ask
// (SocketQuery.kernelStateMask); `-s MASK` gives the mask of another scope (`-tln`: 0x400,
// `-tn`: 0x1bfe).
//
// Usage: swstat-diagdump [-s MASK]   (MASK: idiag_states, decimal or 0x hex)
// Exit status: 0, 1 with one `swstat-diagdump: ...` line on stderr, 64 on a usage error.

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

enum { RECV_BUFFER_SIZE = 32768 };

/// swstat's StateMask.all (Sources/SwstatCore/SocketState.swift): states 1-12.
static const uint32_t SWSTAT_STATES_ALL = 0x1ffe;

/// Sends one dump request and counts the replies. Returns the count or a negative errno.
static long dump_family(int fd, uint8_t family, uint32_t states, uint32_t seq) {
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message = {
        .header = {
            .nlmsg_len = sizeof(message),
            .nlmsg_type = SOCK_DIAG_BY_FAMILY,
            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
            .nlmsg_seq = seq,
        },
        .request = {
            .sdiag_family = family,
            .sdiag_protocol = IPPROTO_TCP,
            .idiag_ext = 0,  // as swstat: no extensions asked (INET_DIAG_SHUTDOWN comes anyway)
            .idiag_states = states,
        },
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &message, sizeof(message), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -errno;

    static _Alignas(struct nlmsghdr) char buffer[RECV_BUFFER_SIZE];
    long count = 0;
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -EPIPE;
        // NLMSG_OK/NLMSG_NEXT by hand: the macros mix signed and unsigned lengths.
        for (size_t off = 0; off + sizeof(struct nlmsghdr) <= (size_t)n;) {
            struct nlmsghdr *h = (struct nlmsghdr *)(buffer + off);
            if (h->nlmsg_len < sizeof(*h) || off + h->nlmsg_len > (size_t)n) return -EPROTO;
            off += NLMSG_ALIGN(h->nlmsg_len);
            if (h->nlmsg_seq != seq) continue;
            if (h->nlmsg_type == NLMSG_DONE) return count;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *err = NLMSG_DATA(h);
                return err->error < 0 ? err->error : -EPROTO;
            }
            if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) count++;
        }
    }
}

/// Parses MASK (decimal or 0x hex, at most 32 bits); returns 0 on success.
static int parse_mask(const char *text, uint32_t *mask) {
    if (text == NULL || *text == '\0' || *text == '-' || *text == '+') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || value > UINT32_MAX) return -1;
    *mask = (uint32_t)value;
    return 0;
}

int main(int argc, char **argv) {
    uint32_t states = SWSTAT_STATES_ALL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && parse_mask(argv[i + 1], &states) == 0) {
            i++;
            continue;
        }
        fprintf(stderr, "usage: swstat-diagdump [-s MASK]  (idiag_states; default 0x%x)\n",
                SWSTAT_STATES_ALL);
        return 64;
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        fprintf(stderr, "swstat-diagdump: netlink: %s (errno %d)\n", strerror(errno), errno);
        return 1;
    }
    const uint8_t families[] = {AF_INET, AF_INET6};
    long total = 0;
    for (unsigned i = 0; i < sizeof(families); i++) {
        long n = dump_family(fd, families[i], states, i + 1);
        if (n < 0) {
            fprintf(stderr, "swstat-diagdump: dump %s: %s (errno %ld)\n",
                    families[i] == AF_INET ? "IPv4" : "IPv6", strerror((int)-n), -n);
            return 1;
        }
        total += n;
    }
    close(fd);
    printf("%ld\n", total);
    return 0;
}
