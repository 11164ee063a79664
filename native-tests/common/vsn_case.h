/*
 * vsn_case.h — one case of a harness by name, for every C harness that runs a list of cases:
 *   harness --list         prints the case names, one a line, and runs nothing
 *   harness --case NAME    runs that case alone (with the harness's own setup around it)
 *   harness                runs every case in order, as before
 * The harness names its cases once, in a table, and guards each with `if (vsn_case("name"))`.
 * ctest registers one test per listed name (native-tests/cmake/VsnHarness.cmake, CASES), so a
 * failure names its case and `ctest -R 'harness/name'` reruns just it.
 * A name not in the table aborts (the table and the guards cannot drift apart); a listed name
 * that no guard reached makes vsn_cases_end() fail.
 */
#ifndef VSN_CASE_H
#define VSN_CASE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VSN_CASES_MAX 128

static const char *const *vsn_case_names_;
static size_t vsn_case_count_;
static const char *vsn_case_only_;
static bool vsn_case_seen_[VSN_CASES_MAX];

/* Takes --list and --case NAME out of argv (other arguments stay, in order). --list prints the
 * names and exits 0; --case with a name not in the table exits 2. */
static inline void vsn_cases_init(int *argc, char **argv, const char *const *names, size_t n)
{
    if (n > VSN_CASES_MAX) {
        fprintf(stderr, "vsn_case: %zu cases, at most %d\n", n, VSN_CASES_MAX);
        exit(2);
    }
    vsn_case_names_ = names;
    vsn_case_count_ = n;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < n; k++)
                printf("%s\n", names[k]);
            exit(0);
        } else if (strcmp(argv[i], "--case") == 0 && i + 1 < *argc) {
            vsn_case_only_ = argv[++i];
            bool known = false;
            for (size_t k = 0; k < n; k++)
                known = known || strcmp(names[k], vsn_case_only_) == 0;
            if (!known) {
                fprintf(stderr, "%s: no case named '%s' (--list names them)\n", argv[0], vsn_case_only_);
                exit(2);
            }
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
}

#define VSN_CASES_INIT(argc, argv, table) \
    vsn_cases_init(&(argc), (argv), (table), sizeof(table) / sizeof((table)[0]))

/* A harness lists its cases once, as an X-macro of (name, call) pairs, and gets both the table
 * and the guarded calls from it:
 *   #define CASES(X) X(half_close, test_half_close(s)) X(refused, test_refused(s))
 *   static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };
 *   ... CASES(VSN_CASE_RUN)    (in main, where the call's variables are in scope) */
#define VSN_CASE_NAME(name, call) #name,
#define VSN_CASE_RUN(name, call) \
    if (vsn_case(#name)) {       \
        call;                    \
    }

/* True when the case `name` is to run now. */
static inline bool vsn_case(const char *name)
{
    for (size_t k = 0; k < vsn_case_count_; k++) {
        if (strcmp(vsn_case_names_[k], name) == 0) {
            if (vsn_case_only_ != NULL && strcmp(vsn_case_only_, name) != 0)
                return false;
            vsn_case_seen_[k] = true;
            printf("-- case %s\n", name);
            fflush(stdout);
            return true;
        }
    }
    fprintf(stderr, "vsn_case: case '%s' is not in the harness's table\n", name);
    abort();
}

/* True when only one case runs (the harness may skip checks that sum over every case). */
static inline bool vsn_case_single(void)
{
    return vsn_case_only_ != NULL;
}

/* 0, or 1 after naming every case that was to run and was never reached. */
static inline int vsn_cases_end(void)
{
    int missed = 0;
    for (size_t k = 0; k < vsn_case_count_; k++) {
        if (vsn_case_seen_[k] || (vsn_case_only_ != NULL && strcmp(vsn_case_only_, vsn_case_names_[k]) != 0))
            continue;
        fprintf(stderr, "vsn_case: case '%s' never ran\n", vsn_case_names_[k]);
        missed = 1;
    }
    return missed;
}

#endif /* VSN_CASE_H */
