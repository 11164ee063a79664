/*
 * vhost-user-vsock: a vhost-user backend for virtio-vsock built on libvsocknative through its
 * public header only. See --help (options.c) and README.md.
 *
 * Threads: main (signals), one vhost-user thread per VM, and each device's own event-loop thread
 * (from the library).
 */
#include "options.h"
#include "router.h"
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static daemon_options opts;
static vm vms[VU_MAX_VMS];

static void library_log(void *user, int32_t level, const char *message)
{
    (void)user;
    vu_log(level, "%s", message);
}

int main(int argc, char **argv)
{
    char err[512];
    if (options_parse(argc, argv, &opts, err, sizeof err) < 0) {
        fprintf(stderr, "vhost-user-vsock: %s\nTry 'vhost-user-vsock --help'.\n", err);
        return 2;
    }
    if (opts.help) {
        fputs(options_usage, stdout);
        return 0;
    }
    vu_log_level = opts.log_level;
    if ((vsn_abi_version() >> 16) != VSN_ABI_VERSION_MAJOR) {
        vu_log(VSN_LOG_ERROR, "libvsocknative ABI %u.%u, this program needs major %u", vsn_abi_version() >> 16,
               vsn_abi_version() & 0xffff, VSN_ABI_VERSION_MAJOR);
        return 1;
    }
    vsn_set_log_callback(library_log, NULL, opts.log_level);

    /* Signals are taken by sigwait in main only; SIGPIPE never kills (sends use MSG_NOSIGNAL). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

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
        vu_log(VSN_LOG_INFO, "serving %u VM(s); SIGTERM or SIGINT to stop", opts.nvms);
        int sig = 0;
        sigwait(&set, &sig);
        vu_log(VSN_LOG_INFO, "signal %d: shutting down", sig);
    }
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) != sizeof one) vu_log(VSN_LOG_ERROR, "stop eventfd: %s", strerror(errno));
    for (unsigned i = 0; i < opened; i++) vm_stop(&vms[i]);
    for (unsigned i = 0; i < opened; i++) vm_close(&vms[i]);
    close(stop_fd);
    options_free(&opts);
    return status;
}
