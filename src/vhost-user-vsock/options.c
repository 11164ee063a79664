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
    "A vhost-user backend for virtio-vsock (the host side of AF_VSOCK) on libvsocknative.\n"
    "One process serves several VMs; each has its own vhost-user socket and device.\n"
    "\n"
    "Options:\n"
    "  --vm guest-cid=CID,socket=PATH[,uds-path=PATH][,tx-buffer-size=N][,groups=G1+G2]\n"
    "        One VM (repeatable). guest-cid: 3..4294967294, unique. socket: the vhost-user Unix\n"
    "        socket the daemon creates and listens on (QEMU connects to it). uds-path: the\n"
    "        hybrid-vsock Unix socket: host programs connect to it and write \"CONNECT <port>\\n\";\n"
    "        a guest connecting to host port P reaches the Unix listener at \"<uds-path>_P\".\n"
    "        tx-buffer-size: bytes buffered per connection for guest-to-host data (the buf_alloc the\n"
    "        device advertises), 1..1073741824, default 262144. groups: '+'-separated names\n"
    "        ([A-Za-z0-9_-], default \"default\"); VMs that share a group reach each other by CID.\n"
    "  --guest-cid CID --socket PATH [--uds-path PATH] [--tx-buffer-size N] [--groups G]\n"
    "        The same for a single VM, as separate options.\n"
    "  --config FILE\n"
    "        Read VMs from FILE (may be combined with --vm). Format (a YAML subset):\n"
    "            vms:\n"
    "                - guest_cid: 3\n"
    "                  socket: /tmp/vhost3.socket\n"
    "                  uds_path: /tmp/vm3.vsock\n"
    "                  tx_buffer_size: 65536     # optional\n"
    "                  groups: group1+group2     # optional\n"
    "                - guest_cid: 4\n"
    "                  socket: /tmp/vhost4.socket\n"
    "        '#' starts a comment; values may be quoted with \" or '; keys as in --vm with '_'\n"
    "        or '-'. Unknown keys are errors.\n"
    "  --log-level error|warn|info|debug   (default info; to stderr)\n"
    "  -h, --help   This text.\n"
    "\n"
    "Exit status: 0 after SIGTERM/SIGINT (sockets it created are removed), 1 when a VM cannot be\n"
    "set up, 2 for bad arguments.\n"
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

/* One key=value of a VM (keys with '-' or '_'). */
static int set_vm_key(vm_options *vm, const char *key, const char *value, char *err, size_t errlen)
{
    char k[32];
    size_t n = strlen(key);
    if (n >= sizeof k) return fail(err, errlen, "unknown VM key \"%s\"", key);
    for (size_t i = 0; i <= n; i++) k[i] = key[i] == '_' ? '-' : key[i];
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
    } else if (strcmp(k, "groups") == 0) {
        return parse_groups(value, vm, err, errlen);
    } else {
        return fail(err, errlen, "unknown VM key \"%s\" (guest-cid, socket, uds-path, tx-buffer-size, groups)", key);
    }
    return 0;
}

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
        rc = set_vm_key(vm, item, eq + 1, err, errlen);
    }
    free(copy);
    return rc;
}

static vm_options *new_vm(daemon_options *o, char *err, size_t errlen)
{
    if (o->nvms == VU_MAX_VMS) {
        fail(err, errlen, "at most %u VMs", VU_MAX_VMS);
        return NULL;
    }
    return &o->vms[o->nvms++];
}

/* ---- config file ------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/* Cuts a comment ('#' outside quotes) off a line; -1 for an unbalanced quote. */
static int strip_comment(char *line)
{
    char quote = 0;
    for (char *p = line; *p; p++) {
        if (quote) {
            if (*p == quote) quote = 0;
        } else if (*p == '"' || *p == '\'') quote = *p;
        else if (*p == '#') {
            *p = '\0';
            break;
        }
    }
    return quote ? -1 : 0;
}

/* Removes the quotes around a value, if any; -1 for a quote that is not closed at the end. */
static int unquote(char *v, char **out)
{
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        v++;
    } else if (n > 0 && (v[0] == '"' || v[0] == '\'' || v[n - 1] == '"' || v[n - 1] == '\'')) return -1;
    *out = v;
    return 0;
}

int options_load_config(const char *path, daemon_options *o, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return fail(err, errlen, "config %s: %s", path, strerror(errno));
    char line[1024], msg[512];
    unsigned lineno = 0;
    bool in_vms = false;
    vm_options *vm = NULL;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = fail(err, errlen, "config %s:%u: line too long", path, lineno);
            break;
        }
        if (strip_comment(line) < 0) {
            rc = fail(err, errlen, "config %s:%u: unbalanced quote", path, lineno);
            break;
        }
        char *s = trim(line);
        if (*s == '\0') continue;
        bool indented = line[0] == ' ' || line[0] == '\t';
        if (!indented) {
            if (strcmp(s, "vms:") != 0) {
                rc = fail(err, errlen, "config %s:%u: expected \"vms:\" at the top level, found \"%s\"", path, lineno, s);
                break;
            }
            in_vms = true;
            continue;
        }
        if (!in_vms) {
            rc = fail(err, errlen, "config %s:%u: entries must follow \"vms:\"", path, lineno);
            break;
        }
        if (s[0] == '-') {
            if ((vm = new_vm(o, msg, sizeof msg)) == NULL) {
                rc = fail(err, errlen, "config %s:%u: %s", path, lineno, msg);
                break;
            }
            s = trim(s + 1);
            if (*s == '\0') continue;
        } else if (vm == NULL) {
            rc = fail(err, errlen, "config %s:%u: a VM starts with \"- \"", path, lineno);
            break;
        }
        char *colon = strchr(s, ':');
        if (colon == NULL) {
            rc = fail(err, errlen, "config %s:%u: expected \"key: value\", found \"%s\"", path, lineno, s);
            break;
        }
        *colon = '\0';
        char *key = trim(s), *v;
        if (unquote(trim(colon + 1), &v) < 0) {
            rc = fail(err, errlen, "config %s:%u: unbalanced quote", path, lineno);
            break;
        }
        if (set_vm_key(vm, key, v, msg, sizeof msg) < 0) rc = fail(err, errlen, "config %s:%u: %s", path, lineno, msg);
    }
    if (rc == 0 && ferror(f)) rc = fail(err, errlen, "config %s: read error", path);
    if (rc == 0 && !in_vms) rc = fail(err, errlen, "config %s: no \"vms:\" list", path);
    fclose(f);
    return rc;
}

/* ---- command line ------------------------------------------------------------------------ */

static int check_vms(daemon_options *o, char *err, size_t errlen)
{
    if (o->nvms == 0) return fail(err, errlen, "no VM given (--vm, --config or --guest-cid/--socket)");
    for (unsigned i = 0; i < o->nvms; i++) {
        vm_options *vm = &o->vms[i];
        if (vm->guest_cid == 0) return fail(err, errlen, "VM %u: guest-cid is missing", i + 1);
        if (vm->socket == NULL) return fail(err, errlen, "VM %u (cid %llu): socket is missing", i + 1, (unsigned long long)vm->guest_cid);
        if (vm->ngroups == 0) {
            strcpy(vm->groups[0], "default");
            vm->ngroups = 1;
        }
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

int options_parse(int argc, char **argv, daemon_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->log_level = VSN_LOG_INFO;
    vm_options single = { 0 };
    bool have_single = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = true;
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
        if (strncmp(name, "--", 2) != 0) {
            options_free(o);
            return fail(err, errlen, "unexpected argument \"%s\"", a);
        }
        if (value == NULL) {
            options_free(o);
            return fail(err, errlen, "%s needs a value", name);
        }
        int rc = 0;
        char key[32];
        if (strcmp(name, "--vm") == 0) {
            vm_options *vm = new_vm(o, err, errlen);
            rc = vm == NULL ? -1 : options_parse_vm(value, vm, err, errlen);
        } else if (strcmp(name, "--config") == 0) {
            rc = options_load_config(value, o, err, errlen);
        } else if (strcmp(name, "--log-level") == 0) {
            static const char *levels[] = { "error", "warn", "info", "debug" };
            rc = -1;
            for (int l = 0; l < 4; l++)
                if (strcmp(value, levels[l]) == 0) o->log_level = l, rc = 0;
            if (rc < 0) fail(err, errlen, "--log-level \"%s\": error, warn, info or debug", value);
        } else if (snprintf(key, sizeof key, "%s", name + 2) > 0
                   && (strcmp(key, "guest-cid") == 0 || strcmp(key, "socket") == 0 || strcmp(key, "uds-path") == 0
                       || strcmp(key, "tx-buffer-size") == 0 || strcmp(key, "groups") == 0)) {
            have_single = true;
            rc = set_vm_key(&single, key, value, err, errlen);
        } else {
            rc = fail(err, errlen, "unknown option %s", name);
        }
        if (rc < 0) {
            free(single.socket);
            free(single.uds_path);
            options_free(o);
            return -1;
        }
    }
    if (o->help) {
        free(single.socket);
        free(single.uds_path);
        return 0;
    }
    if (have_single) {
        vm_options *vm = new_vm(o, err, errlen);
        if (vm == NULL) {
            free(single.socket);
            free(single.uds_path);
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
    for (unsigned i = 0; i < o->nvms; i++) {
        free(o->vms[i].socket);
        free(o->vms[i].uds_path);
        o->vms[i].socket = o->vms[i].uds_path = NULL;
    }
    o->nvms = 0;
}

bool options_share_group(const vm_options *a, const vm_options *b)
{
    for (unsigned i = 0; i < a->ngroups; i++)
        for (unsigned j = 0; j < b->ngroups; j++)
            if (strcmp(a->groups[i], b->groups[j]) == 0) return true;
    return false;
}
