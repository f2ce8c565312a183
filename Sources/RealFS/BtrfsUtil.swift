import CBtrfsUtil
import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// One function per libbtrfsutil call, each on descriptors only: the
/// path-based calls follow symbolic links and are never used, and neither
/// is `BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE`, which in libbtrfsutil 6.2
/// follows a link given as the name.
enum BtrfsUtil {
    /// The kind for a libbtrfsutil error; `errno` is read first thing.
    @inline(__always)
    static func failure(_ code: btrfs_util_error) -> FSError.Kind {
        let error = errno
        switch code {
        case BTRFS_UTIL_ERROR_NOT_BTRFS: return .notBtrfs
        case BTRFS_UTIL_ERROR_NOT_SUBVOLUME: return .invalidArgument
        case BTRFS_UTIL_ERROR_SUBVOLUME_NOT_FOUND: return .noEntry
        case BTRFS_UTIL_ERROR_INVALID_ARGUMENT: return .invalidArgument
        case BTRFS_UTIL_ERROR_NO_MEMORY: return .other(errno: ENOMEM)
        default: return error == 0 ? .ioError : FSError.Kind(errno: error)
        }
    }

    static func subvolumeInfo(_ descriptor: Int32) throws(FSError.Kind) -> btrfs_util_subvolume_info {
        var info = btrfs_util_subvolume_info()
        let code = btrfs_util_subvolume_info_fd(descriptor, 0, &info)
        if code != BTRFS_UTIL_OK { throw failure(code) }
        return info
    }

    static func subvolumeID(_ descriptor: Int32) throws(FSError.Kind) -> UInt64 {
        var id: UInt64 = 0
        let code = btrfs_util_subvolume_id_fd(descriptor, &id)
        if code != BTRFS_UTIL_OK { throw failure(code) }
        return id
    }

    static func createSubvolume(_ directory: Int32, _ name: String) throws(FSError.Kind) {
        let code = name.withCString { btrfs_util_create_subvolume_fd(directory, $0, 0, nil, nil) }
        if code != BTRFS_UTIL_OK { throw failure(code) }
    }

    static func createSnapshot(_ source: Int32, _ directory: Int32, _ name: String, readOnly: Bool)
        throws(FSError.Kind)
    {
        let flags = readOnly ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0
        let code = name.withCString { btrfs_util_create_snapshot_fd2(source, directory, $0, flags, nil, nil) }
        if code != BTRFS_UTIL_OK { throw failure(code) }
    }

    /// Deletes the subvolume `name` in `directory`, with no flags: never
    /// recursive.
    static func deleteSubvolume(_ directory: Int32, _ name: String) throws(FSError.Kind) {
        let code = name.withCString { btrfs_util_delete_subvolume_fd(directory, $0, 0) }
        if code != BTRFS_UTIL_OK { throw failure(code) }
    }

    static func deleteSubvolume(_ directory: Int32, id: UInt64) throws(FSError.Kind) {
        let code = btrfs_util_delete_subvolume_by_id_fd(directory, id)
        if code != BTRFS_UTIL_OK { throw failure(code) }
    }

    static func setReadOnly(_ descriptor: Int32, _ readOnly: Bool) throws(FSError.Kind) {
        let code = btrfs_util_set_subvolume_read_only_fd(descriptor, readOnly)
        if code != BTRFS_UTIL_OK { throw failure(code) }
    }

    static func sync(_ descriptor: Int32) throws(FSError.Kind) {
        let code = btrfs_util_sync_fd(descriptor)
        if code != BTRFS_UTIL_OK { throw failure(code) }
    }

    /// The subvolumes below the one open as `descriptor`, post-order, with
    /// their paths from it: root's iterator walks the subvolume tree
    /// itself and never a symbolic link; a user's walk opens each
    /// subvolume below through no link and across no mount (`openat2`)
    /// and checks that it reached the subvolume it looked for.
    static func nestedSubvolumes(_ descriptor: Int32) throws(FSError.Kind) -> [(path: [UInt8], id: UInt64)] {
        // libbtrfsutil's iterator searches the tree of roots for root
        // and touches no descriptor; a user's walks by descriptors and
        // would close this one (see `buildos_nested_user`).
        if geteuid() != 0 {
            // The iterator's own first checks: btrfs, then a subvolume's root.
            let checked = btrfs_util_is_subvolume_fd(descriptor)
            if checked != BTRFS_UTIL_OK { throw failure(checked) }
            var list = buildos_nested_list()
            if buildos_nested_user(descriptor, &list) != 0 { throw FSError.Kind(errno: errno) }
            defer { buildos_nested_free(&list) }
            return (0..<list.count).map { index in
                let item = list.items[index]
                return (Array(UnsafeRawBufferPointer(start: item.path, count: strlen(item.path))), UInt64(item.id))
            }
        }
        var iterator: OpaquePointer?
        let created = btrfs_util_create_subvolume_iterator_fd(
            descriptor, 0, Int32(BTRFS_UTIL_SUBVOLUME_ITERATOR_POST_ORDER), &iterator)
        if created != BTRFS_UTIL_OK { throw failure(created) }
        defer { btrfs_util_destroy_subvolume_iterator(iterator) }
        var result: [(path: [UInt8], id: UInt64)] = []
        while true {
            var path: UnsafeMutablePointer<CChar>?
            var id: UInt64 = 0
            let code = btrfs_util_subvolume_iterator_next(iterator, &path, &id)
            if code == BTRFS_UTIL_ERROR_STOP_ITERATION { return result }
            if code != BTRFS_UTIL_OK { throw failure(code) }
            if let path {
                // The bytes as the kernel keeps them, which need not be UTF-8.
                result.append((Array(UnsafeRawBufferPointer(start: path, count: strlen(path))), id))
                free(path)
            }
        }
    }
}
