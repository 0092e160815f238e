/* SPDX-License-Identifier: MIT */
/*
 * nfqdelay: holds every packet of one NFQUEUE queue for a fixed delay, then
 * accepts it.  The network test lab (tests/netlab/netlab.py) runs it inside
 * its namespace, behind an iptables rule in the raw table's PREROUTING
 * chain, to give the lab a real round-trip time on kernels without netem.
 *
 *   nfqdelay --delay-us US [--queue N] [--max-held N]
 *
 * Talks to the kernel over raw netlink (NETLINK_NETFILTER), libc only.  It
 * asks for packet metadata only (NFQNL_COPY_META: no payload is copied),
 * keeps the packet ids in a FIFO ring with their release times (one fixed
 * delay, so release order is arrival order), and releases every packet
 * that is due with one NFQNL_MSG_VERDICT_BATCH (the kernel accepts all
 * queued packets up to that id).  It prints one "ready" line on stdout
 * once the queue is bound, and a line of counts on stderr when it ends.
 * SIGTERM or SIGINT: releases everything it holds at once and exits 0.
 *
 * The ring and the kernel queue have the same bound (--max-held); if the
 * ring is full anyway the oldest packet is released early and counted.
 */
/* netinet/in.h before the linux headers, which then skip their copies. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NFQD_RECV_BUF (256 * 1024)
#define NFQD_SOCK_BUF (32 * 1024 * 1024)
#define NFQD_RECV_BURST 64

struct nfqd_held {
    uint32_t id;
    uint64_t due_ns;
};

struct nfqd {
    int fd;
    uint16_t queue;
    uint64_t delay_ns;
    struct nfqd_held *ring; /* owned; capacity cap, a power of two */
    uint32_t cap, head, count;
    uint32_t seq;
    uint64_t packets, batches, early, lost_notices, max_count;
};

static volatile sig_atomic_t nfqd_stop;

static void
nfqd_on_signal(int sig)
{
    (void)sig;
    nfqd_stop = 1;
}

static uint64_t
nfqd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Appends attribute type with len bytes of data to the message in buf. */
static void
nfqd_put_attr(char *buf, uint16_t type, const void *data, uint16_t len)
{
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    struct nlattr *a = (struct nlattr *)(buf + NLMSG_ALIGN(nlh->nlmsg_len));
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Starts a queue-subsystem message of type msg in buf (zeroed first). */
static void
nfqd_start_msg(struct nfqd *d, char *buf, size_t size, uint16_t msg,
               uint16_t flags)
{
    memset(buf, 0, size);
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | msg);
    nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    nlh->nlmsg_seq = ++d->seq;
    struct nfgenmsg *g = NLMSG_DATA(nlh);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(d->queue);
}

static int
nfqd_send(struct nfqd *d, const char *buf)
{
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    for (;;) {
        ssize_t n = sendto(d->fd, buf, nlh->nlmsg_len, 0,
                           (struct sockaddr *)&kernel, sizeof(kernel));
        if (n == (ssize_t)nlh->nlmsg_len)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

/* Sends a config message and waits for the kernel's acknowledgement.
 * Returns 0, or -1 with errno set. */
static int
nfqd_config(struct nfqd *d, char *buf)
{
    uint32_t seq = d->seq;
    if (nfqd_send(d, buf) < 0)
        return -1;
    char reply[8192];
    for (;;) {
        ssize_t n = recv(d->fd, reply, sizeof(reply), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply;
             NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != seq)
                continue;
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error == 0)
                return 0;
            errno = -e->error;
            return -1;
        }
    }
}

static int
nfqd_bind(struct nfqd *d)
{
    char buf[256];
    nfqd_start_msg(d, buf, sizeof(buf), NFQNL_MSG_CONFIG, NLM_F_ACK);
    struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND,
                                       .pf = htons(AF_INET)};
    nfqd_put_attr(buf, NFQA_CFG_CMD, &cmd, sizeof(cmd));
    if (nfqd_config(d, buf) < 0) {
        fprintf(stderr,
                "nfqdelay: cannot bind NFQUEUE queue %u: %s (is another "
                "process bound to it in this namespace? does the kernel "
                "have nfnetlink_queue?)\n",
                d->queue, strerror(errno));
        return -1;
    }
    nfqd_start_msg(d, buf, sizeof(buf), NFQNL_MSG_CONFIG, NLM_F_ACK);
    struct nfqnl_msg_config_params params = {.copy_range = htonl(0),
                                             .copy_mode = NFQNL_COPY_META};
    nfqd_put_attr(buf, NFQA_CFG_PARAMS, &params, sizeof(params));
    uint32_t maxlen = htonl(d->cap);
    nfqd_put_attr(buf, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof(maxlen));
    /* GSO packets are queued whole, not segmented for us. */
    uint32_t flags = htonl(NFQA_CFG_F_GSO);
    nfqd_put_attr(buf, NFQA_CFG_FLAGS, &flags, sizeof(flags));
    nfqd_put_attr(buf, NFQA_CFG_MASK, &flags, sizeof(flags));
    if (nfqd_config(d, buf) < 0) {
        fprintf(stderr,
                "nfqdelay: cannot set copy mode and length of queue %u: "
                "%s\n",
                d->queue, strerror(errno));
        return -1;
    }
    return 0;
}

/* Accepts every queued packet up to and including id. */
static int
nfqd_release_upto(struct nfqd *d, uint32_t id)
{
    char buf[128];
    nfqd_start_msg(d, buf, sizeof(buf), NFQNL_MSG_VERDICT_BATCH, 0);
    struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(NF_ACCEPT),
                                      .id = htonl(id)};
    nfqd_put_attr(buf, NFQA_VERDICT_HDR, &v, sizeof(v));
    if (nfqd_send(d, buf) < 0) {
        fprintf(stderr, "nfqdelay: sending a verdict failed: %s\n",
                strerror(errno));
        return -1;
    }
    d->batches++;
    return 0;
}

/* Releases the packets due by now (all of them if all is set). */
static int
nfqd_release_due(struct nfqd *d, uint64_t now, int all)
{
    uint32_t n = 0;
    while (n < d->count &&
           (all || d->ring[(d->head + n) & (d->cap - 1)].due_ns <= now))
        n++;
    if (n == 0)
        return 0;
    uint32_t last = d->ring[(d->head + n - 1) & (d->cap - 1)].id;
    d->head = (d->head + n) & (d->cap - 1);
    d->count -= n;
    return nfqd_release_upto(d, last);
}

static int
nfqd_hold(struct nfqd *d, uint32_t id, uint64_t now)
{
    if (d->count == d->cap) {
        /* Cannot happen while the kernel queue has our bound; stay
         * correct if it does: the oldest goes early. */
        d->early++;
        uint32_t oldest = d->ring[d->head].id;
        d->head = (d->head + 1) & (d->cap - 1);
        d->count--;
        if (nfqd_release_upto(d, oldest) < 0)
            return -1;
    }
    struct nfqd_held *h = &d->ring[(d->head + d->count) & (d->cap - 1)];
    h->id = id;
    h->due_ns = now + d->delay_ns;
    d->count++;
    if (d->count > d->max_count)
        d->max_count = d->count;
    d->packets++;
    return 0;
}

/* Reads the packet notices in one datagram and holds their packets. */
static int
nfqd_parse(struct nfqd *d, const char *buf, ssize_t len, uint64_t now)
{
    for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
         NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error != 0) {
                fprintf(stderr,
                        "nfqdelay: the kernel refused a verdict: "
                        "%s\n",
                        strerror(-e->error));
                return -1;
            }
            continue;
        }
        if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
            continue;
        size_t off = NLMSG_LENGTH(sizeof(struct nfgenmsg));
        while (off + NLA_HDRLEN <= h->nlmsg_len) {
            const struct nlattr *a =
                (const struct nlattr *)((const char *)h + off);
            if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len)
                break;
            if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
                a->nla_len >=
                    NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
                struct nfqnl_msg_packet_hdr ph;
                memcpy(&ph, (const char *)a + NLA_HDRLEN, sizeof(ph));
                if (nfqd_hold(d, ntohl(ph.packet_id), now) < 0)
                    return -1;
                break;
            }
            off += NLA_ALIGN(a->nla_len);
        }
    }
    return 0;
}

/* Reads what is waiting on the socket, at most a burst of datagrams. */
static int
nfqd_receive(struct nfqd *d, char *buf)
{
    for (int i = 0; i < NFQD_RECV_BURST; i++) {
        ssize_t n = recv(d->fd, buf, NFQD_RECV_BUF, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            if (errno == ENOBUFS) {
                /* Notices were lost; their packets are released by the
                 * next batch verdict with a later id. */
                d->lost_notices++;
                continue;
            }
            fprintf(stderr, "nfqdelay: reading the queue failed: %s\n",
                    strerror(errno));
            return -1;
        }
        if (nfqd_parse(d, buf, n, nfqd_now_ns()) < 0)
            return -1;
    }
    return 0;
}

static int
nfqd_run(struct nfqd *d, const sigset_t *waitmask)
{
    char *buf = malloc(NFQD_RECV_BUF);
    if (buf == NULL) {
        fprintf(stderr, "nfqdelay: out of memory\n");
        return -1;
    }
    int rc = 0;
    while (!nfqd_stop && rc == 0) {
        uint64_t now = nfqd_now_ns();
        if (nfqd_release_due(d, now, 0) < 0) {
            rc = -1;
            break;
        }
        struct timespec ts, *tsp = NULL;
        if (d->count > 0) {
            uint64_t wait = d->ring[d->head].due_ns - now;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tsp = &ts;
        }
        struct pollfd p = {.fd = d->fd, .events = POLLIN};
        int r = ppoll(&p, 1, tsp, waitmask);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "nfqdelay: ppoll failed: %s\n", strerror(errno));
            rc = -1;
        } else if (r > 0) {
            rc = nfqd_receive(d, buf);
        }
    }
    if (nfqd_release_due(d, 0, 1) < 0)
        rc = -1;
    free(buf);
    return rc;
}

static void
nfqd_usage(FILE *f)
{
    fprintf(f, "usage: nfqdelay --delay-us US [--queue N] [--max-held N]\n"
               "Holds each packet of NFQUEUE queue N (default 0) for US "
               "microseconds,\nthen accepts it.  --max-held bounds the packets "
               "held (default 131072,\nrounded up to a power of two; also the "
               "kernel queue's length).\nNeeds CAP_NET_ADMIN in the network "
               "namespace of the queue.\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"delay-us", required_argument, NULL, 'd'},
        {"queue", required_argument, NULL, 'q'},
        {"max-held", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    long long delay_us = -1, queue = 0, max_held = 131072;
    int c;
    while ((c = getopt_long(argc, argv, "d:q:m:h", opts, NULL)) != -1) {
        char *end = NULL;
        long long v = 0;
        if (c == 'h') {
            nfqd_usage(stdout);
            return 0;
        }
        if (c == '?') {
            nfqd_usage(stderr);
            return 2;
        }
        errno = 0;
        v = strtoll(optarg, &end, 10);
        if (errno != 0 || end == optarg || *end != '\0' || v < 0) {
            fprintf(stderr,
                    "nfqdelay: --%s wants a non-negative integer, "
                    "not '%s'\n",
                    c == 'd'   ? "delay-us"
                    : c == 'q' ? "queue"
                               : "max-held",
                    optarg);
            return 2;
        }
        if (c == 'd')
            delay_us = v;
        else if (c == 'q')
            queue = v;
        else
            max_held = v;
    }
    if (delay_us < 0 || delay_us > 60000000 || queue > 65535 || max_held < 1 ||
        max_held > (1 << 24) || optind != argc) {
        fprintf(stderr, "nfqdelay: give --delay-us between 0 and 60000000, "
                        "--queue up to 65535 and --max-held from 1 to "
                        "16777216\n");
        nfqd_usage(stderr);
        return 2;
    }

    struct nfqd d = {.queue = (uint16_t)queue,
                     .delay_ns = (uint64_t)delay_us * 1000u,
                     .cap = 1};
    while (d.cap < (uint32_t)max_held)
        d.cap <<= 1;
    d.ring = calloc(d.cap, sizeof(*d.ring));
    if (d.ring == NULL) {
        fprintf(stderr,
                "nfqdelay: out of memory for %u packets; lower "
                "--max-held\n",
                d.cap);
        return 1;
    }

    /* SIGTERM and SIGINT are delivered only inside ppoll. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    struct sigaction sa = {.sa_handler = nfqd_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    d.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (d.fd < 0) {
        fprintf(stderr,
                "nfqdelay: cannot open a netfilter netlink socket: "
                "%s (needs CAP_NET_ADMIN)\n",
                strerror(errno));
        free(d.ring);
        return 1;
    }
    int size = NFQD_SOCK_BUF;
    if (setsockopt(d.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        (void)setsockopt(d.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    int bound = bind(d.fd, (struct sockaddr *)&local, sizeof(local));
    if (bound < 0)
        fprintf(stderr, "nfqdelay: cannot bind the netlink socket: %s\n",
                strerror(errno));
    if (bound < 0 || nfqd_bind(&d) < 0) {
        close(d.fd);
        free(d.ring);
        return 1;
    }
    printf("nfqdelay: queue %u ready, delay %lld us, up to %u packets "
           "held\n",
           d.queue, delay_us, d.cap);
    fflush(stdout);

    int rc = nfqd_run(&d, &waitmask);
    fprintf(stderr,
            "nfqdelay: %llu packets delayed in %llu batches, at most %llu "
            "held at once, %llu released early, %llu lost notices\n",
            (unsigned long long)d.packets, (unsigned long long)d.batches,
            (unsigned long long)d.max_count, (unsigned long long)d.early,
            (unsigned long long)d.lost_notices);
    close(d.fd);
    free(d.ring);
    return rc == 0 ? 0 : 1;
}
