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
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <string.h>

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

int qm_fanotify_init(int *reports_objects) {
    // An unlimited queue: the default 16,384 events overflowed when the daemon was slow to
    // read (two busy cores), and an overflow costs a rescan of the whole tree. The queue's
    // kernel memory is charged to the service's cgroup (MemoryMax bounds it).
    unsigned base = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE;
#ifdef FAN_REPORT_TARGET_FID
    // The object's own handle names its inode even after the name is gone: a hard link
    // made and removed before the daemon reads its directory still changed the other
    // names' ctime, and only the inode leads to them.
    int fd = fanotify_init(base | FAN_REPORT_DFID_NAME_TARGET, O_RDONLY | O_LARGEFILE);
    if (fd >= 0 || errno != EINVAL) {
        *reports_objects = fd >= 0;
        return fd;
    }
#endif
    *reports_objects = 0;
    return fanotify_init(base | FAN_REPORT_DFID_NAME, O_RDONLY | O_LARGEFILE);
}

int qm_fanotify_next(const void *buffer, size_t length, size_t *offset, qm_fan_event *out) {
    const char *start = (const char *)buffer + *offset;
    size_t left = length - *offset;
    if (*offset >= length || left < FAN_EVENT_METADATA_LEN) return 0;
    const struct fanotify_event_metadata *event = (const struct fanotify_event_metadata *)start;
    if (event->event_len < FAN_EVENT_METADATA_LEN || event->event_len > left) return 0;
    *offset += event->event_len;
    if (event->fd >= 0) close(event->fd);
    out->mask = event->mask;
    out->directory_handle = NULL;
    out->directory_handle_length = 0;
    out->name = NULL;
    out->name_length = 0;
    out->object_handle = NULL;
    size_t info = event->metadata_len;
    while (info + sizeof(struct fanotify_event_info_header) <= event->event_len) {
        const struct fanotify_event_info_header *header =
            (const struct fanotify_event_info_header *)(start + info);
        if (header->len < sizeof *header || info + header->len > event->event_len) break;
        if (header->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || header->info_type == FAN_EVENT_INFO_TYPE_DFID ||
            header->info_type == FAN_EVENT_INFO_TYPE_FID) {
            const struct fanotify_event_info_fid *fid = (const struct fanotify_event_info_fid *)header;
            const struct file_handle *handle = (const struct file_handle *)fid->handle;
            if (header->info_type == FAN_EVENT_INFO_TYPE_FID) {
                out->object_handle = handle;
            } else {
                out->directory_handle = handle;
                out->directory_handle_length = sizeof *handle + handle->handle_bytes;
                if (header->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
                    const char *name = (const char *)handle->f_handle + handle->handle_bytes;
                    size_t limit = (const char *)header + header->len - name;
                    out->name = (const uint8_t *)name;
                    out->name_length = strnlen(name, limit);
                }
            }
        }
        info += header->len;
    }
    return 1;
}

int qm_name_to_handle_inode(int fd, int32_t *type, uint64_t *inode) {
    union {
        struct file_handle handle;
        char space[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    } buffer;
    buffer.handle.handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    if (name_to_handle_at(fd, "", &buffer.handle, &mount_id, AT_EMPTY_PATH) != 0) return -1;
    *type = buffer.handle.handle_type;
    *inode = qm_handle_inode(&buffer.handle);
    return 0;
}

uint64_t qm_handle_inode(const void *file_handle) {
    const struct file_handle *handle = file_handle;
    const unsigned char *bytes = handle->f_handle;
    uint32_t ino32;
    uint64_t ino64;
    switch (handle->handle_type) {
    case 1: // FILEID_INO32_GEN: ext4, XFS and tmpfs with 32-bit inode numbers
    case 2: // FILEID_INO32_GEN_PARENT
        if (handle->handle_bytes < 4) return 0;
        memcpy(&ino32, bytes, 4);
        return ino32;
    case 0x81: // XFS and tmpfs with 64-bit inode numbers
    case 0x82:
    case 0x4d: // btrfs: the objectid first
    case 0x4e:
    case 0x4f:
        if (handle->handle_bytes < 8) return 0;
        memcpy(&ino64, bytes, 8);
        return ino64;
    default:
        return 0;
    }
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

int qm_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int64_t qm_copy_file_range(int in_fd, int64_t in_offset, int out_fd, int64_t out_offset, int64_t length) {
    loff_t in = in_offset, out = out_offset;
    return copy_file_range(in_fd, &in, out_fd, &out, (size_t)length, 0);
}

int qm_clone_range(int in_fd, int64_t in_offset, int out_fd, int64_t out_offset, int64_t length) {
    struct file_clone_range range = {
        .src_fd = in_fd, .src_offset = (uint64_t)in_offset, .src_length = (uint64_t)length,
        .dest_offset = (uint64_t)out_offset,
    };
    return ioctl(out_fd, FICLONERANGE, &range);
}
