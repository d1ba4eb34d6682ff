#define _GNU_SOURCE
#include "CLinuxFS.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

long qm_getdents64(int fd, void *buffer, size_t count) {
    return syscall(SYS_getdents64, fd, buffer, count);
}

int qm_statx(int dirfd, const char *name, int follow, qm_stat *out) {
    struct statx st;
    int flags = AT_STATX_SYNC_AS_STAT | (follow ? 0 : AT_SYMLINK_NOFOLLOW);
    unsigned mask = STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_MTIME | STATX_CTIME | STATX_INO | STATX_NLINK;
    if (statx(dirfd, name, flags, mask, &st) != 0) return -1;
    out->mode = st.stx_mode;
    out->nlink = st.stx_nlink;
    out->inode = st.stx_ino;
    out->size = st.stx_size;
    out->mtime = st.stx_mtime.tv_sec;
    out->ctime = st.stx_ctime.tv_sec;
    out->dev_major = st.stx_dev_major;
    out->dev_minor = st.stx_dev_minor;
    return 0;
}

int qm_start_writeback(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int qm_o_tmpfile(void) {
#ifdef O_TMPFILE
    return O_TMPFILE;
#else
    return 0;
#endif
}

int qm_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int qm_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : -1;
}

int qm_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}
