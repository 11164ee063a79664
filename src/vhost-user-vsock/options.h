/*
 * options.h: the daemon's command line and config file (the shape of rust-vmm's
 * vhost-device-vsock). Parsing never exits: it returns an error message, main prints it and exits
 * with status 2.
 */
#ifndef VU_OPTIONS_H
#define VU_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VU_MAX_VMS 64u
#define VU_MAX_GROUPS 16u
#define VU_NAME_MAX 64u

typedef struct vm_options {
    uint64_t guest_cid;
    char *socket;          /* vhost-user socket the daemon listens on (QEMU connects) */
    char *uds_path;        /* hybrid-vsock Unix socket, or NULL */
    uint32_t tx_buffer_size; /* per-connection buffer (the device's buf_alloc); 0 = library default */
    char groups[VU_MAX_GROUPS][VU_NAME_MAX];
    unsigned ngroups;
} vm_options;

typedef struct daemon_options {
    vm_options vms[VU_MAX_VMS];
    unsigned nvms;
    int log_level;         /* VSN_LOG_* */
    bool help;
} daemon_options;

/* Parses argv into opts (zeroed first). Returns 0, or -1 with a message in err. */
int options_parse(int argc, char **argv, daemon_options *opts, char *err, size_t errlen);

/* Parses one "--vm" value: key=value pairs separated by commas. */
int options_parse_vm(const char *spec, vm_options *vm, char *err, size_t errlen);

/* Reads a config file (the YAML subset documented in --help) and appends its VMs. */
int options_load_config(const char *path, daemon_options *opts, char *err, size_t errlen);

/* Frees the strings. */
void options_free(daemon_options *opts);

/* True when two VMs share a group. */
bool options_share_group(const vm_options *a, const vm_options *b);

/* The --help text. */
extern const char options_usage[];

#endif
