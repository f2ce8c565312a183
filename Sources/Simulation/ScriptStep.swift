import BuildFarm
import FSProtocol
import MachineLayout
import SimFS

/// One command of a script actor, on absolute paths: the parent directory
/// is opened by path, the last name acted on.
enum ScriptStep: Hashable, Sendable {
    case deleteSubvolume(String)
    case unlink(String)
    case rename(String, String)
    case makeDirectory(String)
    case removeDirectory(String)
    case snapshot(String, String)
    case setReadOnly(String, Bool)
    /// A symbolic link at the path, to the target (one name, as the
    /// manual's `ln -s m-1 m` makes a machine's link).
    case symlink(target: String, path: String)
    case sleep(Int)
    /// Deletes every subvolume of a directory whose name contains the
    /// text: a planted cleanup bug that ignores the agents' locks.
    case deleteMatching(String, String)

    /// A step from its text; paths must be absolute and valid, `sleep`
    /// takes whole seconds within `ScenarioLimits.seconds`.
    init(_ text: String) throws(ScenarioError) {
        let words = text.split(separator: " ").map(String.init)
        let step: ScriptStep
        switch (words.first, words.count) {
        case ("delete-subvolume", 2): step = .deleteSubvolume(words[1])
        case ("unlink", 2): step = .unlink(words[1])
        case ("rename", 3): step = .rename(words[1], words[2])
        case ("mkdir", 2): step = .makeDirectory(words[1])
        case ("rmdir", 2): step = .removeDirectory(words[1])
        case ("snapshot", 3): step = .snapshot(words[1], words[2])
        case ("set-readonly", 3) where words[2] == "true" || words[2] == "false":
            step = .setReadOnly(words[1], words[2] == "true")
        case ("symlink", 3):
            guard EntryName(words[1]) != nil else {
                throw ScenarioError("script step '\(text)': invalid link target '\(words[1])': not one name")
            }
            step = .symlink(target: words[1], path: words[2])
        case ("sleep", 2):
            guard words[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let seconds = Int(words[1]), ScenarioLimits.seconds.contains(seconds)
            else {
                throw ScenarioError(
                    "script step '\(text)': sleep takes seconds from 0 to \(ScenarioLimits.seconds.upperBound)")
            }
            step = .sleep(seconds)
        case ("delete-matching", 3): step = .deleteMatching(words[1], words[2])
        default:
            throw ScenarioError(
                "unknown script step '\(text)' (delete-subvolume P, unlink P, rename P Q, mkdir P, rmdir P, "
                    + "snapshot P Q, set-readonly P true|false, symlink TARGET P, sleep N, delete-matching DIR TEXT)")
        }
        for path in step.paths where !(path == "/" && step.opensDirectory) {
            guard path.startsWithBytes("/"), Layout.pathProblem(path) == nil else {
                let problem = Layout.pathProblem(path) ?? "not an absolute path"
                throw ScenarioError("script step '\(text)': invalid path '\(path)': \(problem)")
            }
        }
        self = step
    }

    /// Whether the step opens its path as a directory (which may then be
    /// `/`) rather than acting on its last name.
    var opensDirectory: Bool {
        if case .deleteMatching = self { return true }
        return false
    }

    /// The paths the step names.
    var paths: [String] {
        switch self {
        case .deleteSubvolume(let path), .unlink(let path), .makeDirectory(let path), .removeDirectory(let path),
            .setReadOnly(let path, _), .deleteMatching(let path, _), .symlink(_, let path):
            [path]
        case .rename(let from, let to), .snapshot(let from, let to): [from, to]
        case .sleep: []
        }
    }

    /// Runs the step; a failing call is part of the script's life.
    func run(in environment: ActorEnvironment) async throws {
        let fs = environment.fileSystem
        func parent(_ path: String) async throws(FSError) -> (DirectoryHandle, EntryName) {
            var components = EntryName.components(of: path).map(String.init)
            guard let last = components.popLast(), let name = EntryName(last) else {
                throw FSError(.invalidArgument, .openRoot, path: path)
            }
            return (try await fs.openRoot("/" + components.joined(separator: "/")), name)
        }
        do throws(FSError) {
            switch self {
            case .deleteSubvolume(let path):
                let (directory, name) = try await parent(path)
                try await fs.deleteSubvolume(name, in: directory)
                await fs.close(directory)
            case .unlink(let path):
                let (directory, name) = try await parent(path)
                try await fs.unlink(name, in: directory)
                await fs.close(directory)
            case .rename(let from, let to):
                let (source, name) = try await parent(from)
                let (target, newName) = try await parent(to)
                try await fs.rename(name, in: source, to: newName, in: target, mode: .replace)
                await fs.close(source)
                await fs.close(target)
            case .makeDirectory(let path):
                let (directory, name) = try await parent(path)
                try await fs.makeDirectory(name, in: directory)
                await fs.close(directory)
            case .removeDirectory(let path):
                let (directory, name) = try await parent(path)
                try await fs.removeDirectory(name, in: directory)
                await fs.close(directory)
            case .snapshot(let from, let to):
                let (source, name) = try await parent(from)
                let (target, newName) = try await parent(to)
                try await fs.withDirectory(name, in: source) { subvolume throws(FSError) in
                    try await fs.snapshot(subvolume, as: newName, in: target, readOnly: false)
                }
                await fs.close(source)
                await fs.close(target)
            case .setReadOnly(let path, let readOnly):
                let (directory, name) = try await parent(path)
                try await fs.withDirectory(name, in: directory) { subvolume throws(FSError) in
                    try await fs.setReadOnly(readOnly, of: subvolume)
                }
                await fs.close(directory)
            case .symlink(let target, let path):
                let (directory, name) = try await parent(path)
                try await fs.createSymlink(name, in: directory, target: target)
                await fs.close(directory)
            case .deleteMatching(let path, let text):
                let directory = try await fs.openRoot(path)
                for entry in try await fs.list(directory)
                where entry.kind == .subvolume && entry.name.rawValue.containsBytes(text) {
                    try? await fs.deleteSubvolume(entry.name, in: directory)
                }
                await fs.close(directory)
            case .sleep:
                break
            }
        } catch {
            environment.journal.note(.note("\(self) failed: \(error)"), by: fs.processID)
        }
        if case .sleep(let seconds) = self { try await environment.clock.sleep(seconds: seconds) }
    }
}
