/* The device lifecycle through the C ABI: ABI version, create/destroy, config validation
 * (reserved CIDs, struct_size rules, reserved fields, features), config space, features,
 * idempotent destroy, that every rejection is logged with its reason, and the deprecated names. */
#include "vsock_native.h"
#include "vsn_check.h"
#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char last_log[512];
static int log_count;

static void capture_log(void *user, int32_t level, const char *message) {
    (void)level;
    if (user != (void *)&log_count) abort();
    snprintf(last_log, sizeof last_log, "%s", message);
    log_count++;
}

static vsn_device_config base_config(uint64_t cid) {
    vsn_device_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.guest_cid = cid;
    c.log_fn = capture_log;
    c.log_user = &log_count;
    c.log_level = VSN_LOG_DEBUG;
    return c;
}

static int create(const vsn_device_config *c, vsn_device **d) {
    last_log[0] = 0;
    return vsn_device_create(c, d);
}

static void test_version(void) {
    uint32_t v = vsn_abi_version();
    CHECK_EQ(v >> 16, VSN_ABI_VERSION_MAJOR);
    CHECK_EQ(v, VSN_ABI_VERSION);
}

static void test_create_read_destroy(void) {
    vsn_device_config c = base_config(3);
    vsn_device *d = NULL;
    CHECK_EQ(create(&c, &d), 0);
    CHECK(d != NULL);
    CHECK(strstr(last_log, "device created") != NULL);

    uint64_t cid_le = 0;
    CHECK_EQ(vsn_device_read_config(d, 0, &cid_le, sizeof cid_le), 8);
    CHECK_EQ(le64toh(cid_le), 3);
    uint32_t low = 0xdeadbeef;
    CHECK_EQ(vsn_device_read_config(d, 0, &low, 4), 4);
    CHECK_EQ(le32toh(low), 3);
    uint32_t high = 0xdeadbeef;
    CHECK_EQ(vsn_device_read_config(d, 4, &high, 4), 4);
    CHECK_EQ(high, 0);
    /* outside the 8-byte config space */
    CHECK_EQ(vsn_device_read_config(d, 4, &cid_le, 8), -EINVAL);
    CHECK(strstr(last_log, "outside") != NULL);
    CHECK_EQ(vsn_device_read_config(d, 0xFFFFFFFFu, &low, 4), -EINVAL);
    CHECK_EQ(vsn_device_read_config(d, 0, NULL, 4), -EINVAL);

    uint64_t features = 0;
    CHECK_EQ(vsn_device_get_features(d, &features), 0);
    CHECK(features & (1ull << VSN_VIRTIO_F_VERSION_1));
    CHECK(features & (1ull << VSN_VIRTIO_VSOCK_F_STREAM));
    CHECK_EQ(vsn_device_get_features(d, NULL), -EINVAL);

    CHECK_EQ(vsn_device_destroy(d), 0);
    CHECK_EQ(vsn_device_destroy(d), -EBADF);          /* twice: harmless */
    CHECK_EQ(vsn_device_get_features(d, &features), -EBADF);
    CHECK_EQ(vsn_device_destroy(NULL), 0);
}

static void test_reserved_cids(void) {
    const uint64_t bad[] = {0, 1, 2, 0xFFFFFFFFull, 0x100000000ull, 0x100000003ull, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vsn_device_config c = base_config(bad[i]);
        vsn_device *d = (vsn_device *)0x1;
        int before = log_count;
        CHECK_EQ(create(&c, &d), -EINVAL);
        CHECK(d == (vsn_device *)0x1);               /* untouched on failure */
        CHECK(log_count == before + 1);
        CHECK(strstr(last_log, "guest_cid") != NULL);
    }
    vsn_device_config c = base_config(0xFFFFFFFEull);  /* the highest valid CID */
    vsn_device *d = NULL;
    CHECK_EQ(create(&c, &d), 0);
    CHECK_EQ(vsn_device_destroy(d), 0);
}

static void test_struct_size_rules(void) {
    vsn_device *d = NULL;
    vsn_device_config c = base_config(3);
    c.struct_size = 0;
    CHECK_EQ(create(&c, &d), -EINVAL);
    CHECK(strstr(last_log, "struct_size") != NULL);
    c.struct_size = VSN_DEVICE_CONFIG_MIN_SIZE - 1;
    CHECK_EQ(create(&c, &d), -EINVAL);

    /* An older caller that knows only the first 24 bytes: what follows is not read. */
    unsigned char *old = malloc(sizeof(vsn_device_config));
    memset(old, 0xAB, sizeof(vsn_device_config));
    vsn_device_config small = base_config(7);
    small.struct_size = VSN_DEVICE_CONFIG_MIN_SIZE;
    memcpy(old, &small, VSN_DEVICE_CONFIG_MIN_SIZE);
    CHECK_EQ(create((const vsn_device_config *)old, &d), 0);
    CHECK_EQ(vsn_device_destroy(d), 0);
    free(old);

    /* A newer caller with a larger struct: zero tail accepted, non-zero tail refused. */
    unsigned char *big = calloc(1, sizeof(vsn_device_config) + 16);
    vsn_device_config c2 = base_config(5);
    c2.struct_size = sizeof(vsn_device_config) + 16;
    memcpy(big, &c2, sizeof c2);
    CHECK_EQ(create((const vsn_device_config *)big, &d), 0);
    CHECK_EQ(vsn_device_destroy(d), 0);
    big[sizeof(vsn_device_config) + 9] = 1;
    CHECK_EQ(create((const vsn_device_config *)big, &d), -E2BIG);
    CHECK(strstr(last_log, "not zero") != NULL);
    free(big);

    c = base_config(3);
    c.struct_size = 1u << 20;
    CHECK_EQ(create(&c, &d), -E2BIG);
}

/* Finding of fuzz/native/c-abi: a struct_size that ends inside a field (25: one byte of log_fn)
 * made the library copy part of a pointer and call it (SIGSEGV in vsn_device_create). Every
 * sizeof of the struct is a multiple of 8: any other size is refused, and logged. */
static void test_struct_size_inside_a_field(void) {
    for (uint32_t size = VSN_DEVICE_CONFIG_MIN_SIZE; size <= sizeof(vsn_device_config) + 8; size++) {
        if (size % 8 == 0) continue;
        vsn_device_config c = base_config(3);
        c.struct_size = size;
        vsn_device *d = NULL;
        CHECK_EQ(create(&c, &d), -EINVAL);
        CHECK(d == NULL);
        CHECK(strstr(last_log, "multiple of 8") != NULL);
    }
}

static void test_fields(void) {
    vsn_device *d = NULL;
    vsn_device_config c = base_config(3);
    c.flags = 0x80000000u;                              /* not a VSN_DEVICE_F_* bit */
    CHECK_EQ(create(&c, &d), -EINVAL);
    CHECK(strstr(last_log, "unknown flags") != NULL);
    c = base_config(3);
    c.reserved0 = 4;
    CHECK_EQ(create(&c, &d), -EINVAL);
    c = base_config(3);
    c.features = (1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << 40);
    CHECK_EQ(create(&c, &d), -ENOTSUP);
    CHECK(strstr(last_log, "not supported") != NULL);
    c.features = 1ull << VSN_VIRTIO_VSOCK_F_STREAM;   /* a virtio 1.x device needs VERSION_1 */
    CHECK_EQ(create(&c, &d), -EINVAL);
    c.features = (1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << VSN_VIRTIO_VSOCK_F_STREAM);
    CHECK_EQ(create(&c, &d), 0);
    uint64_t f = 0;
    CHECK_EQ(vsn_device_get_features(d, &f), 0);
    CHECK_EQ(f, c.features);
    CHECK_EQ(vsn_device_destroy(d), 0);
}

static void test_null_arguments_and_global_log(void) {
    CHECK_EQ(vsn_set_log_callback(capture_log, &log_count, VSN_LOG_DEBUG), 0);
    vsn_device *d = NULL;
    vsn_device_config c = base_config(3);
    last_log[0] = 0;
    CHECK_EQ(vsn_device_create(NULL, &d), -EINVAL);
    CHECK(strstr(last_log, "config is NULL") != NULL);
    CHECK_EQ(vsn_device_create(&c, NULL), -EINVAL);
    CHECK(strstr(last_log, "out_device is NULL") != NULL);
    CHECK_EQ(vsn_device_get_features((vsn_device *)0x12345, NULL), -EBADF);
    CHECK(strstr(last_log, "unknown") != NULL);
    CHECK_EQ(vsn_set_log_callback(capture_log, NULL, 9), -EINVAL);
    CHECK_EQ(vsn_set_log_callback(NULL, NULL, VSN_LOG_ERROR), 0);
}

static void ignore_accept(void *user, uint32_t port, uint32_t guest_port, int32_t fd) {
    (void)user; (void)port; (void)guest_port; (void)fd;
}

/* The names deprecated in ABI 0.5 still link and forward to the new functions (one listener
 * table, the same checks), and log under the name the caller used; the old struct name is the
 * same type as the new one. */
static void test_deprecated_names(void) {
    vsn_device_config c = base_config(3);
    vsn_device *d = NULL;
    CHECK_EQ(create(&c, &d), 0);
    CHECK_EQ(vsn_listen(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, ignore_accept, NULL), 0);
    CHECK_EQ(vsn_device_listen(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, ignore_accept, NULL), -EEXIST);
    CHECK_EQ(vsn_unlisten(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM), 0);
    CHECK_EQ(vsn_device_unlisten(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM), -ENOENT);
    CHECK_EQ(vsn_listen(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, NULL, NULL), -EINVAL);
    CHECK(strstr(last_log, "vsn_listen: fn is NULL") != NULL);
    CHECK_EQ(vsn_connect(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, NULL), -EINVAL);
    CHECK(strstr(last_log, "vsn_connect: out_fd is NULL") != NULL);
    CHECK_EQ(vsn_device_connect(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, NULL), -EINVAL);
    CHECK(strstr(last_log, "vsn_device_connect: out_fd is NULL") != NULL);
    int32_t old_rc = vsn_connect_from(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, 5, 1000, -1);
    CHECK(old_rc < 0);
    CHECK_EQ(old_rc, vsn_device_connect_from(d, 1234, VSN_VIRTIO_VSOCK_TYPE_STREAM, 5, 1000, -1));
    CHECK_EQ(vsn_device_destroy(d), 0);
    CHECK_EQ(vsn_listen(d, 1, VSN_VIRTIO_VSOCK_TYPE_STREAM, ignore_accept, NULL), -EBADF);

    vsn_conn_counter_values old_counters;
    memset(&old_counters, 0, sizeof old_counters);
    vsn_connection_layer_counter_values *same_type = &old_counters;
    CHECK_EQ(sizeof old_counters, sizeof(vsn_connection_layer_counter_values));
    CHECK_EQ(same_type->connections_opened, 0);
}

static int count_fds(void) {
    int n = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    while (readdir(dir)) n++;
    closedir(dir);
    return n;
}

/* create/destroy must not leak: no fd (each device owns an epoll fd and an eventfd) survives */
static void test_many_devices(void) {
    /* One device first, so what the runtime opens once for good is not counted (when every case
     * runs, the earlier ones have done it). */
    vsn_device_config c0 = base_config(3);
    c0.log_fn = NULL;
    vsn_device *d0 = NULL;
    if (vsn_device_create(&c0, &d0) == 0)
        vsn_device_destroy(d0);
    int fds_before = count_fds();
    for (int i = 0; i < 2000; i++) {
        vsn_device_config c = base_config(3 + (uint64_t)i);
        c.log_fn = NULL;
        vsn_device *d = NULL;
        if (vsn_device_create(&c, &d) != 0 || vsn_device_destroy(d) != 0) { CHECK(0); return; }
    }
    CHECK_EQ(count_fds(), fds_before);
}

#define CASES(X) \
    X(version, test_version()) \
    X(create_read_destroy, test_create_read_destroy()) \
    X(reserved_cids, test_reserved_cids()) \
    X(struct_size_rules, test_struct_size_rules()) \
    X(struct_size_inside_a_field, test_struct_size_inside_a_field()) \
    X(fields, test_fields()) \
    X(null_arguments_and_global_log, test_null_arguments_and_global_log()) \
    X(deprecated_names, test_deprecated_names()) \
    X(many_devices, test_many_devices())
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv) {
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    /* rejections that cannot reach a config's log_fn (too small a struct) go to the global one */
    CHECK_EQ(vsn_set_log_callback(capture_log, &log_count, VSN_LOG_DEBUG), 0);
    CASES(VSN_CASE_RUN)
    return vsn_check_summary("abi_device");
}
