/* Minimal check macros for the C harnesses: count, report the failing line, and end with the
 * plain summary line "name: N passed, N failed". */
#ifndef VSN_CHECK_H
#define VSN_CHECK_H
#include <stdio.h>
#include "vsn_case.h"

static int vsn_passed, vsn_failed;

#define CHECK(cond) do { \
    if (cond) { vsn_passed++; } \
    else { vsn_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ(a, b) do { \
    long long vsn_a_ = (long long)(a), vsn_b_ = (long long)(b); \
    if (vsn_a_ == vsn_b_) { vsn_passed++; } \
    else { vsn_failed++; fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n", \
                                 __FILE__, __LINE__, #a, vsn_a_, #b, vsn_b_); } \
} while (0)

static inline int vsn_check_summary(const char *name) {
    int missed = vsn_cases_end(); /* a case that was to run and never did fails too */
    printf("%s: %d passed, %d failed\n", name, vsn_passed, vsn_failed);
    return vsn_failed == 0 && missed == 0 ? 0 : 1;
}
#endif
