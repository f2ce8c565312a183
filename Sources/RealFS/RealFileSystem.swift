import CBtrfsUtil
import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The production backend: this process on the real filesystem, through
/// libbtrfsutil's descriptor calls and fd-relative system calls.
///
/// Every call is synchronous underneath and never suspends. Names go to
/// the `*at` calls with a directory descriptor, links are never followed
/// (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`), and no call takes a path but
/// `openRoot`.
public struct RealFileSystem: FileSystem {
    /// Who the calls run as: nil for this process as it is. Tests set an
    /// unprivileged user, which the calls then take on for their own thread
    /// only (raw `setresuid`), and only while they run.
    public let credentials: Credentials?
    /// The mount table, re-read only when the kernel reports a change.
    let mountTable: MountTable

    public init() {
        credentials = nil
        mountTable = MountTable()
    }

    /// A backend that reads its mount table from another file (tests).
    init(mountInfo path: String) {
        credentials = nil
        mountTable = MountTable(path: path)
    }

    /// A backend whose calls run as `credentials` on the calling thread.
    /// Requires root; meant for tests that need an unprivileged process.
    public init(runningAs credentials: Credentials) {
        self.credentials = credentials
        mountTable = MountTable()
    }

    public var processID: Int32 { getpid() }

    public var isPrivileged: Bool { credentials.map(\.isRoot) ?? (geteuid() == 0) }

    // MARK: Directories

    public func openRoot(_ path: String) async throws(FSError) -> DirectoryHandle {
        try perform(.openRoot, path: path) { () throws(FSError.Kind) in
            // An absolute path, as SimFS wants it; a NUL would cut it short
            // and names nothing on Linux.
            guard path.startsWithBytes("/") else { throw .invalidArgument }
            if path.containsByte("\0") { throw .noEntry }
            return DirectoryHandle(descriptor: try LibC.open(path, O_RDONLY | O_DIRECTORY))
        }
    }

    public func openDirectory(_ name: EntryName, in parent: DirectoryHandle) async throws(FSError) -> DirectoryHandle {
        try perform(.openDirectory, name: name) { () throws(FSError.Kind) in
            DirectoryHandle(
                descriptor: try LibC.openat(parent.descriptor, name.rawValue, O_RDONLY | O_DIRECTORY | O_NOFOLLOW))
        }
    }

    public func close(_ directory: DirectoryHandle) async {
        LibC.close(directory.descriptor)
    }

    public func list(_ directory: DirectoryHandle) async throws(FSError) -> [DirectoryEntry] {
        try perform(.list) { () throws(FSError.Kind) in
            let onBtrfs = try isBtrfs(directory.descriptor)
            let parentDevice = try LibC.fstat(directory.descriptor).st_dev
            var entries: [DirectoryEntry] = []
            try LibC.readDirectory(directory.descriptor) { raw, entryInode throws(FSError.Kind) in
                let status: stat
                do throws(FSError.Kind) {
                    status = try LibC.fstatat(directory.descriptor, bytes: raw)
                } catch .noEntry {
                    return  // gone since readdir
                }
                let name = entryName(raw)
                let kind = try kind(
                    of: status, onBtrfs: onBtrfs, parentDevice: parentDevice,
                    mountCheck: { () throws(FSError.Kind) in try isBtrfsMount(directory.descriptor, raw) })
                // On btrfs, readdir gives a subvolume's entry its subvolume id.
                let subvolume = kind == .subvolume && onBtrfs ? SubvolumeID(entryInode) : nil
                entries.append(DirectoryEntry(name: name, status: entryStatus(status, kind), subvolumeID: subvolume))
            }
            entries.sort { $0.name < $1.name }
            return entries
        }
    }

    public func status(of name: EntryName, in directory: DirectoryHandle) async throws(FSError) -> EntryStatus {
        try perform(.status, name: name) { () throws(FSError.Kind) in
            let status = try LibC.fstatat(directory.descriptor, name.rawValue)
            let parentDevice = try LibC.fstat(directory.descriptor).st_dev
            let kind = try kind(
                of: status, onBtrfs: try isBtrfs(directory.descriptor), parentDevice: parentDevice,
                mountCheck: { () throws(FSError.Kind) in
                    try name.rawValue.withCString { raw in
                        Result { () throws(FSError.Kind) in try isBtrfsMount(directory.descriptor, raw) }
                    }.get()
                })
            return entryStatus(status, kind)
        }
    }

    public func status(of directory: DirectoryHandle) async throws(FSError) -> EntryStatus {
        try perform(.status) { () throws(FSError.Kind) in try descriptorStatus(directory.descriptor) }
    }

    public func readLink(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) -> String {
        try perform(.readLink, name: name) { () throws(FSError.Kind) in
            try LibC.readlinkat(directory.descriptor, name.rawValue)
        }
    }

    public func createSymlink(_ name: EntryName, in directory: DirectoryHandle, target: String) async throws(FSError) {
        try perform(.createSymlink, name: name) { () throws(FSError.Kind) in
            // A C string would end at a NUL: the link would name less.
            if target.containsByte("\0") { throw .invalidArgument }
            try LibC.symlinkat(target, directory.descriptor, name.rawValue)
        }
    }

    public func unlink(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try perform(.unlink, name: name) { () throws(FSError.Kind) in
            try LibC.unlinkat(directory.descriptor, name.rawValue, 0)
        }
    }

    public func makeDirectory(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try perform(.makeDirectory, name: name) { () throws(FSError.Kind) in
            try LibC.mkdirat(directory.descriptor, name.rawValue, 0o755)
        }
    }

    public func removeDirectory(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try perform(.removeDirectory, name: name) { () throws(FSError.Kind) in
            try LibC.unlinkat(directory.descriptor, name.rawValue, AT_REMOVEDIR)
        }
    }

    public func rename(
        _ name: EntryName, in directory: DirectoryHandle, to newName: EntryName, in newDirectory: DirectoryHandle,
        mode: RenameMode
    ) async throws(FSError) {
        try perform(.rename, name: name, destination: newName) { () throws(FSError.Kind) in
            try LibC.renameat2(
                directory.descriptor, name.rawValue, newDirectory.descriptor, newName.rawValue,
                mode == .noReplace ? BUILDOS_RENAME_NOREPLACE : 0)
        }
    }

    public func changeOwner(of name: EntryName, in directory: DirectoryHandle, owner: UInt32, group: UInt32)
        async throws(FSError)
    {
        try perform(.changeOwner, name: name) { () throws(FSError.Kind) in
            try LibC.fchownat(directory.descriptor, name.rawValue, owner, group)
        }
    }

    // MARK: Subvolumes

    public func subvolumeInfo(of directory: DirectoryHandle) async throws(FSError) -> SubvolumeInfo {
        try perform(.subvolumeInfo) { () throws(FSError.Kind) in
            let info = try BtrfsUtil.subvolumeInfo(directory.descriptor)
            return SubvolumeInfo(
                id: SubvolumeID(info.id), parentID: info.parent_id == 0 ? nil : SubvolumeID(info.parent_id),
                uuid: uuid(info.uuid), parentUUID: uuid(info.parent_uuid), receivedUUID: uuid(info.received_uuid),
                isReadOnly: info.flags & BUILDOS_BTRFS_ROOT_SUBVOL_RDONLY != 0)
        }
    }

    public func subvolumeID(of directory: DirectoryHandle) async throws(FSError) -> SubvolumeID {
        try perform(.subvolumeID) { () throws(FSError.Kind) in
            SubvolumeID(try BtrfsUtil.subvolumeID(directory.descriptor))
        }
    }

    public func nestedSubvolumes(of directory: DirectoryHandle) async throws(FSError) -> [NestedSubvolume] {
        try perform(.nestedSubvolumes) { () throws(FSError.Kind) in
            try BtrfsUtil.nestedSubvolumes(directory.descriptor).map {
                NestedSubvolume(
                    path: EntryName.pathRendering(of: $0.path), id: SubvolumeID($0.id),
                    isExact: String(validating: $0.path, as: UTF8.self) != nil)
            }
        }
    }

    public func createSubvolume(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try perform(.createSubvolume, name: name) { () throws(FSError.Kind) in
            try BtrfsUtil.createSubvolume(directory.descriptor, name.rawValue)
        }
    }

    public func snapshot(_ source: DirectoryHandle, as name: EntryName, in directory: DirectoryHandle, readOnly: Bool)
        async throws(FSError)
    {
        try perform(.snapshot, name: name) { () throws(FSError.Kind) in
            try BtrfsUtil.createSnapshot(source.descriptor, directory.descriptor, name.rawValue, readOnly: readOnly)
        }
    }

    public func deleteSubvolume(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try perform(.deleteSubvolume, name: name) { () throws(FSError.Kind) in
            try BtrfsUtil.deleteSubvolume(directory.descriptor, name.rawValue)
        }
    }

    public func deleteSubvolume(id: SubvolumeID, via directory: DirectoryHandle) async throws(FSError) {
        try perform(.deleteSubvolumeByID, subvolume: id) { () throws(FSError.Kind) in
            try BtrfsUtil.deleteSubvolume(directory.descriptor, id: id.rawValue)
        }
    }

    public func setReadOnly(_ readOnly: Bool, of subvolume: DirectoryHandle) async throws(FSError) {
        try perform(.setReadOnly) { () throws(FSError.Kind) in
            try BtrfsUtil.setReadOnly(subvolume.descriptor, readOnly)
        }
    }

    public func sync(_ directory: DirectoryHandle) async throws(FSError) {
        try perform(.sync) { () throws(FSError.Kind) in try BtrfsUtil.sync(directory.descriptor) }
    }

    public func mountPoints(of subvolume: DirectoryHandle) async throws(FSError) -> [String] {
        try perform(.mountPointsOfSubvolume) { () throws(FSError.Kind) in
            let table = try mountTable.snapshot()
            if table.subvolumeMounts.isEmpty { return [] }
            // The filesystem's device, as the table names it (fstat gives
            // the subvolume's own): that of the mount the directory is
            // reached through, by its id, or (before 5.8, no mount id in
            // statx) by its path's longest mount point.
            let device: MountTable.Device?
            if let mount = try? LibC.mountID(subvolume.descriptor) {
                device = table.devices[mount]
            } else {
                device = MountTable.device(of: try LibC.readlink("/proc/self/fd/\(subvolume.descriptor)"), in: table)
            }
            guard let device else { return [] }
            // A subvolume of this filesystem mounted somewhere, other than
            // its top level (the volume itself): the only ones that can be
            // this one or nested in it. None, as on a Build OS host: done.
            let mounted = table.subvolumeMounts.filter { $0.key.device == device && $0.key.id != 5 }
            if mounted.isEmpty { return [] }
            // Not btrfs, or no subvolume: nothing of it can be mounted.
            guard let id = try? BtrfsUtil.subvolumeID(subvolume.descriptor) else { return [] }
            var ids: Set<UInt64> = [id]
            // Its nested subvolumes go with it: looked for only when some
            // other subvolume of the filesystem is mounted. A listing that
            // fails is the call's error, which keeps the subvolume: in
            // doubt, one of them may be mounted.
            if mounted.keys.contains(where: { $0.id != id }) {
                ids.formUnion(try BtrfsUtil.nestedSubvolumes(subvolume.descriptor).map(\.id))
            }
            return mounted.filter { ids.contains($0.key.id) }.flatMap(\.value)
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
    }

    public func mountPoints(inside directory: DirectoryHandle) async throws(FSError) -> [String] {
        try perform(.mountPoints) { () throws(FSError.Kind) in
            let table = try mountTable.snapshot()
            if table.mountPoints.isEmpty { return [] }
            // Whatever is mounted inside the directory, the mount nearest
            // to it sits on the directory's own mount. When that mount has
            // none on it, and the directory is not itself the root of a
            // mount (its `..` is on the same mount), nothing is mounted at
            // or inside it: two statx spare resolving the path (the cleanup
            // asks once per subvolume it deletes). Older kernels take the
            // path.
            if let mount = try? LibC.mountID(directory.descriptor), !table.parents.contains(mount),
                let above = try? LibC.mountID(directory.descriptor, ".."), above == mount
            {
                return []
            }
            let path = try LibC.readlink("/proc/self/fd/\(directory.descriptor)")
            // The kernel marks a deleted directory so, and a deleted
            // directory has nothing reachable mounted inside; but a live one
            // may have the same name (a stray `m-default-1 (deleted)`): then
            // the path names the very directory open here.
            if path.endsWithBytes(" (deleted)") {
                let opened = try LibC.fstat(directory.descriptor)
                guard let named = try? LibC.fstatat(AT_FDCWD, path),
                    named.st_dev == opened.st_dev, named.st_ino == opened.st_ino
                else { return [] }
            }
            return MountTable.mountPoints(table.mountPoints, under: path)
        }
    }

    // MARK: Files and locks

    public func openFile(_ name: EntryName, in directory: DirectoryHandle, options: FileOpenOptions)
        async throws(FSError) -> FileHandle
    {
        try perform(.openFile, name: name) { () throws(FSError.Kind) in
            // The protocol's files are regular files. A FIFO, a socket or a
            // device is not opened at all: a read-only open of a FIFO waits
            // for a writer, a device's open is the driver's.
            if let existing = try? LibC.fstatat(directory.descriptor, name.rawValue), !Self.mayOpen(existing) {
                throw options.contains(.create) && options.contains(.exclusive) ? .exists : .invalidArgument
            }
            // Non-blocking even so: the name may change kind in between.
            // Writes append, as the protocol says (reads start at 0).
            var flags = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | (options.contains(.write) ? O_RDWR | O_APPEND : O_RDONLY)
            if options.contains(.create) { flags |= O_CREAT }
            if options.contains(.exclusive) { flags |= O_EXCL }
            let descriptor = try LibC.openat(directory.descriptor, name.rawValue, flags, 0o644)
            let type = (try? LibC.fstat(descriptor)).map { $0.st_mode & S_IFMT }
            guard type == S_IFREG else {
                LibC.close(descriptor)
                // A read-only open of a directory succeeds.
                throw type == S_IFDIR ? .isDirectory : .invalidArgument
            }
            return FileHandle(descriptor: descriptor)
        }
    }

    public func createFile(_ name: EntryName, in directory: DirectoryHandle, owner: UInt32, group: UInt32)
        async throws(FSError) -> FileHandle
    {
        try perform(.createFile, name: name) { () throws(FSError.Kind) in
            // A taken name first, as the protocol says: the unnamed file
            // would fail earlier in a read-only subvolume (its link still
            // fails on a name taken in between).
            if (try? LibC.fstatat(directory.descriptor, name.rawValue)) != nil { throw .exists }
            let descriptor = name.rawValue.withCString { buildos_create_owned(directory.descriptor, $0, owner, group) }
            if descriptor < 0 { throw LibC.failure() }
            return FileHandle(descriptor: descriptor)
        }
    }

    public func write(_ bytes: [UInt8], to file: FileHandle) async throws(FSError) {
        try perform(.write) { () throws(FSError.Kind) in try LibC.write(file.descriptor, bytes) }
    }

    public func readAll(_ file: FileHandle) async throws(FSError) -> [UInt8] {
        try perform(.read) { () throws(FSError.Kind) in try readContents(file.descriptor) }
    }

    public func status(of file: FileHandle) async throws(FSError) -> EntryStatus {
        try perform(.status) { () throws(FSError.Kind) in try descriptorStatus(file.descriptor) }
    }

    public func tryLock(_ file: FileHandle) async throws(FSError) -> Bool {
        try perform(.lock) { () throws(FSError.Kind) in try LibC.flockExclusiveNonBlocking(file.descriptor) }
    }

    /// From `/proc/locks`: a `FLOCK` entry on the file's inode and its
    /// filesystem's device. btrfs reports the filesystem's device there,
    /// not the subvolume's that `fstat` gives: the file's mount names it in
    /// the mount table (`LockTable.holders`). As each subvolume counts its
    /// inodes from 257, the entry's holder is then asked which file it
    /// holds (`lockedFiles`).
    public func isLockHeld(_ file: FileHandle) async throws(FSError) -> Bool {
        try perform(.lockStatus) { () throws(FSError.Kind) in
            let status = try LibC.fstat(file.descriptor)
            let filesystem = (try? LibC.mountID(file.descriptor)).flatMap { try? mountTable.snapshot().devices[$0] }
            let table = try LibC.readAll(try LibC.open("/proc/locks", O_RDONLY), from: 0, closing: true)
            let holders = LockTable.holders(
                String(decoding: table, as: UTF8.self), inode: UInt64(status.st_ino), device: UInt64(status.st_dev),
                filesystem: filesystem)
            // A line is this file's lock unless its holder's descriptors
            // show the lock on another file of the same inode number (on
            // btrfs, another subvolume's) and not on this one. A holder
            // that cannot be looked at counts.
            return holders.contains { pid in
                guard let found = Self.lockedFiles(of: pid, inode: status.st_ino) else { return true }
                return found.contains(status.st_dev) || found.isEmpty
            }
        }
    }

    /// The devices of the files of inode number `inode` on which a process
    /// holds a `flock` through one of its descriptors: those whose
    /// `/proc/PID/fdinfo/N` has a `FLOCK` lock line. Nil when its
    /// descriptors cannot be read (gone, another user's, another pid
    /// namespace); empty when none holds one (the lock may be held through
    /// a descriptor the process passed on, and then closed).
    static func lockedFiles(of pid: Int32, inode: ino_t) -> Set<dev_t>? {
        guard pid > 0, let directory = try? LibC.open("/proc/\(pid)/fd", O_RDONLY | O_DIRECTORY) else { return nil }
        defer { LibC.close(directory) }
        guard let information = try? LibC.open("/proc/\(pid)/fdinfo", O_RDONLY | O_DIRECTORY) else { return nil }
        defer { LibC.close(information) }
        var devices: Set<dev_t> = []
        do throws(FSError.Kind) {
            try LibC.readDirectory(directory) { name, _ throws(FSError.Kind) in
                var status = stat()
                // A descriptor closed in between no longer counts.
                guard fstatat(directory, name, &status, 0) == 0, status.st_ino == inode,
                    let descriptor = try? LibC.openat(information, bytes: name, O_RDONLY),
                    let text = try? LibC.readAll(descriptor, from: 0, closing: true)
                else { return }
                let flocked = String(decoding: text, as: UTF8.self).split(separator: "\n").contains {
                    $0.hasPrefix("lock:") && $0.contains(" FLOCK ")
                }
                if flocked { devices.insert(status.st_dev) }
            }
        } catch {
            return nil
        }
        return devices
    }

    /// Signal 0, sent as the caller (`credentials`, as every call): a
    /// process of another user answers EPERM, and exists all the same.
    public func processExists(_ pid: Int32) async -> Bool {
        guard pid > 0 else { return false }
        func signal() -> Bool { kill(pid, 0) == 0 || errno == EPERM }
        // When the switch fails, this process asks.
        return (try? asCaller(signal)) ?? signal()
    }

    public func close(_ file: FileHandle) async {
        LibC.close(file.descriptor)
    }
}
