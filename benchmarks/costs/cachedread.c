/* Item 2, kernel part: per-call cost of pread(fd, buf, 4096, off) on a fully cached file,
 * sequential offsets 0..N-1 pages (N=100000), versus pread of 0 bytes (syscall + fdget, no
 * page-cache lookup or copy) and getppid (bare syscall). Usage: cachedread FILE [reps]
 * [offset]: the buffer sits offset bytes past a page boundary (default 0: aligned). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#define N 100000
static long long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY); if (fd < 0) { perror("open"); return 1; }
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    static char bufa[8192] __attribute__((aligned(4096)));
    char *buf = bufa + (argc > 3 ? atoi(argv[3]) : 0); memset(bufa, 0, sizeof bufa);
    struct iovec iov = { buf, 4096 }, iov0 = { buf, 0 };
    for (int r = 0; r < reps; r++) {
        long long t = now();
        for (long i = 0; i < N; i++) if (pread(fd, buf, 4096, i * 4096) != 4096) { perror("pread"); return 1; }
        long long a = now() - t; t = now();
        for (long i = 0; i < N; i++) if (preadv(fd, &iov, 1, i * 4096) != 4096) { perror("preadv"); return 1; }
        long long b = now() - t; t = now();
        for (long i = 0; i < N; i++) if (preadv(fd, &iov0, 1, i * 4096) != 0) { perror("preadv0"); return 1; }
        long long c = now() - t; t = now();
        for (long i = 0; i < N; i++) syscall(SYS_getppid);
        long long d = now() - t;
        printf("{\"rep\":%d,\"pread4k_ns\":%.1f,\"preadv4k_ns\":%.1f,\"preadv0_ns\":%.1f,\"getppid_ns\":%.1f}\n",
               r, a / (double)N, b / (double)N, c / (double)N, d / (double)N);
    }
    return 0;
}
