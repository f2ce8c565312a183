/// A failed filesystem operation: what went wrong, in which call, on what.
///
/// Both backends throw the same values for the same situation, so tests
/// compare whole errors and callers match on `kind`.
public struct FSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong; each case names the errno behind it on Linux.
    public enum Kind: Hashable, Sendable {
        /// `ENOENT`: the name does not exist (or vanished meanwhile).
        case noEntry
        /// `EEXIST`: the name is taken.
        case exists
        /// `ENOTEMPTY`: a directory is not empty, a subvolume holds a nested
        /// subvolume, or a rename would replace a subvolume.
        case notEmpty
        /// `ENOTDIR`: a directory was expected (a file or a symbolic link
        /// given to a directory call).
        case notDirectory
        /// `EISDIR`: a directory given to a call for files.
        case isDirectory
        /// `EINVAL`: for example, a plain directory given to a subvolume
        /// call.
        case invalidArgument
        /// `EPERM`: not permitted (the default subvolume, a snapshot of a
        /// subvolume the caller does not own, an unprivileged delete
        /// without `user_subvol_rm_allowed`).
        case notPermitted
        /// `EACCES`: permission bits deny it.
        case accessDenied
        /// `EROFS`: the subvolume is read-only.
        case readOnly
        /// `EBUSY`: in use (a mount point).
        case busy
        /// `ENOSPC`: no space left.
        case noSpace
        /// `EIO`: an input/output error.
        case ioError
        /// `ELOOP`: a symbolic link met where none may be followed.
        case symlinkLoop
        /// `EXDEV`: the rename would cross a filesystem or subvolume.
        case crossDevice
        /// `EWOULDBLOCK`: a lock is held elsewhere.
        case wouldBlock
        /// `EBADF`: the handle is not open (or its process is gone).
        case badDescriptor
        /// `ENOTTY` or `EOPNOTSUPP`: the kernel or filesystem does not
        /// support the call.
        case notSupported
        /// `EILSEQ`: bytes that are not valid UTF-8 where text is needed
        /// (the target of a symbolic link).
        case notUTF8
        /// The path is not on a btrfs filesystem (libbtrfsutil's
        /// `BTRFS_UTIL_ERROR_NOT_BTRFS`).
        case notBtrfs
        /// Any other errno.
        case other(errno: Int32)

        /// The kind for a Linux errno.
        public init(errno: Int32) {
            self = Kind.byErrno[errno] ?? .other(errno: errno)
        }

        /// The Linux errno of this kind.
        public var errno: Int32 {
            switch self {
            case .noEntry: 2
            case .exists: 17
            case .notEmpty: 39
            case .notDirectory: 20
            case .isDirectory: 21
            case .invalidArgument: 22
            case .notPermitted: 1
            case .accessDenied: 13
            case .readOnly: 30
            case .busy: 16
            case .noSpace: 28
            case .ioError: 5
            case .symlinkLoop: 40
            case .crossDevice: 18
            case .wouldBlock: 11
            case .badDescriptor: 9
            case .notSupported: 95
            case .notUTF8: 84
            case .notBtrfs: 25
            case .other(let errno): errno
            }
        }

        /// The errno's symbolic name, as in `ENOTEMPTY`.
        public var symbol: String {
            switch self {
            case .noEntry: "ENOENT"
            case .exists: "EEXIST"
            case .notEmpty: "ENOTEMPTY"
            case .notDirectory: "ENOTDIR"
            case .isDirectory: "EISDIR"
            case .invalidArgument: "EINVAL"
            case .notPermitted: "EPERM"
            case .accessDenied: "EACCES"
            case .readOnly: "EROFS"
            case .busy: "EBUSY"
            case .noSpace: "ENOSPC"
            case .ioError: "EIO"
            case .symlinkLoop: "ELOOP"
            case .crossDevice: "EXDEV"
            case .wouldBlock: "EWOULDBLOCK"
            case .badDescriptor: "EBADF"
            case .notSupported: "EOPNOTSUPP"
            case .notUTF8: "EILSEQ"
            case .notBtrfs: "not btrfs"
            case .other(let errno): Kind.others[errno]?.name ?? "errno \(errno)"
            }
        }

        /// Other errnos a filesystem call can give, named, so that no
        /// line says only "system error".
        static let others: [Int32: (name: String, summary: String)] = [
            3: ("ESRCH", "no such process"), 4: ("EINTR", "interrupted system call"),
            6: ("ENXIO", "no such device or address"), 7: ("E2BIG", "argument list too long"),
            12: ("ENOMEM", "cannot allocate memory"), 14: ("EFAULT", "bad address"),
            19: ("ENODEV", "no such device"), 23: ("ENFILE", "too many open files in system"),
            24: ("EMFILE", "too many open files"), 26: ("ETXTBSY", "text file busy"),
            27: ("EFBIG", "file too large"), 29: ("ESPIPE", "illegal seek"),
            31: ("EMLINK", "too many links"), 32: ("EPIPE", "broken pipe"),
            36: ("ENAMETOOLONG", "file name too long"), 38: ("ENOSYS", "function not implemented"),
            61: ("ENODATA", "no data available"), 75: ("EOVERFLOW", "value too large for defined data type"),
            110: ("ETIMEDOUT", "connection timed out"), 116: ("ESTALE", "stale file handle"),
            122: ("EDQUOT", "disk quota exceeded"), 125: ("ECANCELED", "operation canceled"),
        ]

        /// A short description in the words of `strerror`.
        public var summary: String {
            switch self {
            case .noEntry: "no such file or directory"
            case .exists: "file exists"
            case .notEmpty: "directory not empty"
            case .notDirectory: "not a directory"
            case .isDirectory: "is a directory"
            case .invalidArgument: "invalid argument"
            case .notPermitted: "operation not permitted"
            case .accessDenied: "permission denied"
            case .readOnly: "read-only file system"
            case .busy: "device or resource busy"
            case .noSpace: "no space left on device"
            case .ioError: "input/output error"
            case .symlinkLoop: "symbolic link not followed"
            case .crossDevice: "cross-device link"
            case .wouldBlock: "resource temporarily unavailable"
            case .badDescriptor: "bad file descriptor"
            case .notSupported: "operation not supported"
            case .notUTF8: "not valid UTF-8"
            case .notBtrfs: "not a btrfs filesystem"
            case .other(let errno): Kind.others[errno]?.summary ?? "system error"
            }
        }

        private static let byErrno: [Int32: Kind] = {
            let known: [Kind] = [
                .noEntry, .exists, .notEmpty, .notDirectory, .isDirectory, .invalidArgument,
                .notPermitted, .accessDenied, .readOnly, .busy, .noSpace, .ioError, .symlinkLoop,
                .crossDevice, .wouldBlock, .badDescriptor, .notSupported, .notUTF8,
            ]
            var table = Dictionary(uniqueKeysWithValues: known.map { ($0.errno, $0) })
            table[25] = .notSupported  // ENOTTY: an ioctl the kernel does not know
            return table
        }()
    }

    public var kind: Kind
    /// The call that failed.
    public var operation: FSOperation
    /// The entry the call was about, when it names one.
    public var name: EntryName?
    /// The second name of a rename (its destination).
    public var destination: EntryName?
    /// The path the call was given, for the few calls that take one.
    public var path: String?
    /// The subvolume the call was about, when known.
    public var subvolume: SubvolumeID?
    /// What a tool the call ran said about the failure (`btrfs receive`'s
    /// error line), appended to the cause; not part of the error's
    /// identity (equal errors may carry different words).
    public var detail: String?

    public init(
        _ kind: Kind, _ operation: FSOperation, name: EntryName? = nil, destination: EntryName? = nil,
        path: String? = nil, subvolume: SubvolumeID? = nil
    ) {
        self.kind = kind
        self.operation = operation
        self.name = name
        self.destination = destination
        self.path = path
        self.subvolume = subvolume
    }

    /// `summary (SYMBOL)`, the form diagnostics append as a cause.
    public var cause: String {
        let base = "\(kind.summary) (\(kind.symbol))"
        return detail.map { base + ": " + $0 } ?? base
    }

    public static func == (lhs: FSError, rhs: FSError) -> Bool {
        lhs.kind == rhs.kind && lhs.operation == rhs.operation && lhs.name == rhs.name
            && lhs.destination == rhs.destination && lhs.path == rhs.path && lhs.subvolume == rhs.subvolume
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(operation)
        hasher.combine(name)
        hasher.combine(destination)
        hasher.combine(path)
        hasher.combine(subvolume)
    }

    public var description: String {
        var subject: [String] = []
        if let path { subject.append(path) }
        if let name { subject.append(name.rawValue) }
        if let destination { subject.append("-> \(destination.rawValue)") }
        if let subvolume { subject.append("subvolume \(subvolume)") }
        let about = subject.isEmpty ? "" : " " + subject.joined(separator: " ")
        return "\(operation.rawValue)\(about): \(cause)"
    }
}

/// The protocol operation an error or a step belongs to.
public enum FSOperation: String, Hashable, Sendable, CaseIterable, Codable {
    case openRoot, openDirectory, close, list, status, readLink
    case subvolumeInfo, subvolumeID, nestedSubvolumes, createSubvolume, snapshot
    case deleteSubvolume, deleteSubvolumeByID, setReadOnly
    case rename, createSymlink, unlink, makeDirectory, removeDirectory, changeOwner
    case sync, mountPoints, mountPointsOfSubvolume, receive
    case openFile, createFile, write, read, lock, lockStatus
}

/// A backend throws the bare kind inside its own code and adds the context
/// (operation, names) once, where the call leaves it.
extension FSError.Kind: Error {}
