/* options.c: command line and config file (see options.h and options_usage). */
#include "options.h"
#include "vsock_native.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char options_usage[] =
    "Usage: vhost-user-vsock [OPTIONS]\n"
    "\n"
    "A vhost-user backend for virtio-vsock (the host side of AF_VSOCK) on libvsocknative, with the\n"
    "options and config keys of rust-vmm's vhost-device-vsock. One process serves several VMs;\n"
    "each has its own vhost-user socket and device.\n"
    "\n"
    "Options:\n"
    "  --vm KEY=VALUE[,KEY=VALUE...]\n"
    "        One VM (repeatable). Keys (with '-' or '_'):\n"
    "        guest-cid=CID       3..4294967294, unique (default 3)\n"
    "        socket=PATH         the vhost-user Unix socket the daemon creates and listens on\n"
    "                            (QEMU connects to it); required\n"
    "        uds-path=PATH       the hybrid-vsock Unix socket, bound at start: host programs\n"
    "                            connect to it and write \"CONNECT <port>\\n\"; a guest connecting\n"
    "                            to host port P reaches the Unix listener at \"<uds-path>_P\"\n"
    "        tx-buffer-size=N    bytes buffered per connection for guest-to-host data (the\n"
    "                            buf_alloc the device advertises), 1..1073741824, default 262144\n"
    "        queue-size=N        the largest ring the device accepts (SET_VRING_NUM), a power of\n"
    "                            two up to 32768, default 1024\n"
    "        groups=G1+G2        group names ([A-Za-z0-9_-], default \"default\"); VMs that share a\n"
    "                            group reach each other by CID\n"
    "        forward-cid=CID     instead of uds-path: a guest stream or seqpacket connection to host port P\n"
    "                            reaches AF_VSOCK (CID, P) on this host (1: the host itself, with\n"
    "                            vsock_loopback); 1..4294967294\n"
    "        forward-listen=P1+P2  with forward-cid: the daemon listens on these host AF_VSOCK\n"
    "                            ports and forwards each connection to the same guest port\n"
    "        forward-listen-seqpacket=P1+P2  the same for SOCK_SEQPACKET (a port is one or the other)\n"
    "  --guest-cid CID, --socket PATH, --uds-path PATH, --tx-buffer-size N, --queue-size N,\n"
    "  --groups G1+G2, --forward-cid CID, --forward-listen P1+P2, --forward-listen-seqpacket P1+P2\n"
    "        The same for a single VM, as separate options.\n"
    "  --config FILE\n"
    "        Read VMs from a YAML file (may be combined with --vm):\n"
    "            vms:\n"
    "                - guest_cid: 3\n"
    "                  socket: /tmp/vhost3.socket\n"
    "                  uds_path: /tmp/vm3.vsock\n"
    "                  tx_buffer_size: 65536\n"
    "                  queue_size: 1024\n"
    "                  groups: group1+groupA\n"
    "            metrics: /run/vhost-user-vsock.json   # optional, as --metrics\n"
    "            metrics_interval: 60                  # optional, as --metrics-interval\n"
    "            log_level: info                       # optional, as --log-level\n"
    "        VM keys as in --vm. An unknown key is a warning; a malformed file an error.\n"
    "  --metrics PATH\n"
    "        Write the counters of every VM as one JSON object to PATH (replaced atomically)\n"
    "        every --metrics-interval seconds and on SIGUSR1.\n"
    "  --metrics-interval SECONDS\n"
    "        0..86400, default 60; 0 writes only on SIGUSR1.\n"
    "  --log-level error|warn|info|debug\n"
    "        To stderr, default info.\n"
    "  -h, --help\n"
    "        Print this text.\n"
    "  -V, --version\n"
    "        Print the version.\n"
    "\n"
    "Signals: SIGTERM and SIGINT stop the daemon (exit 0; the sockets it created are removed);\n"
    "SIGUSR1 writes the metrics file now.\n"
    "\n"
    "Exit status: 0 after SIGTERM/SIGINT, 1 when a VM cannot be set up, 2 for bad arguments.\n"
    "\n"
    "QEMU: -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem\n"
    "      -chardev socket,id=c,path=/tmp/vhost3.socket -device vhost-user-vsock-pci,chardev=c\n";

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (*s == '\0' || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_groups(const char *s, vm_options *vm, char *err, size_t errlen)
{
    vm->ngroups = 0;
    const char *p = s;
    while (1) {
        size_t n = strcspn(p, "+");
        if (n == 0 || n >= VU_NAME_MAX) return fail(err, errlen, "groups \"%s\": names are 1..%u characters", s, VU_NAME_MAX - 1);
        if (vm->ngroups == VU_MAX_GROUPS) return fail(err, errlen, "groups \"%s\": at most %u groups", s, VU_MAX_GROUPS);
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                return fail(err, errlen, "groups \"%s\": '%c' is not allowed in a group name", s, c);
        }
        memcpy(vm->groups[vm->ngroups], p, n);
        vm->groups[vm->ngroups++][n] = '\0';
        if (p[n] == '\0') return 0;
        p += n + 1;
    }
}

static char *dup_path(const char *value, const char *key, char *err, size_t errlen)
{
    if (*value == '\0') {
        fail(err, errlen, "%s is empty", key);
        return NULL;
    }
    if (strlen(value) >= 108) {
        fail(err, errlen, "%s \"%s\" is longer than a Unix socket path may be (107)", key, value);
        return NULL;
    }
    char *copy = strdup(value);
    if (copy == NULL) fail(err, errlen, "out of memory");
    return copy;
}

/* key with '_' turned into '-' into k (size n); false when it does not fit. */
static bool normalize_key(const char *key, char *k, size_t n)
{
    size_t len = strlen(key);
    if (len >= n) return false;
    for (size_t i = 0; i <= len; i++) k[i] = key[i] == '_' ? '-' : key[i];
    return true;
}

/* forward-listen (stream) or forward-listen-seqpacket: the ports of that kind are replaced, the
 * other kind's kept; a port may be given once across both (AF_VSOCK binds one socket per port). */
static int parse_ports(const char *s, vm_options *vm, bool seqpacket, char *err, size_t errlen)
{
    const char *key = seqpacket ? "forward-listen-seqpacket" : "forward-listen";
    unsigned kept = 0;
    for (unsigned i = 0; i < vm->nforward_listen; i++)
        if (vm->forward_listen_seqpacket[i] != seqpacket) {
            vm->forward_listen[kept] = vm->forward_listen[i];
            vm->forward_listen_seqpacket[kept++] = vm->forward_listen_seqpacket[i];
        }
    vm->nforward_listen = kept;
    const char *p = s;
    char part[24];
    while (1) {
        size_t n = strcspn(p, "+");
        uint64_t v;
        if (n == 0 || n >= sizeof part) return fail(err, errlen, "%s \"%s\": '+'-separated ports from 0 to 4294967294", key, s);
        memcpy(part, p, n);
        part[n] = '\0';
        if (parse_u64(part, 0xFFFFFFFEull, &v) < 0)
            return fail(err, errlen, "%s \"%s\": '+'-separated ports from 0 to 4294967294", key, s);
        for (unsigned i = 0; i < vm->nforward_listen; i++)
            if (vm->forward_listen[i] == v) return fail(err, errlen, "%s \"%s\": port %llu is given twice", key, s, (unsigned long long)v);
        if (vm->nforward_listen == VU_MAX_FORWARD_PORTS) return fail(err, errlen, "%s \"%s\": at most %u ports", key, s, VU_MAX_FORWARD_PORTS);
        vm->forward_listen_seqpacket[vm->nforward_listen] = seqpacket;
        vm->forward_listen[vm->nforward_listen++] = (uint32_t)v;
        if (p[n] == '\0') return 0;
        p += n + 1;
    }
}

int options_set_vm_key(vm_options *vm, const char *key, const char *value, char *err, size_t errlen)
{
    char k[32];
    if (!normalize_key(key, k, sizeof k)) return 1;
    uint64_t v;
    if (strcmp(k, "guest-cid") == 0) {
        if (parse_u64(value, UINT64_MAX, &v) < 0 || v < 3 || v > 0xFFFFFFFEull)
            return fail(err, errlen, "guest-cid \"%s\": a number from 3 to 4294967294", value);
        vm->guest_cid = v;
    } else if (strcmp(k, "socket") == 0) {
        free(vm->socket);
        if ((vm->socket = dup_path(value, "socket", err, errlen)) == NULL) return -1;
    } else if (strcmp(k, "uds-path") == 0) {
        free(vm->uds_path);
        if ((vm->uds_path = dup_path(value, "uds-path", err, errlen)) == NULL) return -1;
    } else if (strcmp(k, "tx-buffer-size") == 0) {
        if (parse_u64(value, 1u << 30, &v) < 0 || v == 0)
            return fail(err, errlen, "tx-buffer-size \"%s\": a number from 1 to 1073741824", value);
        vm->tx_buffer_size = (uint32_t)v;
    } else if (strcmp(k, "queue-size") == 0) {
        if (parse_u64(value, 32768, &v) < 0 || v == 0 || (v & (v - 1)) != 0)
            return fail(err, errlen, "queue-size \"%s\": a power of two from 1 to 32768", value);
        vm->queue_size = (uint32_t)v;
    } else if (strcmp(k, "groups") == 0) {
        return parse_groups(value, vm, err, errlen);
    } else if (strcmp(k, "forward-cid") == 0) {
        if (parse_u64(value, 0xFFFFFFFEull, &v) < 0 || v == 0)
            return fail(err, errlen, "forward-cid \"%s\": a number from 1 to 4294967294", value);
        vm->forward_cid = (uint32_t)v;
        vm->has_forward_cid = true;
    } else if (strcmp(k, "forward-listen") == 0) {
        return parse_ports(value, vm, false, err, errlen);
    } else if (strcmp(k, "forward-listen-seqpacket") == 0) {
        return parse_ports(value, vm, true, err, errlen);
    } else {
        return 1;
    }
    return 0;
}

#define VM_KEYS "guest-cid, socket, uds-path, tx-buffer-size, queue-size, groups, forward-cid, forward-listen, forward-listen-seqpacket"

int options_parse_vm(const char *spec, vm_options *vm, char *err, size_t errlen)
{
    char *copy = strdup(spec);
    if (copy == NULL) return fail(err, errlen, "out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            rc = fail(err, errlen, "--vm \"%s\": \"%s\" is not key=value", spec, item);
            break;
        }
        *eq = '\0';
        rc = options_set_vm_key(vm, item, eq + 1, err, errlen);
        if (rc == 1) rc = fail(err, errlen, "unknown VM key \"%s\" (" VM_KEYS ")", item);
    }
    free(copy);
    return rc;
}

int options_set_daemon_key(daemon_options *o, const char *key, const char *value, char *err, size_t errlen)
{
    char k[32];
    if (!normalize_key(key, k, sizeof k)) return 1;
    if (strcmp(k, "log-level") == 0) {
        static const char *levels[] = { "error", "warn", "info", "debug" };
        for (int l = 0; l < 4; l++)
            if (strcmp(value, levels[l]) == 0) {
                o->log_level = l;
                return 0;
            }
        return fail(err, errlen, "log-level \"%s\": error, warn, info or debug", value);
    }
    if (strcmp(k, "metrics") == 0) {
        if (*value == '\0') return fail(err, errlen, "metrics is empty");
        free(o->metrics_path);
        if ((o->metrics_path = strdup(value)) == NULL) return fail(err, errlen, "out of memory");
        return 0;
    }
    if (strcmp(k, "metrics-interval") == 0) {
        uint64_t v;
        if (parse_u64(value, 86400, &v) < 0) return fail(err, errlen, "metrics-interval \"%s\": seconds from 0 to 86400", value);
        o->metrics_interval = (uint32_t)v;
        return 0;
    }
    return 1;
}

vm_options *options_new_vm(daemon_options *o, char *err, size_t errlen)
{
    if (o->nvms == VU_MAX_VMS) {
        fail(err, errlen, "at most %u VMs", VU_MAX_VMS);
        return NULL;
    }
    return &o->vms[o->nvms++];
}

/* ---- command line ------------------------------------------------------------------------ */

static int check_vms(daemon_options *o, char *err, size_t errlen)
{
    if (o->nvms == 0) return fail(err, errlen, "no VM given (--vm, --config or --socket)");
    for (unsigned i = 0; i < o->nvms; i++) {
        vm_options *vm = &o->vms[i];
        if (vm->guest_cid == 0) vm->guest_cid = VU_DEFAULT_GUEST_CID;
        if (vm->queue_size == 0) vm->queue_size = VU_DEFAULT_QUEUE_SIZE;
        if (vm->socket == NULL) return fail(err, errlen, "VM %u (cid %llu): socket is missing", i + 1, (unsigned long long)vm->guest_cid);
        if (vm->ngroups == 0) {
            strcpy(vm->groups[0], "default");
            vm->ngroups = 1;
        }
        if (vm->uds_path != NULL && vm->has_forward_cid)
            return fail(err, errlen, "VM %u (cid %llu): uds-path and forward-cid exclude each other", i + 1,
                        (unsigned long long)vm->guest_cid);
        if (vm->nforward_listen > 0 && !vm->has_forward_cid)
            return fail(err, errlen, "VM %u (cid %llu): forward-listen needs forward-cid (forward-listen-seqpacket too)", i + 1, (unsigned long long)vm->guest_cid);
        for (unsigned j = 0; j < i; j++) {
            if (o->vms[j].guest_cid == vm->guest_cid)
                return fail(err, errlen, "guest-cid %llu is given twice", (unsigned long long)vm->guest_cid);
            if (strcmp(o->vms[j].socket, vm->socket) == 0) return fail(err, errlen, "socket %s is given twice", vm->socket);
            if (vm->uds_path && o->vms[j].uds_path && strcmp(o->vms[j].uds_path, vm->uds_path) == 0)
                return fail(err, errlen, "uds-path %s is given twice", vm->uds_path);
        }
    }
    return 0;
}

static void free_vm(vm_options *vm)
{
    free(vm->socket);
    free(vm->uds_path);
    vm->socket = vm->uds_path = NULL;
}

static const char *const vm_option_names[] = { "guest-cid", "socket", "uds-path", "tx-buffer-size", "queue-size",
                                               "groups", "forward-cid", "forward-listen", "forward-listen-seqpacket" };

int options_parse(int argc, char **argv, daemon_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->log_level = VSN_LOG_INFO;
    o->metrics_interval = VU_DEFAULT_METRICS_INTERVAL;
    vm_options single = { 0 };
    bool have_single = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = true;
            continue;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            o->version = true;
            continue;
        }
        const char *value = NULL;
        char name[32];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq != NULL && (size_t)(eq - a) < sizeof name) {  /* --opt=value */
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            value = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (strncmp(a, "--", 2) == 0 && i + 1 < argc) value = argv[i + 1], i++;
        }
        int rc = 0;
        if (strncmp(name, "--", 2) != 0) rc = fail(err, errlen, "unexpected argument \"%s\"", a);
        else if (value == NULL) rc = fail(err, errlen, "%s needs a value", name);
        else if (strcmp(name, "--vm") == 0) {
            vm_options *vm = options_new_vm(o, err, errlen);
            rc = vm == NULL ? -1 : options_parse_vm(value, vm, err, errlen);
        } else if (strcmp(name, "--config") == 0) {
            rc = options_load_config(value, o, err, errlen);
        } else if (strcmp(name, "--log-level") == 0 || strcmp(name, "--metrics") == 0 || strcmp(name, "--metrics-interval") == 0) {
            rc = options_set_daemon_key(o, name + 2, value, err, errlen);
        } else {
            rc = fail(err, errlen, "unknown option %s", name);
            for (size_t n = 0; n < sizeof vm_option_names / sizeof *vm_option_names; n++)
                if (strcmp(name + 2, vm_option_names[n]) == 0) {
                    have_single = true;
                    rc = options_set_vm_key(&single, name + 2, value, err, errlen);
                }
        }
        if (rc != 0) {
            free_vm(&single);
            options_free(o);
            return -1;
        }
    }
    if (o->help || o->version) {
        free_vm(&single);
        return 0;
    }
    if (have_single) {
        vm_options *vm = options_new_vm(o, err, errlen);
        if (vm == NULL) {
            free_vm(&single);
            options_free(o);
            return -1;
        }
        *vm = single;
    }
    if (check_vms(o, err, errlen) < 0) {
        options_free(o);
        return -1;
    }
    return 0;
}

void options_free(daemon_options *o)
{
    for (unsigned i = 0; i < o->nvms; i++) free_vm(&o->vms[i]);
    o->nvms = 0;
    free(o->metrics_path);
    o->metrics_path = NULL;
}

bool options_share_group(const vm_options *a, const vm_options *b)
{
    for (unsigned i = 0; i < a->ngroups; i++)
        for (unsigned j = 0; j < b->ngroups; j++)
            if (strcmp(a->groups[i], b->groups[j]) == 0) return true;
    return false;
}
