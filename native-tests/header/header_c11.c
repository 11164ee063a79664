/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: the header must be clean C11.
 * At run time it checks a few wire sizes against what the header asserts. */
#include "vsock_native.h"
#include <stdio.h>

int main(void) {
    int ok = sizeof(struct vsn_virtio_vsock_hdr) == 44 && sizeof(vsn_virtio_vsock_config) == 8 &&
             sizeof(vsn_virtio_vsock_event) == 4 && VSN_VIRTIO_VSOCK_OP_CREDIT_REQUEST == 7 &&
             offsetof(vsn_device_config, struct_size) == 0;
    printf("header_c11: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
