#ifndef QUICKMIRROR_CLINUXFS_H
#define QUICKMIRROR_CLINUXFS_H

// Glibc's Swift module map is built without _GNU_SOURCE, so statx, getdents64 and
// O_TMPFILE are not visible from Swift. Including the system headers here with
// _GNU_SOURCE would clash with the Glibc module's view of the same types, so this header
// declares only plain fixed-width types; the .c file does the real includes.
#include <stddef.h>
#include <stdint.h>

/// The fields of `struct statx` a file list needs.
typedef struct {
    uint32_t mode;
    uint32_t nlink;
    uint64_t inode;
    uint64_t size;
    int64_t mtime;
    int64_t ctime;
    uint32_t dev_major;
    uint32_t dev_minor;
} qm_stat;

/// getdents64(2): fills `buffer` with `struct linux_dirent64` records.
long qm_getdents64(int fd, void *buffer, size_t count);

/// statx(2) relative to `dirfd`, following a final symlink only when `follow` is
/// non-zero. Returns 0 or -1 with errno set.
int qm_statx(int dirfd, const char *name, int follow, qm_stat *out);

/// sync_file_range(2) with SYNC_FILE_RANGE_WRITE: starts writeback of a range without
/// waiting for it.
int qm_start_writeback(int fd, int64_t offset, int64_t length);

/// signalfd(2) for the given signals, non-blocking and close-on-exec.
int qm_signalfd(const int *signals, int count);

/// Reads one signal from a signalfd: its number, or -1 (errno EAGAIN when none is queued).
int qm_read_signal(int fd);

/// accept4(2) with SOCK_CLOEXEC.
int qm_accept(int fd);

/// The O_TMPFILE open flag (0 where the headers do not define it).
int qm_o_tmpfile(void);

#endif
