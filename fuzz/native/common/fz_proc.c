/* fz_proc.c: what a harness counts in /proc/self to prove an input left nothing behind. */
#include "fz_input.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((section("__libfuzzer_extra_counters"))) uint8_t fz_extra[FZ_EXTRA];

/* Kept open (and not counted): a count after every input is a rewind and a read, not an open. */
static DIR *fd_dir;

int fz_count_fds(const uint64_t *pipes, unsigned npipes)
{
    if (fd_dir == NULL) fd_dir = opendir("/proc/self/fd");
    DIR *d = fd_dir;
    if (d == NULL) return -1;
    rewinddir(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d)) continue;
        struct stat st;
        if (fstat(fd, &st) < 0) continue; /* closed while we looked */
        if (S_ISFIFO(st.st_mode)) {
            bool ours = false;
            for (unsigned i = 0; i < npipes; i++) ours |= pipes[i] == (uint64_t)st.st_ino;
            if (!ours) continue; /* the .NET runtime makes pipes of its own, lazily */
        }
        n++;
    }
    return n;
}

int fz_count_fds_settled(const uint64_t *pipes, unsigned npipes, int expected)
{
    int n = fz_count_fds(pipes, npipes);
    for (int tries = 0; n != expected && tries < 50; tries++) {
        usleep(1000);
        n = fz_count_fds(pipes, npipes);
    }
    return n;
}

void fz_dump_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

int fz_count_maps(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL) return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, needle) != NULL) n++;
    fclose(f);
    return n;
}

/* LeakSanitizer: the NativeAOT runtime inside libvsocknative.so keeps process-lifetime
 * allocations (as native-tests/cmake/lsan.supp says for the *_asan harnesses); built in, so the
 * fuzzer needs no environment to run. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libvsocknative\n";
}
