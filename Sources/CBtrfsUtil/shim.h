// The C surface RealFS uses: libbtrfsutil and the Linux calls whose GNU
// names do not import into Swift (renameat2, RENAME_NOREPLACE, the
// per-thread credential syscalls).
#ifndef BUILDOS_CLEAN_SHIM_H
#define BUILDOS_CLEAN_SHIM_H

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/stat.h>

/// renameat2(2)'s RENAME_NOREPLACE flag.
#define BUILDOS_RENAME_NOREPLACE 1U

/// The btrfs superblock magic, as statfs reports it.
#define BUILDOS_BTRFS_SUPER_MAGIC 0x9123683EL

/// The read-only flag of a subvolume's root item.
#define BUILDOS_BTRFS_ROOT_SUBVOL_RDONLY 1ULL

/// renameat2(2) through the raw system call (glibc declares it only with
/// _GNU_SOURCE, which a Swift module map does not set).
static inline int buildos_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                                    unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

/// flock(2): its name is also a struct's, which Swift cannot call.
static inline int buildos_flock(int fd, int operation) { return flock(fd, operation); }

/// Makes the calling thread act as `uid`/`gid` (its effective ids; the
/// saved user id stays 0 so that it can come back). glibc's setresuid
/// changes every thread of the process; the raw system call changes one,
/// which lets tests act as an unprivileged user on one thread.
static inline int buildos_drop_thread_ids(long uid, long gid) {
    if (syscall(SYS_setresgid, -1L, gid, -1L) != 0) return -1;
    return (int)syscall(SYS_setresuid, -1L, uid, -1L);
}

/// Makes the calling thread root again: the user first, which gives back
/// the capability to change the group.
static inline int buildos_restore_thread_ids(void) {
    if (syscall(SYS_setresuid, -1L, 0L, -1L) != 0) return -1;
    return (int)syscall(SYS_setresgid, -1L, 0L, -1L);
}

/// The id of the mount through which `path` relative to `fd` (`fd` itself
/// when `path` is empty) is reached, as the first field of
/// /proc/self/mountinfo names it (statx's STATX_MNT_ID, Linux 5.8). -1 with
/// errno set on failure, ENOSYS when the kernel does not report it.
static inline int buildos_mount_id(int fd, const char *path, unsigned long long *mount_id) {
    struct statx status;
    int flags = 0x100 /* AT_SYMLINK_NOFOLLOW */ | (path[0] == 0 ? 0x1000 /* AT_EMPTY_PATH */ : 0);
    if (syscall(SYS_statx, fd, path, flags, STATX_MNT_ID, &status) != 0) return -1;
    if (!(status.stx_mask & STATX_MNT_ID)) {
        errno = ENOSYS;
        return -1;
    }
    *mount_id = status.stx_mnt_id;
    return 0;
}

#endif
