/*
 * vtool.c — command line and verdict of the end-to-end peer (see vtool.h and usage() below).
 */
#include "vtool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static void usage(void)
{
    puts("usage: vtool listen ADDR [options] | vtool connect ADDR [options] | vtool cid\n"
         "  ADDR (connect): vsock:CID:PORT  unix:PATH  hybrid:PATH:PORT (\"CONNECT PORT\\n\" handshake)\n"
         "  ADDR (listen):  vsock:PORT      unix:PATH\n"
         "  --seqpacket      SOCK_SEQPACKET (message sizes 1..--max-msg follow the seed)\n"
         "  --max-msg N      largest seqpacket message [4096]\n"
         "  --eor-every K    seqpacket: MSG_EOR on about 1 message in K (the sender's seed picks them) and\n"
         "                   on the last; received msg_flags must have MSG_EOR on exactly those (without\n"
         "                   the option: on none)\n"
         "  --trunc-every K  seqpacket: read about 1 message in K into half its size: recv(MSG_TRUNC) must\n"
         "                   return its full length with MSG_TRUNC set, the next recv the next message\n"
         "  --rcvtimeo-test MS  first a recv under SO_RCVTIMEO MS must fail EAGAIN, not before 80% of MS\n"
         "                   (the peer sends nothing until it has received: --order recv-first)\n"
         "  --conns K        K connections at once (listen: accept K) [1]\n"
         "  --send N         send an 8-byte seed, N bytes of pattern, then shutdown(SHUT_WR)\n"
         "  --expect N       receive the peer's seed and exactly N checked pattern bytes, then EOF\n"
         "  --order O        duplex (both at once, default) | send-first | recv-first\n"
         "  --seed S         connection i sends stream S+i [1]\n"
         "  --expect-connect-error NAME   connect must fail with errno NAME (ECONNRESET, ...)\n"
         "  --expect-broken  every transfer must end early with an error or a short EOF\n"
         "  --die-after N    SIGKILL myself once N bytes arrived on a connection\n"
         "  --pace-us U      sleep U microseconds after every receive (a slow reader)\n"
         "  --duration S     (stream) send the pattern for S seconds instead of --send bytes, then\n"
         "                   shutdown(SHUT_WR); the count sent is printed (a soak)\n"
         "  --expect-any     (stream) receive the peer's seed and checked pattern bytes until EOF, any\n"
         "                   count (the peer sends for --duration); compare the CRC-32s of both ends\n"
         "  --corrupt-at N   (self-test) send byte N of the pattern with its bits flipped\n"
         "  --fake-eor-at K  (self-test) take received message K as if it came with MSG_EOR\n"
         "  --timeout S      fail after S seconds [120]\n"
         "N takes K/M/G suffixes (KiB, MiB, GiB). Output lines start with \"VT \"; the last is\n"
         "\"VT PASS ...\" (exit 0) or \"VT FAIL ...\" (exit 1). `vtool cid` prints the local CID.");
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
    if (shift)
        end++;
    if (*end || (shift && v > (~0ull >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "VT FAIL timeout: still running when --timeout expired\n";
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

static int parse_args(int argc, char **argv, vt_opts *o)
{
    memset(o, 0, sizeof *o);
    o->conns = 1;
    o->seed = 1;
    o->max_msg = 4096;
    o->timeout_s = 120;
    if (argc < 3)
        return -1;
    if (strcmp(argv[1], "listen") == 0)
        o->listen = 1;
    else if (strcmp(argv[1], "connect") != 0)
        return -1;
    if (vt_parse_addr(argv[2], o->listen, &o->addr) < 0) {
        printf("VT FAIL bad address \"%s\"\n", argv[2]);
        return -1;
    }
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (strcmp(a, "--seqpacket") == 0) { o->seqpacket = 1; continue; }
        if (strcmp(a, "--expect-broken") == 0) { o->expect_broken = 1; continue; }
        if (strcmp(a, "--expect-any") == 0) { o->expect_any = 1; o->expect_set = 1; o->expect = ~0ull; continue; }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--expect-connect-error") == 0) { o->expect_connect_error = v; continue; }
        if (strcmp(a, "--order") == 0) {
            if (strcmp(v, "duplex") == 0) o->order = VT_DUPLEX;
            else if (strcmp(v, "send-first") == 0) o->order = VT_SEND_FIRST;
            else if (strcmp(v, "recv-first") == 0) o->order = VT_RECV_FIRST;
            else return -1;
            continue;
        }
        if (parse_size(v, &n) < 0)
            return -1;
        if (strcmp(a, "--send") == 0) { o->send = n; o->send_set = 1; }
        else if (strcmp(a, "--expect") == 0) { o->expect = n; o->expect_set = 1; }
        else if (strcmp(a, "--seed") == 0) o->seed = n;
        else if (strcmp(a, "--die-after") == 0) o->die_after = n;
        else if (strcmp(a, "--corrupt-at") == 0) o->corrupt_at = n + 1;
        else if (strcmp(a, "--fake-eor-at") == 0) o->fake_eor_at = n + 1;
        else if (strcmp(a, "--eor-every") == 0 && n >= 1 && n <= 1000000) o->eor_every = (uint32_t)n;
        else if (strcmp(a, "--trunc-every") == 0 && n >= 1 && n <= 1000000) o->trunc_every = (uint32_t)n;
        else if (strcmp(a, "--rcvtimeo-test") == 0 && n >= 1 && n <= 600000) o->rcvtimeo_ms = (uint32_t)n;
        else if (strcmp(a, "--pace-us") == 0 && n <= 1000000) o->pace_us = n;
        else if (strcmp(a, "--duration") == 0 && n >= 1 && n <= 86400) { o->duration_s = n; o->send = ~0ull; o->send_set = 1; }
        else if (strcmp(a, "--conns") == 0 && n >= 1 && n <= 256) o->conns = (int)n;
        else if (strcmp(a, "--max-msg") == 0 && n >= 1 && n <= (1u << 24)) o->max_msg = (uint32_t)n;
        else if (strcmp(a, "--timeout") == 0 && n >= 1 && n <= 3600) o->timeout_s = (int)n;
        else return -1;
    }
    if (!o->seqpacket && (o->eor_every || o->trunc_every || o->fake_eor_at))
        return -1; /* message options */
    if (o->seqpacket && (o->duration_s || o->expect_any))
        return -1; /* stream options */
    return 0;
}

typedef struct job {
    const vt_opts *o;
    int index;
    int fd;          /* accepted fd (listen), -1 for connect jobs */
    int connect_err; /* errno of a failed connect */
    double secs;     /* connect (or accept) to the end of the transfer */
    vt_result r;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    double t0 = vt_now();
    if (!j->o->listen) {
        j->fd = vt_connect(j->o, &j->connect_err);
        if (j->fd < 0 || j->o->expect_connect_error)
            return NULL;
    }
    vt_transfer(j->o, j->fd, j->o->seed + (uint64_t)j->index, &j->r);
    j->secs = vt_now() - t0;
    close(j->fd);
    return NULL;
}

/* Prints one line per connection and returns the number of failures. */
static int judge(const vt_opts *o, job *jobs)
{
    int bad = 0;
    for (int i = 0; i < o->conns; i++) {
        job *j = &jobs[i];
        if (o->expect_connect_error) {
            const char *got = j->fd >= 0 ? "success" : vt_errname(j->connect_err);
            int ok = j->fd < 0 && strcmp(got, o->expect_connect_error) == 0;
            printf("VT conn=%d connect: %s (expected %s)%s\n", i, got, o->expect_connect_error,
                   ok ? "" : " MISMATCH");
            if (j->fd >= 0)
                close(j->fd);
            bad += !ok;
            continue;
        }
        if (j->fd < 0) {
            printf("VT conn=%d connect failed: %s (%s)\n", i, vt_errname(j->connect_err),
                   strerror(j->connect_err));
            bad++;
            continue;
        }
        char records[64] = "";
        if (o->seqpacket)
            snprintf(records, sizeof records, " records=%llu truncated=%llu",
                     (unsigned long long)j->r.records, (unsigned long long)j->r.truncated);
        printf("VT conn=%d sent=%llu sent_crc=%08x recv=%llu recv_crc=%08x peer_seed=%llu msgs=%llu%s secs=%.2f%s%s\n",
               i, (unsigned long long)j->r.sent, j->r.sent_crc, (unsigned long long)j->r.received,
               j->r.recv_crc, (unsigned long long)j->r.peer_seed, (unsigned long long)j->r.messages, records,
               j->secs, j->r.what[0] ? " ended: " : "", j->r.what);
        if (o->expect_broken != (j->r.what[0] != 0)) {
            printf("VT conn=%d %s\n", i, o->expect_broken ? "completed although it had to break" : "FAILED");
            bad++;
        }
        for (int k = 0; k < i && o->expect_set && !o->expect_broken; k++)
            if (jobs[k].fd >= 0 && jobs[k].r.peer_seed == j->r.peer_seed) {
                printf("VT conn=%d and conn=%d carried the same stream (seed %llu)\n", k, i,
                       (unsigned long long)j->r.peer_seed);
                bad++;
            }
    }
    return bad;
}

static int print_cid(void)
{
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    unsigned int cid = 0;
    if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0) {
        printf("VT FAIL /dev/vsock: %s\n", vt_errname(errno));
        return 1;
    }
    close(fd);
    printf("VT CID %u\n", cid);
    printf("VT PASS cid\n");
    return 0;
}

int main(int argc, char **argv)
{
    vt_opts o;
    setvbuf(stdout, NULL, _IOLBF, 0);
    vt_xfer_init();
    if (argc == 2 && strcmp(argv[1], "cid") == 0)
        return print_cid();
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage();
        return 0;
    }
    if (parse_args(argc, argv, &o) < 0) {
        usage();
        printf("VT FAIL bad arguments\n");
        return 2;
    }
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)o.timeout_s);

    job *jobs = calloc((size_t)o.conns, sizeof *jobs);
    pthread_t *th = calloc((size_t)o.conns, sizeof *th);
    int lfd = -1;
    if (!jobs || !th)
        return 1;
    if (o.listen && (lfd = vt_listen(&o)) < 0)
        return 1;
    for (int i = 0; i < o.conns; i++) {
        jobs[i] = (job){ .o = &o, .index = i, .fd = -1 };
        if (o.listen) {
            jobs[i].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (jobs[i].fd < 0) {
                printf("VT FAIL accept: %s\n", vt_errname(errno));
                return 1;
            }
        }
        if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) {
            printf("VT FAIL pthread_create\n");
            return 1;
        }
    }
    for (int i = 0; i < o.conns; i++)
        pthread_join(th[i], NULL);
    if (lfd >= 0)
        close(lfd);

    int bad = judge(&o, jobs);
    uint64_t sent = 0, recvd = 0;
    for (int i = 0; i < o.conns; i++) {
        sent += jobs[i].r.sent;
        recvd += jobs[i].r.received;
    }
    printf("VT %s conns=%d sent=%llu recv=%llu failures=%d\n", bad ? "FAIL" : "PASS", o.conns,
           (unsigned long long)sent, (unsigned long long)recvd, bad);
    return bad ? 1 : 0;
}
