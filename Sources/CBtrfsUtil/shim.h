// The C surface RealFS uses: libbtrfsutil and the Linux calls whose GNU
// names do not import into Swift (renameat2, RENAME_NOREPLACE, the
// per-thread credential syscalls).
#ifndef BUILDOS_CLEAN_SHIM_H
#define BUILDOS_CLEAN_SHIM_H

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/stat.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/btrfs.h>
#include <linux/openat2.h>

extern char **environ;

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

/// A pipe whose ends close on exec (pipe2 with O_CLOEXEC).
static inline int buildos_pipe_cloexec(int fds[2]) { return (int)syscall(SYS_pipe2, fds, O_CLOEXEC); }

/// An anonymous file in memory that closes on exec (memfd_create).
static inline int buildos_memfd(const char *name) { return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */); }

/// Starts `btrfs receive -C -e TARGET` (`btrfs` the tool's absolute path)
/// with its standard input from `input`, its standard output on
/// /dev/null and its standard error into `errors`; the child's pid in
/// `pid`. 0, or an errno.
static inline int buildos_spawn_receive(const char *btrfs, const char *target, int input, int errors, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    if ((result = posix_spawnattr_init(&attributes)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    // The tool starts with no signal blocked and SIGPIPE at its default,
    // whatever this process (or its caller: systemd ignores SIGPIPE) set.
    sigset_t none, pipe;
    sigemptyset(&none);
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if ((result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0 &&
        (result = posix_spawnattr_setsigmask(&attributes, &none)) == 0 &&
        (result = posix_spawnattr_setsigdefault(&attributes, &pipe)) == 0 &&
        (result = posix_spawn_file_actions_adddup2(&actions, input, 0)) == 0 &&
        (result = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)) == 0 &&
        (result = posix_spawn_file_actions_adddup2(&actions, errors, 2)) == 0) {
        // -C: the tool works by paths below its target (it resolves the
        // target once, then every step of the stream by path); chrooted
        // there, a link that a writer of the machine directory puts in
        // place of the subvolume under way resolves inside it.
        char *const argv[] = {(char *)"btrfs", (char *)"receive", (char *)"-C", (char *)"-e", (char *)target, NULL};
        result = posix_spawn(pid, btrfs, &actions, &attributes, argv, environ);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

/// Creates a regular file under `name` in `directory` that appears with
/// `owner` and `group` already: an unnamed file (O_TMPFILE) given its
/// owner, then linked in. -1 with errno on failure (EEXIST when the name
/// is taken); else the descriptor, open for reading and writing.
static inline int buildos_create_owned(int directory, const char *name, uid_t owner, gid_t group) {
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
    int fd = openat(directory, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (fchown(fd, owner, group) != 0 || linkat(AT_FDCWD, path, directory, name, AT_SYMLINK_FOLLOW) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/// Flushes standard output: 0; the errno of the flush that failed; or -1
/// when an earlier write failed (the stream kept only its error flag).
static inline int buildos_finish_stdout(void) {
    if (fflush(stdout) != 0) return errno != 0 ? errno : -1;
    return ferror(stdout) ? -1 : 0;
}

/// waitpid(2) for one child, retried on EINTR: its exit status, 256 plus
/// the signal for a child a signal ended, or -1 when waiting failed.
static inline int buildos_wait_exit(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFSIGNALED(status)) return 256 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Blocks SIGPIPE on this thread only (a write raises it on the writing
/// thread), so that writing to a child that died gives EPIPE; the process
/// keeps SIGPIPE as its caller set it, for its own standard output.
static inline void buildos_block_sigpipe(sigset_t *previous) {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, previous);
}

/// Takes back what `buildos_block_sigpipe` changed, after consuming the
/// SIGPIPE a write to the dead child raised on this thread (else it would
/// end the process once unblocked).
static inline void buildos_unblock_sigpipe(const sigset_t *previous) {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    struct timespec now = {0, 0};
    while (sigtimedwait(&pipe, NULL, &now) == SIGPIPE) {}
    pthread_sigmask(SIG_SETMASK, previous, NULL);
}

/// One subvolume `buildos_nested_user` found: its path from the outer
/// subvolume's root (malloc'd) and its id.
struct buildos_nested {
    char *path;
    unsigned long long id;
};

/// What `buildos_nested_user` collects, post-order.
struct buildos_nested_list {
    struct buildos_nested *items;
    size_t count;
    size_t capacity;
};

static inline void buildos_nested_free(struct buildos_nested_list *list) {
    for (size_t i = 0; i < list->count; i++) free(list->items[i].path);
    free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

/// Whether `child` is subvolume `id` on the filesystem whose fsid is
/// `fsid`: what a path opened below a subvolume reached may have moved.
/// 1 or 0; -1 with errno set when it cannot be told (EMFILE, ENOMEM, EIO).
static inline int buildos_is_expected_subvolume(int child, const unsigned char *fsid, unsigned long long id) {
    struct btrfs_ioctl_fs_info_args info;
    uint64_t found = 0;
    memset(&info, 0, sizeof info);
    enum btrfs_util_error error = btrfs_util_is_subvolume_fd(child);
    if (error == BTRFS_UTIL_ERROR_NOT_BTRFS || error == BTRFS_UTIL_ERROR_NOT_SUBVOLUME) return 0;
    if (error != BTRFS_UTIL_OK) return -1;
    if (ioctl(child, BTRFS_IOC_FS_INFO, &info) != 0) return -1;
    if (memcmp(fsid, info.fsid, sizeof info.fsid) != 0) return 0;
    if (btrfs_util_subvolume_id_fd(child, &found) != BTRFS_UTIL_OK) return -1;
    return found == id;
}

/// Opens the directory `path` below `fd` for reading through no link and
/// across no mount, staying beneath `fd` (openat2, Linux 5.6: ELOOP for a
/// link, EXDEV for a mount on the way); where the kernel has no openat2,
/// openat with `O_NOFOLLOW`, which guards the last component only.
static inline int buildos_open_beneath(int fd, const char *path) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_BENEATH;
    int opened = (int)syscall(SYS_openat2, fd, path, &how, sizeof how);
    if (opened < 0 && errno == ENOSYS) return openat(fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return opened;
}

static inline int buildos_nested_walk(int fd, const char *prefix, struct buildos_nested_list *list);

/// One subvolume's level of `buildos_nested_walk`, with that level's
/// buffers. 0, or -1 with errno set.
static inline int buildos_nested_level(int fd, const char *prefix, struct buildos_nested_list *list,
                                       struct btrfs_ioctl_get_subvol_rootref_args *refs,
                                       struct btrfs_ioctl_ino_lookup_user_args *lookup) {
    struct btrfs_ioctl_fs_info_args filesystem;
    memset(&filesystem, 0, sizeof filesystem);
    if (ioctl(fd, BTRFS_IOC_FS_INFO, &filesystem) != 0) return -1;
    for (;;) {
        int more = 0;
        if (ioctl(fd, BTRFS_IOC_GET_SUBVOL_ROOTREF, refs) != 0) {
            if (errno != EOVERFLOW) return -1;
            // More than a buffer's worth; the kernel moved min_treeid on.
            more = 1;
        }
        for (unsigned i = 0; i < refs->num_items; i++) {
            memset(lookup, 0, sizeof *lookup);
            lookup->dirid = refs->rootref[i].dirid;
            lookup->treeid = refs->rootref[i].treeid;
            // Read and search on the directories above the one holding
            // it; a subvolume the user may not reach is left out, as is
            // one deleted (ENOENT) or moved to another directory (EINVAL:
            // the reference no longer names that directory) since the
            // listing of references. A path too long for the kernel's
            // buffer (ENAMETOOLONG) fails the listing, as root's does.
            if (ioctl(fd, BTRFS_IOC_INO_LOOKUP_USER, lookup) != 0) {
                if (errno == EACCES || errno == ENOENT || errno == EINVAL) continue;
                return -1;
            }
            // The kernel's path ends with a slash when it is not empty.
            size_t relative_length = strlen(lookup->path) + strlen(lookup->name);
            char *relative = malloc(relative_length + 1);
            if (relative == NULL) return -1;
            strcpy(relative, lookup->path);
            strcat(relative, lookup->name);
            // What the user may not open, or a link or a mount on the way
            // hides, is left out.
            int child = buildos_open_beneath(fd, relative);
            if (child < 0) {
                int saved = errno;
                free(relative);
                if (saved == EACCES || saved == ENOENT || saved == ENOTDIR || saved == ELOOP || saved == EXDEV) continue;
                errno = saved;
                return -1;
            }
            int expected = buildos_is_expected_subvolume(child, filesystem.fsid, lookup->treeid);
            if (expected != 1) {
                int saved = errno;
                close(child);
                free(relative);
                if (expected == 0) continue;
                errno = saved;
                return -1;
            }
            char *path = relative;
            if (prefix != NULL) {
                path = malloc(strlen(prefix) + 1 + relative_length + 1);
                if (path == NULL) {
                    close(child);
                    free(relative);
                    return -1;
                }
                strcpy(path, prefix);
                strcat(path, "/");
                strcat(path, relative);
                free(relative);
            }
            int walked = buildos_nested_walk(child, path, list);
            int saved = errno;
            close(child);
            if (walked != 0) {
                free(path);
                errno = saved;
                return -1;
            }
            if (list->count == list->capacity) {
                size_t capacity = list->capacity ? list->capacity * 2 : 8;
                struct buildos_nested *items = realloc(list->items, capacity * sizeof *items);
                if (items == NULL) {
                    free(path);
                    errno = ENOMEM;
                    return -1;
                }
                list->items = items;
                list->capacity = capacity;
            }
            list->items[list->count].path = path;
            list->items[list->count].id = lookup->treeid;
            list->count++;
        }
        if (!more) return 0;
    }
}

/// The walk of `buildos_nested_user` below the subvolume open as `fd`,
/// whose path from the outer one is `prefix` (NULL for the outer one).
/// Each level's buffers (about 8 KiB) are on the heap: subvolumes may
/// nest as deep as a path allows. 0, or -1 with errno set.
static inline int buildos_nested_walk(int fd, const char *prefix, struct buildos_nested_list *list) {
    struct btrfs_ioctl_get_subvol_rootref_args *refs = calloc(1, sizeof *refs);
    struct btrfs_ioctl_ino_lookup_user_args *lookup = malloc(sizeof *lookup);
    int result = -1;
    if (refs != NULL && lookup != NULL) {
        result = buildos_nested_level(fd, prefix, list, refs, lookup);
    } else {
        errno = ENOMEM;
    }
    int saved = errno;
    free(refs);
    free(lookup);
    errno = saved;
    return result;
}

/// The subvolumes below the one open as `fd`, post-order (a subvolume
/// after those it holds, siblings by id), for a caller that is not root:
/// libbtrfsutil 6.2's unprivileged iterator closes the descriptor it is
/// given and reopens its way back up with `..`, which in a process with
/// other threads can close or take over another thread's descriptor.
/// This walk keeps `fd` and opens each subvolume below it once, holding
/// one descriptor a level. What the caller may not reach (the kernel's
/// lookup wants read and search above the directory holding a subvolume;
/// the open, search down to it and read on it), and what a link or a mount
/// on the way hides, is left out. 0, or -1 with errno set (the list then
/// empty).
static inline int buildos_nested_user(int fd, struct buildos_nested_list *list) {
    list->items = NULL;
    list->count = list->capacity = 0;
    if (buildos_nested_walk(fd, NULL, list) != 0) {
        int saved = errno;
        buildos_nested_free(list);
        errno = saved;
        return -1;
    }
    return 0;
}

#endif
