/*
 * vhost-user-vsock: a vhost-user backend for virtio-vsock built on libvsocknative through its
 * public header only. See --help (options.c) and README.md.
 *
 * Threads: main (signals), one vhost-user thread per VM, and each device's own event-loop thread
 * (from the library).
 */
#include "metrics.h"
#include "options.h"
#include "router.h"
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static daemon_options opts;
static vm vms[VU_MAX_VMS];

static void library_log(void *user, int32_t level, const char *message)
{
    (void)user;
    vu_log(level, "%s", message);
}

/* Waits for SIGTERM/SIGINT; meanwhile writes the metrics every interval and on SIGUSR1. */
static void serve_signals(const sigset_t *set)
{
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    next.tv_sec += opts.metrics_interval;
    while (1) {
        int sig;
        bool timed = opts.metrics_path != NULL && opts.metrics_interval > 0;
        if (timed) {
            struct timespec now, wait;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long ns = (long long)(next.tv_sec - now.tv_sec) * 1000000000 + (next.tv_nsec - now.tv_nsec);
            if (ns < 0) ns = 0;
            wait.tv_sec = ns / 1000000000;
            wait.tv_nsec = ns % 1000000000;
            sig = sigtimedwait(set, NULL, &wait);
            if (sig < 0 && errno == EAGAIN) {
                metrics_write(opts.metrics_path, vms, opts.nvms);
                next.tv_sec += opts.metrics_interval;
                if (next.tv_sec < now.tv_sec) next = now;  /* do not catch up after a suspend */
                continue;
            }
            if (sig < 0) continue;  /* EINTR */
        } else if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig != SIGUSR1) {
            vu_log(VSN_LOG_INFO, "signal %d: shutting down", sig);
            return;
        }
        vu_log(VSN_LOG_INFO, "SIGUSR1: counters%s%s", opts.metrics_path ? " written to " : " (no --metrics file)",
               opts.metrics_path ? opts.metrics_path : "");
        if (opts.metrics_path != NULL) metrics_write(opts.metrics_path, vms, opts.nvms);
        metrics_log(vms, opts.nvms);
    }
}

int main(int argc, char **argv)
{
    /* Signals are taken by sigwait in main only, blocked before the library starts any thread (its
     * runtime starts threads at the first call, and a SIGUSR1 delivered to one of them would kill
     * the process); SIGPIPE never kills (sends use MSG_NOSIGNAL). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    if (options_parse(argc, argv, &opts, err, sizeof err) < 0) {
        fprintf(stderr, "vhost-user-vsock: %s\nTry 'vhost-user-vsock --help'.\n", err);
        return 2;
    }
    if (opts.help) {
        fputs(options_usage, stdout);
        return 0;
    }
    if (opts.version) {
        printf("vhost-user-vsock %s (libvsocknative ABI %u.%u)\n", VU_DAEMON_VERSION, vsn_abi_version() >> 16,
               vsn_abi_version() & 0xffff);
        return 0;
    }
    vu_log_level = opts.log_level;
    if ((vsn_abi_version() >> 16) != VSN_ABI_VERSION_MAJOR) {
        vu_log(VSN_LOG_ERROR, "libvsocknative ABI %u.%u, this program needs major %u", vsn_abi_version() >> 16,
               vsn_abi_version() & 0xffff, VSN_ABI_VERSION_MAJOR);
        return 1;
    }
    vsn_set_log_callback(library_log, NULL, opts.log_level);


    int stop_fd = eventfd(0, EFD_CLOEXEC);
    if (stop_fd < 0) {
        vu_log(VSN_LOG_ERROR, "eventfd: %s", strerror(errno));
        return 1;
    }
    int status = 0;
    unsigned opened = 0;
    for (; opened < opts.nvms; opened++)
        if (vm_open(&vms[opened], &opts.vms[opened], stop_fd) < 0) {
            status = 1;
            opened++;
            break;
        }
    if (status == 0 && router_attach(vms, opts.nvms) < 0) status = 1;
    for (unsigned i = 0; status == 0 && i < opts.nvms; i++)
        if (vm_start(&vms[i]) < 0) status = 1;
    if (status == 0) {
        vu_log(VSN_LOG_INFO, "serving %u VM(s); SIGTERM or SIGINT to stop, SIGUSR1 for the counters", opts.nvms);
        if (opts.metrics_path != NULL) {
            vu_log(VSN_LOG_INFO, "metrics to %s every %u s (0: on SIGUSR1 only)", opts.metrics_path, opts.metrics_interval);
            metrics_write(opts.metrics_path, vms, opts.nvms);
        }
        serve_signals(&set);
    }
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) != sizeof one) vu_log(VSN_LOG_ERROR, "stop eventfd: %s", strerror(errno));
    for (unsigned i = 0; i < opened; i++) vm_stop(&vms[i]);
    for (unsigned i = 0; i < opened; i++) vm_close(&vms[i]);
    close(stop_fd);
    options_free(&opts);
    return status;
}
