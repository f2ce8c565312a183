import CBtrfsUtil
import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

extension RealFileSystem {
    /// Runs one call's system calls, as `credentials` when set, and adds
    /// the call's context to a failure.
    func perform<Result>(
        _ operation: FSOperation, name: EntryName? = nil, destination: EntryName? = nil, path: String? = nil,
        subvolume: SubvolumeID? = nil, _ body: () throws(FSError.Kind) -> Result
    ) throws(FSError) -> Result {
        func failure(_ kind: FSError.Kind) -> FSError {
            FSError(kind, operation, name: name, destination: destination, path: path, subvolume: subvolume)
        }
        if let name, !name.isExact { throw failure(.invalidArgument) }
        if let destination, !destination.isExact { throw failure(.invalidArgument) }
        do throws(FSError.Kind) {
            return try asCaller(body)
        } catch {
            throw failure(error)
        }
    }

    /// Runs `body` as `credentials` when set (on this thread only), else
    /// as this process.
    func asCaller<Result>(_ body: () throws(FSError.Kind) -> Result) throws(FSError.Kind) -> Result {
        guard let credentials, !credentials.isRoot else { return try body() }
        // Nothing suspends in between: the switch stays on this thread.
        try LibC.dropThreadIDs(user: credentials.user, group: credentials.group)
        defer { LibC.restoreThreadIDs() }
        return try body()
    }

    /// Whether `openFile` may open an entry of this `lstat`: a regular
    /// file, or what the open itself turns away without touching it (a
    /// directory: `isDirectory` after; a link: `symlinkLoop` by
    /// `O_NOFOLLOW`).
    static func mayOpen(_ status: stat) -> Bool {
        switch status.st_mode & S_IFMT {
        case S_IFREG, S_IFDIR, S_IFLNK: true
        default: false
        }
    }

    /// Whether the directory at `path` is on a btrfs filesystem; nil when
    /// it cannot be looked at.
    public static func isOnBtrfs(path: String) -> Bool? {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { LibC.close(descriptor) }
        guard let status = try? LibC.fstatfs(descriptor) else { return nil }
        return status.f_type == BUILDOS_BTRFS_SUPER_MAGIC
    }

    func isBtrfs(_ descriptor: Int32) throws(FSError.Kind) -> Bool {
        try LibC.fstatfs(descriptor).f_type == BUILDOS_BTRFS_SUPER_MAGIC
    }

    /// Whether the entry `raw` of a directory is the root of a btrfs
    /// filesystem mounted there.
    func isBtrfsMount(_ directory: Int32, _ raw: UnsafePointer<CChar>) throws(FSError.Kind) -> Bool {
        // The name's own bytes: a name that is not UTF-8 is opened as it is.
        guard let descriptor = try? LibC.openat(directory, bytes: raw, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else {
            return false
        }
        defer { LibC.close(descriptor) }
        return try isBtrfs(descriptor)
    }

    /// The kind `lstat` reports, telling subvolume roots (inode 256 on
    /// btrfs) from plain directories. On btrfs every directory with inode
    /// 256 is a subvolume root; elsewhere only the root of a btrfs mounted
    /// there is, which takes a look at that filesystem.
    func kind(
        of status: stat, onBtrfs: Bool, parentDevice: dev_t, mountCheck: () throws(FSError.Kind) -> Bool
    ) throws(FSError.Kind) -> EntryKind {
        switch status.st_mode & S_IFMT {
        case S_IFLNK: return .symlink
        case S_IFREG: return .file
        case S_IFDIR:
            guard status.st_ino == subvolumeRootInode else { return .directory }
            if onBtrfs { return .subvolume }
            if status.st_dev == parentDevice { return .directory }
            return try mountCheck() ? .subvolume : .directory
        default: return .other
        }
    }

    func entryStatus(_ status: stat, _ kind: EntryKind) -> EntryStatus {
        EntryStatus(
            kind: kind, identity: FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino)),
            owner: status.st_uid, group: status.st_gid, permissions: UInt16(status.st_mode & 0o7777))
    }

    func descriptorStatus(_ descriptor: Int32) throws(FSError.Kind) -> EntryStatus {
        let status = try LibC.fstat(descriptor)
        let isRoot = status.st_mode & S_IFMT == S_IFDIR && status.st_ino == subvolumeRootInode
        let kind = try self.kind(
            of: status, onBtrfs: isRoot ? try isBtrfs(descriptor) : false, parentDevice: status.st_dev,
            mountCheck: { () throws(FSError.Kind) in false })
        return entryStatus(status, kind)
    }

    /// An entry name from raw bytes: exact when they are valid UTF-8, else
    /// a rendering with `\xNN` that no call accepts.
    func entryName(_ raw: UnsafePointer<CChar>) -> EntryName {
        entryName(UnsafeRawBufferPointer(start: raw, count: strlen(raw)))
    }

    func entryName(_ bytes: UnsafeRawBufferPointer) -> EntryName {
        // readdir never gives an empty name, `/` or NUL; `.` and `..` are
        // skipped before.
        EntryName(onDisk: bytes) ?? EntryName(undecodable: String(decoding: bytes, as: UTF8.self))
    }

    func uuid<Tuple>(_ tuple: Tuple) -> BtrfsUUID {
        withUnsafeBytes(of: tuple) { BtrfsUUID(bytes: Array($0.prefix(16))) }
    }

    func readContents(_ descriptor: Int32) throws(FSError.Kind) -> [UInt8] {
        try LibC.readAll(descriptor, from: 0)
    }
}
