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

/// fanotify_init(2) for notification events reporting the directory file handle and the
/// name, and the file handle of the object itself (FAN_REPORT_DFID_NAME_TARGET, Linux
/// 5.17; FAN_REPORT_DFID_NAME before), non-blocking, with no limit on queued events
/// (FAN_UNLIMITED_QUEUE, which the CAP_SYS_ADMIN fanotify needs anyway allows). Sets
/// `*reports_objects` to whether events name their object's handle. -1 with errno on
/// failure.
int qm_fanotify_init(int *reports_objects);

/// One fanotify event record, its info records parsed by the kernel's own structures.
typedef struct {
    uint64_t mask;
    /// The directory's handle (`struct file_handle`, from its `handle_bytes`), or NULL.
    const void *directory_handle;
    size_t directory_handle_length;
    /// The entry's name within that directory (not NUL-terminated), or NULL.
    const uint8_t *name;
    size_t name_length;
    /// The object's own handle (the child of a directory entry event, or the object of an
    /// event no directory reports, such as a link count change), or NULL.
    const void *object_handle;
} qm_fan_event;

/// Parses the record at `*offset` of a buffer read from a fanotify descriptor and moves
/// `*offset` past it. Returns 1 with `*out` filled, 0 at the end of the buffer.
int qm_fanotify_next(const void *buffer, size_t length, size_t *offset, qm_fan_event *out);

/// name_to_handle_at(2) of an open file (AT_EMPTY_PATH): its handle type, and the inode
/// number `qm_handle_inode` reads from it. 0, or -1 with errno.
int qm_name_to_handle_inode(int fd, int32_t *type, uint64_t *inode);

/// The inode number a file handle names, read from the handle where the file system's
/// handle layout is known (ext4, XFS, tmpfs, btrfs); 0 otherwise.
uint64_t qm_handle_inode(const void *file_handle);

/// Marks the whole file system holding `path` for create, delete, modify, attribute and
/// move events on files and directories.
int qm_fanotify_mark_filesystem(int fanotify_fd, const char *path);

/// open_by_handle_at(2) with O_PATH from the raw handle bytes of an event record (the
/// `struct file_handle` that follows the fsid).
int qm_open_by_handle(int mount_fd, const void *file_handle);

/// Bits of the fanotify event mask, for Swift.
enum {
    QM_FAN_Q_OVERFLOW = 0x00004000,
    QM_FAN_DELETE_SELF = 0x00000400,
    QM_FAN_MOVE_SELF = 0x00000800,
    QM_FAN_DELETE = 0x00000200,
    QM_FAN_MOVED_FROM = 0x00000040,
    QM_FAN_ONDIR = 0x40000000,
    QM_FAN_ATTRIB = 0x00000004,
};

/// copy_file_range(2) of `length` bytes from `in_offset` of `in_fd` to `out_offset` of
/// `out_fd`: the bytes copied (fewer at the end of the input), or -1 with errno.
int64_t qm_copy_file_range(int in_fd, int64_t in_offset, int out_fd, int64_t out_offset, int64_t length);

/// ioctl(FICLONERANGE): the destination range shares the source range's blocks (XFS,
/// btrfs); offsets and length block-aligned. 0, or -1 with errno (EOPNOTSUPP, EXDEV,
/// EINVAL where the file system cannot).
int qm_clone_range(int in_fd, int64_t in_offset, int out_fd, int64_t out_offset, int64_t length);

/// eventfd(2), non-blocking and close-on-exec, starting at 0. -1 with errno.
int qm_eventfd(void);

/// malloc_trim(3): gives freed heap memory back to the kernel.
void qm_release_free_memory(void);

/// The O_TMPFILE open flag (0 where the headers do not define it).
int qm_o_tmpfile(void);

/// memfd_create(2) with MFD_CLOEXEC: a file that lives in memory only and vanishes with
/// its last descriptor. -1 with errno on failure.
int qm_memfd(const char *name);

#endif
