import FSProtocol
import Synchronization

/// A simulated machines tree loaded from a layout file (`--layout`): the
/// process on it, its root, and the tree as a layout afterwards.
public struct SimulatedTree: Sendable {
    public let fileSystem: any FileSystem
    public let root: String
    /// The tree as it is now, in the layout format (`--print-layout`).
    public let layoutText: @Sendable () -> String

    public init(fileSystem: any FileSystem, root: String, layoutText: @escaping @Sendable () -> String) {
        self.fileSystem = fileSystem
        self.root = root
        self.layoutText = layoutText
    }
}

/// Where simulated trees come from. The developers' executable installs
/// the loader (the in-memory btrfs, `SimFS`); the production executable,
/// which a build host runs, carries no simulated filesystem and has none.
public enum SimulatedTrees {
    /// Why a layout cannot be loaded: the message, with the file's line.
    public struct LoadFailure: Error {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    /// Loads a layout's text (read from `file`) as a tree; `root`
    /// overrides the layout's root.
    public typealias Loader = @Sendable (_ text: String, _ file: String, _ root: String?) throws(LoadFailure)
        -> SimulatedTree

    private static let loader = Mutex<Loader?>(nil)

    /// Makes `--layout` work in this executable.
    public static func install(_ load: @escaping Loader) {
        loader.withLock { $0 = load }
    }

    static var current: Loader? { loader.withLock { $0 } }
}
