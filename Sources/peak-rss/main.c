// peak-rss FILE COMMAND [ARGUMENT...]
//
// Runs COMMAND, waits for it, writes its peak resident set in KiB (wait4's ru_maxrss)
// and a newline to FILE, and exits as COMMAND did (128 + the signal that killed it).
//
// Why a process of its own: the kernel carries the high-water mark of the address space
// a process leaves at exec into the figure wait4 reports for it. A command started by
// a large process (a benchmark holding the lists it generated) inherits that process's
// size: posix_spawn shares the parent's address space until the exec, and a fork copies
// its page tables. This program is small; its own figure is inflated when a large
// process starts it, but the command it forks inherits only this program's size.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: peak-rss FILE COMMAND [ARGUMENT...]\n"
                        "Runs COMMAND and writes its peak resident set (KiB) to FILE.\n");
        return 64;
    }
    FILE *out = fopen(argv[1], "w");
    if (out == NULL) {
        fprintf(stderr, "peak-rss: cannot write %s: %s\n", argv[1], strerror(errno));
        return 70;
    }
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "peak-rss: fork: %s\n", strerror(errno));
        return 70;
    }
    if (child == 0) {
        fclose(out);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "peak-rss: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    while (wait4(child, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "peak-rss: wait4: %s\n", strerror(errno));
            return 70;
        }
    }
    if (fprintf(out, "%ld\n", usage.ru_maxrss) < 0 || fclose(out) != 0) {
        fprintf(stderr, "peak-rss: cannot write %s: %s\n", argv[1], strerror(errno));
        return 70;
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
