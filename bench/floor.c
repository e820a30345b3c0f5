/* The machine's floor for a relay of this shape: the least a pair of
 * processes can do to carry multicast over one TCP connection and back, with
 * the system calls mcast-relay makes (recvmmsg, one TCP write per read,
 * one TCP read, sendmmsg with UDP GSO) and nothing else: no authentication,
 * no window, no framing beyond a 2-byte length, no event loop (blocking
 * calls). bench/run builds it with cc and measures it as the path floor-c,
 * so what mcast-relay costs above it is its own.
 *
 *   floor out TCP_PORT GROUP PORT   listen on 127.0.0.1:TCP_PORT, send to GROUP:PORT on lo
 *   floor in GROUP PORT TCP_PORT    join GROUP:PORT on lo, connect to 127.0.0.1:TCP_PORT
 *
 * Loopback only: the multicast interface is 127.0.0.1 and the TTL 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

enum { BATCH = 64, MAXDGRAM = 65536, TCPBUF = 1 << 20, GSO_MAX = 65000 };

static void die(const char *what) {
    perror(what);
    exit(1);
}

static struct in_addr addr(const char *s) {
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) {
        fprintf(stderr, "floor: bad address %s\n", s);
        exit(2);
    }
    return a;
}

static void write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static _Noreturn void run_in(const char *group, int port, int tcp_port) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1, rcv = 8 << 20;
    setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(u, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
        setsockopt(u, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr(group)};
    if (bind(u, (struct sockaddr *)&b, sizeof b) < 0) die("bind");
    struct ip_mreq m = {.imr_multiaddr = addr(group), .imr_interface = addr("127.0.0.1")};
    if (setsockopt(u, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) die("IP_ADD_MEMBERSHIP");

    int t = -1;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(tcp_port), .sin_addr = addr("127.0.0.1")};
    for (int tries = 0; t < 0; tries++) { /* the other side may not listen yet: 10 s at most */
        t = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(t, (struct sockaddr *)&to, sizeof to) == 0) break;
        close(t);
        t = -1;
        if (tries == 1000) die("connect");
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    static unsigned char data[BATCH][MAXDGRAM];
    static unsigned char out[BATCH * (MAXDGRAM + 2)];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){data[i], MAXDGRAM};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    for (;;) {
        int n = recvmmsg(u, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("recvmmsg");
        }
        size_t len = 0;
        for (int i = 0; i < n; i++) {
            unsigned l = msgs[i].msg_len;
            out[len] = (unsigned char)(l >> 8);
            out[len + 1] = (unsigned char)l;
            memcpy(out + len + 2, data[i], l);
            len += 2 + l;
        }
        write_all(t, out, len);
    }
}

/* Sends the records in p[0..n) as runs of equal lengths, one GSO message a run. */
static size_t send_records(int u, struct sockaddr_in *to, const unsigned char *p, size_t n) {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH * BATCH];
    char ctl[BATCH][CMSG_SPACE(sizeof(unsigned short))];
    size_t off = 0;
    int nm = 0, ni = 0;
    unsigned run_len = 0, run_n = 0, run_bytes = 0;
    for (;;) {
        int whole = n - off >= 2 && n - off >= 2 + (size_t)((p[off] << 8) | p[off + 1]);
        unsigned l = whole ? (unsigned)((p[off] << 8) | p[off + 1]) : 0;
        /* Close the open run when the next record cannot join it. */
        if (run_n && (!whole || l != run_len || run_n == BATCH || run_bytes + l > GSO_MAX || ni == BATCH * BATCH)) {
            struct msghdr *h = &msgs[nm].msg_hdr;
            *h = (struct msghdr){.msg_name = to, .msg_namelen = sizeof *to,
                                 .msg_iov = &iov[ni - run_n], .msg_iovlen = run_n};
            if (run_n > 1) {
                h->msg_control = ctl[nm];
                h->msg_controllen = sizeof ctl[nm];
                struct cmsghdr *c = CMSG_FIRSTHDR(h);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(unsigned short));
                unsigned short seg = (unsigned short)run_len;
                memcpy(CMSG_DATA(c), &seg, sizeof seg);
            }
            nm++;
            run_n = run_bytes = 0;
            if (nm == BATCH || ni == BATCH * BATCH || !whole) {
                for (int s = 0; s < nm;) {
                    int r = sendmmsg(u, msgs + s, nm - s, 0);
                    if (r < 0) {
                        if (errno == EINTR) continue;
                        die("sendmmsg");
                    }
                    s += r;
                }
                nm = ni = 0;
            }
        }
        if (!whole) return off;
        iov[ni++] = (struct iovec){(void *)(p + off + 2), l};
        run_len = l;
        run_n++;
        run_bytes += l;
        off += 2 + l;
    }
}

static int run_out(int tcp_port, const char *group, int port) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1, ttl = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(tcp_port), .sin_addr = addr("127.0.0.1")};
    if (bind(l, (struct sockaddr *)&b, sizeof b) < 0) die("bind");
    if (listen(l, 1) < 0) die("listen");
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct in_addr lo = addr("127.0.0.1");
    if (setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo) < 0) die("IP_MULTICAST_IF");
    setsockopt(u, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr(group)};
    int t = accept(l, NULL, NULL);
    if (t < 0) die("accept");
    static unsigned char buf[TCPBUF];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(t, buf + have, sizeof buf - have);
        if (r == 0) return 0;
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        have += (size_t)r;
        size_t used = send_records(u, &to, buf, have);
        memmove(buf, buf + used, have - used);
        have -= used;
    }
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "in") == 0) run_in(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 5 && strcmp(argv[1], "out") == 0) return run_out(atoi(argv[2]), argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: floor out TCP_PORT GROUP PORT | floor in GROUP PORT TCP_PORT\n");
    return 2;
}
