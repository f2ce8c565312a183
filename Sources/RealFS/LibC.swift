import CBtrfsUtil
import FSProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One function per libc call. Each makes the call, reads `errno` right
/// after it, and throws the matching kind; nothing else runs in between.
enum LibC {
    /// The kind for the current `errno`; call it first thing after a
    /// failed call.
    @inline(__always)
    static func failure() -> FSError.Kind { FSError.Kind(errno: errno) }

    static func open(_ path: String, _ flags: Int32) throws(FSError.Kind) -> Int32 {
        let result = path.withCString { Glibc.open($0, flags | O_CLOEXEC) }
        if result < 0 { throw failure() }
        return result
    }

    static func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t = 0) throws(FSError.Kind)
        -> Int32
    {
        let (result, error) = name.withCString { (Glibc.openat(directory, $0, flags | O_CLOEXEC, mode), errno) }
        if result < 0 { throw FSError.Kind(errno: error) }
        return result
    }

    /// `openat` with a name given as the bytes a directory listing
    /// returned, which need not be UTF-8.
    static func openat(_ directory: Int32, bytes name: UnsafePointer<CChar>, _ flags: Int32) throws(FSError.Kind)
        -> Int32
    {
        let result = Glibc.openat(directory, name, flags | O_CLOEXEC, 0)
        if result < 0 { throw failure() }
        return result
    }

    static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    static func dup(_ descriptor: Int32) throws(FSError.Kind) -> Int32 {
        let result = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        if result < 0 { throw failure() }
        return result
    }

    static func fstat(_ descriptor: Int32) throws(FSError.Kind) -> stat {
        var status = stat()
        if Glibc.fstat(descriptor, &status) != 0 { throw failure() }
        return status
    }

    static func fstatat(_ directory: Int32, _ name: String) throws(FSError.Kind) -> stat {
        var status = stat()
        let (result, error) = name.withCString {
            (Glibc.fstatat(directory, $0, &status, AT_SYMLINK_NOFOLLOW), errno)
        }
        if result != 0 { throw FSError.Kind(errno: error) }
        return status
    }

    static func fstatat(_ directory: Int32, bytes name: UnsafePointer<CChar>) throws(FSError.Kind) -> stat {
        var status = stat()
        if Glibc.fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) != 0 { throw failure() }
        return status
    }

    /// The id of the mount through which `name` in `directory` (the
    /// directory itself when empty) is reached (Linux 5.8).
    static func mountID(_ directory: Int32, _ name: String = "") throws(FSError.Kind) -> UInt64 {
        var id: CUnsignedLongLong = 0
        let (result, error) = name.withCString { (buildos_mount_id(directory, $0, &id), errno) }
        if result != 0 { throw FSError.Kind(errno: error) }
        return UInt64(id)
    }

    static func fstatfs(_ descriptor: Int32) throws(FSError.Kind) -> statfs {
        var status = statfs()
        if CBtrfsUtil.fstatfs(descriptor, &status) != 0 { throw failure() }
        return status
    }

    static func readlinkat(_ directory: Int32, _ name: String) throws(FSError.Kind) -> String {
        // On the stack, uninitialized: the cleanup reads one link per
        // subvolume it deletes (`mountPoints(inside:)`).
        let capacity = Int(PATH_MAX) + 1
        return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            guard let base = buffer.baseAddress else {
                return Result<String, FSError.Kind>.failure(.other(errno: ENOMEM))
            }
            let (count, error) = name.withCString { (Glibc.readlinkat(directory, $0, base, capacity), errno) }
            if count < 0 { return .failure(FSError.Kind(errno: error)) }
            if count >= capacity { return .failure(.other(errno: ENAMETOOLONG)) }
            let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count])
            // Never repaired: `m-1\xff` read as `m-1\u{FFFD}` would name
            // another entry, or none.
            guard let target = String(validating: bytes, as: UTF8.self) else { return .failure(.notUTF8) }
            return .success(target)
        }.get()
    }

    static func readlink(_ path: String) throws(FSError.Kind) -> String {
        try readlinkat(AT_FDCWD, path)
    }

    static func symlinkat(_ target: String, _ directory: Int32, _ name: String) throws(FSError.Kind) {
        let (result, error) = target.withCString { target in
            name.withCString { (Glibc.symlinkat(target, directory, $0), errno) }
        }
        if result != 0 { throw FSError.Kind(errno: error) }
    }

    static func unlinkat(_ directory: Int32, _ name: String, _ flags: Int32) throws(FSError.Kind) {
        let (result, error) = name.withCString { (Glibc.unlinkat(directory, $0, flags), errno) }
        if result != 0 { throw FSError.Kind(errno: error) }
    }

    static func mkdirat(_ directory: Int32, _ name: String, _ mode: mode_t) throws(FSError.Kind) {
        let (result, error) = name.withCString { (Glibc.mkdirat(directory, $0, mode), errno) }
        if result != 0 { throw FSError.Kind(errno: error) }
    }

    static func renameat2(_ directory: Int32, _ name: String, _ newDirectory: Int32, _ newName: String, _ flags: UInt32)
        throws(FSError.Kind)
    {
        let (result, error) = name.withCString { old in
            newName.withCString { new in (buildos_renameat2(directory, old, newDirectory, new, flags), errno) }
        }
        if result != 0 { throw FSError.Kind(errno: error) }
    }

    static func fchownat(_ directory: Int32, _ name: String, _ owner: UInt32, _ group: UInt32) throws(FSError.Kind) {
        let (result, error) = name.withCString {
            (Glibc.fchownat(directory, $0, owner, group, AT_SYMLINK_NOFOLLOW), errno)
        }
        if result != 0 { throw FSError.Kind(errno: error) }
    }

    static func write(_ descriptor: Int32, _ bytes: [UInt8]) throws(FSError.Kind) {
        var offset = 0
        while offset < bytes.count {
            let (written, error) = bytes.withUnsafeBytes { buffer in
                (Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset), errno)
            }
            if written < 0 {
                if error == EINTR { continue }
                throw FSError.Kind(errno: error)
            }
            offset += written
        }
    }

    static func pread(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int)
        throws(FSError.Kind) -> Int
    {
        let count = Glibc.pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
        if count < 0 { throw failure() }
        return count
    }

    /// Whether `poll` reports a priority event (or an error) on the
    /// descriptor, without waiting.
    static func pollPriority(_ descriptor: Int32) throws(FSError.Kind) -> Bool {
        var request = pollfd(fd: descriptor, events: Int16(POLLPRI), revents: 0)
        let result = poll(&request, 1, 0)
        if result < 0 { throw failure() }
        return result > 0 && request.revents & Int16(POLLPRI | POLLERR) != 0
    }

    /// The whole content of a file from an offset, with `pread` until the
    /// end.
    /// `readAll`, then closes the descriptor.
    static func readAll(_ descriptor: Int32, from offset: Int, closing: Bool) throws(FSError.Kind) -> [UInt8] {
        defer { if closing { close(descriptor) } }
        return try readAll(descriptor, from: offset)
    }

    static func readAll(_ descriptor: Int32, from offset: Int) throws(FSError.Kind) -> [UInt8] {
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let position = offset + contents.count
            let count = try chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(FSError.Kind) in try pread(descriptor, into: buffer, at: position) }
            }.get()
            if count == 0 { return contents }
            contents += chunk[0..<count]
        }
    }

    /// `flock(LOCK_EX | LOCK_NB)`: false when another open file holds it.
    static func flockExclusiveNonBlocking(_ descriptor: Int32) throws(FSError.Kind) -> Bool {
        if buildos_flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
        let error = errno
        if error == EWOULDBLOCK { return false }
        throw FSError.Kind(errno: error)
    }

    /// The names in an open directory (`fdopendir` on a duplicate, then
    /// `readdir` to the end), each passed with its raw bytes and the inode
    /// number `readdir` gives it.
    static func readDirectory(
        _ descriptor: Int32, _ body: (UnsafePointer<CChar>, UInt64) throws(FSError.Kind) -> Void
    ) throws(FSError.Kind)
    {
        let duplicate = try openat(descriptor, ".", O_RDONLY | O_DIRECTORY)
        guard let stream = fdopendir(duplicate) else {
            let error = failure()
            close(duplicate)
            throw error
        }
        defer { closedir(stream) }
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw failure() }
                return
            }
            let inode = UInt64(entry.pointee.d_ino)
            let handled: FSError.Kind? = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { name in
                    if name[0] == 0x2E, name[1] == 0 || (name[1] == 0x2E && name[2] == 0) { return nil }
                    do throws(FSError.Kind) {
                        try body(name, inode)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            if let handled { throw handled }
        }
    }

    /// Makes this thread alone act as `user` and `group`.
    static func dropThreadIDs(user: UInt32, group: UInt32) throws(FSError.Kind) {
        if buildos_drop_thread_ids(Int(user), Int(group)) != 0 { throw failure() }
    }

    /// Makes this thread root again; failing to is fatal, as every later
    /// call on this thread would run as the wrong user.
    static func restoreThreadIDs() {
        if buildos_restore_thread_ids() != 0 { fatalError("cannot restore this thread's ids: errno \(errno)") }
    }
}
