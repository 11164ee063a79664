/*
 * config.c: the YAML config file (--config), read with libyaml's document loader, with the keys of
 * vhost-device-vsock:
 *
 *     vms:
 *         - guest_cid: 3
 *           socket: /tmp/vhost3.socket
 *           uds_path: /tmp/vm3.vsock
 *
 * plus the daemon-wide keys metrics, metrics_interval and log_level at the top level. Keys may use
 * '_' or '-'. An unknown key is a warning (file and line, on stderr); a file that is not YAML, or
 * a value of the wrong shape or range, is an error with file, line and column.
 */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

typedef struct reader {
    const char *path;
    yaml_document_t doc;
    daemon_options *opts;
    char *err;
    size_t errlen;
} reader;

static int fail_at(reader *r, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(reader *r, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "config %s:%zu:%zu: %s", r->path, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    return -1;
}

static const char *kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void warn_unknown(reader *r, const yaml_node_t *key, const char *where)
{
    fprintf(stderr, "vhost-user-vsock: warning: config %s:%zu: unknown %s key \"%s\" (ignored)\n", r->path,
            key->start_mark.line + 1, where, scalar(key) ? scalar(key) : "?");
}

static int read_vm(reader *r, yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE) return fail_at(r, map, "a VM is a mapping of keys (guest_cid, socket, ...), found %s", kind(map));
    char msg[320];
    vm_options *vm = options_new_vm(r->opts, msg, sizeof msg);
    if (vm == NULL) return fail_at(r, map, "%s", msg);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key), *v = yaml_document_get_node(&r->doc, p->value);
        if (scalar(k) == NULL) return fail_at(r, k, "a key must be a scalar, found %s", kind(k));
        if (scalar(v) == NULL) return fail_at(r, v, "%s: expected a scalar value, found %s", scalar(k), kind(v));
        int rc = options_set_vm_key(vm, scalar(k), scalar(v), msg, sizeof msg);
        if (rc < 0) return fail_at(r, v, "%s", msg);
        if (rc == 1) warn_unknown(r, k, "VM");
    }
    return 0;
}

static int read_root(reader *r)
{
    yaml_node_t *root = yaml_document_get_root_node(&r->doc);
    if (root == NULL) return snprintf(r->err, r->errlen, "config %s: empty file (no \"vms:\" list)", r->path), -1;
    if (root->type != YAML_MAPPING_NODE) return fail_at(r, root, "expected a mapping with \"vms:\", found %s", kind(root));
    bool have_vms = false;
    char msg[320];
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key), *v = yaml_document_get_node(&r->doc, p->value);
        if (scalar(k) == NULL) return fail_at(r, k, "a key must be a scalar, found %s", kind(k));
        if (strcmp(scalar(k), "vms") == 0) {
            if (v->type != YAML_SEQUENCE_NODE) return fail_at(r, v, "vms: expected a list of VMs, found %s", kind(v));
            if (v->data.sequence.items.start == v->data.sequence.items.top) return fail_at(r, v, "vms: the list is empty");
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
                if (read_vm(r, yaml_document_get_node(&r->doc, *i)) < 0) return -1;
            have_vms = true;
            continue;
        }
        if (scalar(v) == NULL) {
            if (options_set_daemon_key(r->opts, scalar(k), "", msg, sizeof msg) == 1) {
                warn_unknown(r, k, "top-level");
                continue;
            }
            return fail_at(r, v, "%s: expected a scalar value, found %s", scalar(k), kind(v));
        }
        int rc = options_set_daemon_key(r->opts, scalar(k), scalar(v), msg, sizeof msg);
        if (rc < 0) return fail_at(r, v, "%s", msg);
        if (rc == 1) warn_unknown(r, k, "top-level");
    }
    if (!have_vms) return fail_at(r, root, "no \"vms:\" list");
    return 0;
}

int options_load_config(const char *path, daemon_options *opts, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return snprintf(err, errlen, "config %s: %s", path, strerror(errno)), -1;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return snprintf(err, errlen, "config %s: out of memory", path), -1;
    }
    yaml_parser_set_input_file(&parser, f);
    reader r = { .path = path, .opts = opts, .err = err, .errlen = errlen };
    int rc;
    if (!yaml_parser_load(&parser, &r.doc)) {
        const yaml_mark_t *m = &parser.problem_mark;
        snprintf(err, errlen, "config %s:%zu:%zu: %s%s%s", path, m->line + 1, m->column + 1,
                 parser.problem ? parser.problem : "malformed YAML", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        rc = -1;
    } else {
        rc = read_root(&r);
        yaml_document_delete(&r.doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
