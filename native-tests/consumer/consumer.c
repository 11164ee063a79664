/* What a VMM author writes first: check the ABI version, create a device, read its CID. */
#include <vsock_native.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if ((vsn_abi_version() >> 16) != VSN_ABI_VERSION_MAJOR) {
        fprintf(stderr, "ABI major mismatch\n");
        return 1;
    }
    vsn_device_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.guest_cid = 42;
    vsn_device *dev = NULL;
    int rc = vsn_device_create(&cfg, &dev);
    uint64_t cid = 0;
    if (rc == 0) rc = vsn_device_read_config(dev, 0, &cid, sizeof cid);
    vsn_device_destroy(dev);
    if (rc != 8 || le64toh(cid) != 42) {
        fprintf(stderr, "consumer: rc %d cid %llu\n", rc, (unsigned long long)le64toh(cid));
        return 1;
    }
    printf("consumer: guest_cid %llu through the installed library\n", (unsigned long long)le64toh(cid));
    return 0;
}
