// Compiled with -std=c++17 -Wall -Wextra -Werror -pedantic: the header must be clean C++17
// (extern "C", static_assert) and the functions callable from C++.
#include "vsock_native.h"
#include <cstdio>

int main() {
    static_assert(sizeof(vsn_virtio_vsock_hdr) == 44, "hdr");
    bool ok = (vsn_abi_version() >> 16) == VSN_ABI_VERSION_MAJOR;
    std::printf("header_cxx17: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
