/// The filesystem and btrfs calls that the cleanup, the build agents and the
/// administrator make, as one process sees them.
///
/// Every call names its subject as an open directory plus one `EntryName`,
/// never as a path, and none of them follows a symbolic link in that name:
/// a destructive call handed a link fails rather than act on the link's
/// target. `openRoot` is the only call that takes a path; it is the entry
/// point and follows the links an administrator configured on the way.
///
/// Every call is `async` so that a simulation can suspend a process at each
/// call and interleave several processes deterministically; a backend that
/// does not simulate never suspends. One value of a conforming type stands
/// for one process: its handles are its descriptors, its locks are its
/// open-file locks, and its credentials decide what it may do.
///
/// Listings are sorted in byte order of the names. A call the backend cannot
/// carry out throws; none is a silent no-op.
public protocol FileSystem: Sendable {
    /// The process id that names this process (agents put it in the names
    /// of their working snapshots).
    var processID: Int32 { get }

    /// Whether the process acts as root (effective user id 0): a refusal
    /// it gets is then not for want of privileges.
    var isPrivileged: Bool { get }

    // MARK: Directories

    /// Opens the directory at an absolute path, the entry point of a walk.
    func openRoot(_ path: String) async throws(FSError) -> DirectoryHandle

    /// Opens `name` in `parent` as a directory without following a link
    /// (`openat` with `O_NOFOLLOW | O_DIRECTORY`): a link or a file gives
    /// `notDirectory`.
    func openDirectory(_ name: EntryName, in parent: DirectoryHandle) async throws(FSError) -> DirectoryHandle

    /// Closes a directory handle.
    func close(_ directory: DirectoryHandle) async

    /// Every entry of `directory` but `.` and `..`, sorted by name, each
    /// with its status as `lstat` reports it.
    func list(_ directory: DirectoryHandle) async throws(FSError) -> [DirectoryEntry]

    /// The status of `name` in `directory`, not following a link
    /// (`fstatat` with `AT_SYMLINK_NOFOLLOW`).
    func status(of name: EntryName, in directory: DirectoryHandle) async throws(FSError) -> EntryStatus

    /// The status of an open directory (`fstat`).
    func status(of directory: DirectoryHandle) async throws(FSError) -> EntryStatus

    /// The target of the symbolic link `name` (`readlinkat`).
    func readLink(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) -> String

    /// Creates the symbolic link `name` pointing at `target` (`symlinkat`);
    /// an empty target gives `noEntry`, one holding a NUL byte
    /// `invalidArgument`.
    func createSymlink(_ name: EntryName, in directory: DirectoryHandle, target: String) async throws(FSError)

    /// Removes a file or a symbolic link (`unlinkat`); a directory gives
    /// `isDirectory`.
    func unlink(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError)

    /// Creates a plain directory (`mkdirat`, mode 0755).
    func makeDirectory(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError)

    /// Removes an empty directory (`unlinkat` with `AT_REMOVEDIR`); btrfs
    /// also removes an empty subvolume this way.
    func removeDirectory(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError)

    /// Renames `name` in `directory` to `newName` in `newDirectory`
    /// (`renameat2`). Neither name is followed.
    func rename(
        _ name: EntryName, in directory: DirectoryHandle, to newName: EntryName, in newDirectory: DirectoryHandle,
        mode: RenameMode
    ) async throws(FSError)

    /// Changes the owner and group of `name`, not following a link
    /// (`fchownat` with `AT_SYMLINK_NOFOLLOW`); `UInt32.max` (-1) leaves
    /// that id as it is.
    func changeOwner(of name: EntryName, in directory: DirectoryHandle, owner: UInt32, group: UInt32)
        async throws(FSError)

    // MARK: Subvolumes

    /// What btrfs reports about the subvolume open as `subvolume`, which
    /// must be its root (another directory gives `invalidArgument`).
    func subvolumeInfo(of subvolume: DirectoryHandle) async throws(FSError) -> SubvolumeInfo

    /// The id of the subvolume that contains `directory`, any directory of
    /// it: what `subvolumeInfo` reports as `id`, for less.
    func subvolumeID(of directory: DirectoryHandle) async throws(FSError) -> SubvolumeID

    /// The subvolumes below the one open as `subvolume` (its root; another
    /// directory gives `invalidArgument`), deepest first (post-order), found
    /// from the open subvolume itself. Run as a user, it leaves out those
    /// the user may not reach (the kernel's `INO_LOOKUP_USER` wants read
    /// and search on the directories above the one holding a subvolume;
    /// opening it, search down to it and read on it) and those a mount on
    /// the way hides, with what they hold: the cleanup runs as root. The
    /// descriptor stays the caller's. A subvolume whose directories, inside
    /// the subvolume holding it, make more than the kernel's lookup gives
    /// back (4079 bytes; 3823 for a user) fails the listing.
    func nestedSubvolumes(of subvolume: DirectoryHandle) async throws(FSError) -> [NestedSubvolume]

    /// Creates an empty writable subvolume `name`.
    func createSubvolume(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError)

    /// Snapshots the subvolume open as `source` to `name` in `directory`;
    /// an existing `name` gives `exists`. Nested subvolumes are not part of
    /// a snapshot: empty directories stand in their place.
    func snapshot(_ source: DirectoryHandle, as name: EntryName, in directory: DirectoryHandle, readOnly: Bool)
        async throws(FSError)

    /// Deletes the subvolume `name` (`BTRFS_IOC_SNAP_DESTROY` on the
    /// directory); never recursive, never through a link.
    func deleteSubvolume(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError)

    /// Deletes the subvolume with `id` on the filesystem of `directory`,
    /// whatever its name now is (kernel 5.7 and later; older kernels give
    /// `notSupported`).
    func deleteSubvolume(id: SubvolumeID, via directory: DirectoryHandle) async throws(FSError)

    /// Sets or clears the read-only property of the subvolume open as
    /// `subvolume`.
    func setReadOnly(_ readOnly: Bool, of subvolume: DirectoryHandle) async throws(FSError)

    /// Receives a btrfs send stream into `directory`, as `btrfs receive -e`
    /// does (btrfs-progs on the real host).
    ///
    /// The subvolume the stream names appears there, writable while it is
    /// received, then read-only with the stream's UUID as its received
    /// UUID. An incremental stream is applied to a snapshot of its parent,
    /// found on the same filesystem by received UUID, then by UUID; without
    /// one it gives `noEntry` and nothing is created. A taken name gives
    /// `exists`, a read-only directory `readOnly`, and nothing is created.
    /// A stream that ends or breaks before its end command leaves the
    /// subvolume as far as it got, writable and without received UUID, and
    /// gives `ioError`. Nothing after the end command is read.
    func receive(_ stream: SendStream, in directory: DirectoryHandle) async throws(FSError)

    /// Commits the filesystem of `directory` to disk: deletions before it
    /// survive a crash.
    func sync(_ directory: DirectoryHandle) async throws(FSError)

    /// The mount points at or below the open directory, as absolute paths
    /// in byte order.
    func mountPoints(inside directory: DirectoryHandle) async throws(FSError) -> [String]

    /// The mount points, wherever they are, whose root is the btrfs
    /// subvolume holding the open directory or a directory in it (a bind
    /// mount of it, a mount with `subvol=`), as absolute paths in byte
    /// order; empty when nothing mounts it, or on another filesystem.
    /// Deleting a subvolume so mounted would leave that mount on a deleted
    /// subvolume, whose files its users still see.
    func mountPoints(of subvolume: DirectoryHandle) async throws(FSError) -> [String]

    // MARK: Files and locks

    /// Opens a regular file, never following a link (a link gives
    /// `symlinkLoop`, a directory `isDirectory`, a FIFO, socket or device
    /// `invalidArgument`, at once and without opening it).
    func openFile(_ name: EntryName, in directory: DirectoryHandle, options: FileOpenOptions)
        async throws(FSError) -> FileHandle

    /// Creates a regular file under `name` that appears already owned by
    /// `owner` and `group` (no moment shows it with another owner, even
    /// when the process dies in between), open for writing; `exists` when
    /// the name is taken. Only root may give a file to another user.
    func createFile(_ name: EntryName, in directory: DirectoryHandle, owner: UInt32, group: UInt32)
        async throws(FSError) -> FileHandle

    /// Appends bytes to an open file.
    func write(_ bytes: [UInt8], to file: FileHandle) async throws(FSError)

    /// The whole content of an open file.
    func readAll(_ file: FileHandle) async throws(FSError) -> [UInt8]

    /// The status of an open file (`fstat`).
    func status(of file: FileHandle) async throws(FSError) -> EntryStatus

    /// Takes an exclusive lock on the open file without waiting
    /// (`flock(LOCK_EX | LOCK_NB)`): false when another open file holds it.
    func tryLock(_ file: FileHandle) async throws(FSError) -> Bool

    /// Whether some open file (this one included) holds the lock of this
    /// file, looked at without taking it (`/proc/locks` and the holders'
    /// descriptors on a real host), so that looking never keeps an agent
    /// from its lock. Where it cannot be told, held.
    func isLockHeld(_ file: FileHandle) async throws(FSError) -> Bool

    /// Whether a process with this id runs on the host (`kill(pid, 0)`).
    func processExists(_ pid: Int32) async -> Bool

    /// Closes a file, releasing its lock.
    func close(_ file: FileHandle) async
}
