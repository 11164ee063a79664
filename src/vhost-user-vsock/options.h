/*
 * options.h: the daemon's command line and config file, with the options and keys of rust-vmm's
 * vhost-device-vsock (README.md has the differences). Parsing never exits: it returns an error
 * message, main prints it and exits with status 2.
 */
#ifndef VU_OPTIONS_H
#define VU_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VU_MAX_VMS 64u
#define VU_MAX_GROUPS 16u
#define VU_NAME_MAX 64u
#define VU_MAX_FORWARD_PORTS 64u
#define VU_DEFAULT_GUEST_CID 3u
#define VU_DEFAULT_QUEUE_SIZE 1024u
#define VU_DEFAULT_METRICS_INTERVAL 60u

typedef struct vm_options {
    uint64_t guest_cid;      /* 0 until set; VU_DEFAULT_GUEST_CID when none is given */
    char *socket;            /* vhost-user socket the daemon listens on (QEMU connects) */
    char *uds_path;          /* hybrid-vsock Unix socket, or NULL */
    uint32_t tx_buffer_size; /* per-connection buffer (the device's buf_alloc); 0 = library default */
    uint32_t queue_size;     /* the largest ring accepted at SET_VRING_NUM; 0 = VU_DEFAULT_QUEUE_SIZE */
    char groups[VU_MAX_GROUPS][VU_NAME_MAX];
    unsigned ngroups;
    bool has_forward_cid;
    uint32_t forward_cid;    /* forward guest connections to the host's AF_VSOCK (this CID) */
    uint32_t forward_listen[VU_MAX_FORWARD_PORTS];
    unsigned nforward_listen;
    bool forward_listen_seqpacket[VU_MAX_FORWARD_PORTS]; /* that port listens SOCK_SEQPACKET, not SOCK_STREAM */
} vm_options;

typedef struct daemon_options {
    vm_options vms[VU_MAX_VMS];
    unsigned nvms;
    int log_level;            /* VSN_LOG_* */
    char *metrics_path;       /* --metrics: JSON file, or NULL */
    uint32_t metrics_interval;/* seconds between metrics writes; 0 = only on SIGUSR1 */
    bool help, version;
} daemon_options;

/* Parses argv into opts (zeroed first). Returns 0, or -1 with a message in err. */
int options_parse(int argc, char **argv, daemon_options *opts, char *err, size_t errlen);

/* Parses one "--vm" value: key=value pairs separated by commas. */
int options_parse_vm(const char *spec, vm_options *vm, char *err, size_t errlen);

/* One VM key (with '-' or '_') and its value, as on the command line. 0, -1 with a message, or 1
 * for a key that is not a VM key (no message). */
int options_set_vm_key(vm_options *vm, const char *key, const char *value, char *err, size_t errlen);

/* One daemon-wide key of the config file or command line ("log-level", "metrics",
 * "metrics-interval", with '-' or '_'): 0, -1 with a message, 1 for an unknown key. */
int options_set_daemon_key(daemon_options *o, const char *key, const char *value, char *err, size_t errlen);

/* A new VM slot, or NULL with a message when all are taken. */
vm_options *options_new_vm(daemon_options *o, char *err, size_t errlen);

/* Reads a YAML config file (config.c, libyaml) and appends its VMs. Unknown keys are warnings on
 * stderr with file and line. */
int options_load_config(const char *path, daemon_options *opts, char *err, size_t errlen);

/* Frees the strings. */
void options_free(daemon_options *opts);

/* True when two VMs share a group. */
bool options_share_group(const vm_options *a, const vm_options *b);

/* The --help text. */
extern const char options_usage[];

#endif
