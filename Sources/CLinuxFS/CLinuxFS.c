#define _GNU_SOURCE
#include "CLinuxFS.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/fanotify.h>
#include <malloc.h>
#include <sys/mman.h>

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

int qm_memfd(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
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

int qm_fanotify_init(void) {
    // An unlimited queue: the default 16,384 events overflowed when the daemon was slow to
    // read (two busy cores), and an overflow costs a rescan of the whole tree. The queue's
    // kernel memory is charged to the service's cgroup (MemoryMax bounds it).
    return fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_UNLIMITED_QUEUE,
                         O_RDONLY | O_LARGEFILE);
}

int qm_fanotify_mark_filesystem(int fanotify_fd, const char *path) {
    uint64_t mask = FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB | FAN_MOVED_FROM | FAN_MOVED_TO |
                    FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR;
    return fanotify_mark(fanotify_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, path);
}

int qm_open_by_handle(int mount_fd, const void *file_handle) {
    return open_by_handle_at(mount_fd, (struct file_handle *)file_handle, O_PATH | O_CLOEXEC);
}

void qm_release_free_memory(void) {
    malloc_trim(0);
}
