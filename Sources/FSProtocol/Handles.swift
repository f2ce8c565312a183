/// An open directory of a process, the anchor of every name-based call.
///
/// It behaves like a directory descriptor: it stays valid when the
/// directory is renamed or deleted, and it must be closed.
public struct DirectoryHandle: Hashable, Sendable, CustomStringConvertible {
    public let descriptor: Int32

    public init(descriptor: Int32) { self.descriptor = descriptor }

    public var description: String { "dir#\(descriptor)" }
}

/// An open regular file of a process.
public struct FileHandle: Hashable, Sendable, CustomStringConvertible {
    public let descriptor: Int32

    public init(descriptor: Int32) { self.descriptor = descriptor }

    public var description: String { "file#\(descriptor)" }
}

/// How `openFile` opens a file. A symbolic link is never followed.
public struct FileOpenOptions: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Open for reading and writing (`O_RDWR`); else for reading only.
    public static let write = FileOpenOptions(rawValue: 1 << 0)
    /// Create the file when it is missing (`O_CREAT`).
    public static let create = FileOpenOptions(rawValue: 1 << 1)
    /// With `create`: fail with `exists` when the name is taken (`O_EXCL`).
    public static let exclusive = FileOpenOptions(rawValue: 1 << 2)
}

/// Whether `rename` may replace an existing destination.
public enum RenameMode: String, Hashable, Sendable {
    /// `RENAME_NOREPLACE`: an existing destination gives `exists`.
    case noReplace
    /// Plain `rename(2)`: an existing destination is replaced atomically
    /// where the kernel allows it.
    case replace
}
