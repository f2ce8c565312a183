import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The developers' commands (`scenario`, `fuzz`, a simulated tree's
/// `--layout`) live in `buildos-clean-dev`, which the package does not
/// ship: the production binary carries no simulator. Asked for one, it
/// hands the whole command line to that executable when one is installed
/// beside it (a development build, where `swift build` makes both), so
/// that `buildos-clean scenario run FILE` works there as written; on a
/// build host, where there is none, it refuses (64) and says where the
/// command is.
public enum DeveloperExecutable {
    /// The developers' executable's file name.
    public static let name = "buildos-clean-dev"

    /// The commands only that executable has.
    public static let commands: Set<String> = ["scenario", "fuzz"]

    /// The developers' command a command line asks for (`fuzz ...`, or
    /// `help fuzz`), if it does.
    public static func command(in arguments: [String]) -> String? {
        let asked = arguments.first == "help" ? arguments.dropFirst().first : arguments.first
        return asked.flatMap { commands.contains($0) ? $0 : nil }
    }

    /// Whether a command line is one only the developers' executable
    /// runs: a developers' command, or `--layout` among the options
    /// (before a `--`). Recognised before the argument parser reads
    /// anything, so that the hand-over comes before the command reads
    /// its inputs (a stream on standard input, say).
    public static func wants(_ arguments: [String]) -> Bool {
        if command(in: arguments) != nil { return true }
        for argument in arguments {
            if argument == "--" { return false }
            if argument == "--layout" || argument.hasPrefix("--layout=") { return true }
        }
        return false
    }

    /// Replaces this process with the developers' executable beside this
    /// one, on the same arguments; returns, saying why, only when there is
    /// none or it cannot be run (a clause to follow a message's `;`).
    public static func handOver() -> String {
        guard let directory = directoryOfThisExecutable() else {
            return "this executable's own path cannot be read (/proc/self/exe)"
        }
        let path = directory + Array(name.utf8) + [0]
        let shown = EntryName.rendering(of: Array(path.dropLast()))
        let cPath = path.map { CChar(bitPattern: $0) }
        guard access(cPath, X_OK) == 0 else {
            return "there is no \(shown) beside this one (the package does not ship it; "
                + "`swift build --product \(name)` builds it in a source tree)"
        }
        // A link to this executable, or a copy of it under that name
        // (which looks beside itself and finds itself): not the
        // developers' one, and each would hand over for ever.
        var target = stat()
        var this = stat()
        if stat(cPath, &target) == 0, stat("/proc/self/exe", &this) == 0, target.st_dev == this.st_dev,
            target.st_ino == this.st_ino
        {
            return "\(shown) is this executable itself, not the developers' one"
        }
        // The arguments as the kernel passed them, after this program's
        // own name; the new one's name is its path.
        var arguments: [UnsafeMutablePointer<CChar>?] = [strdup(cPath)]
        for index in 1..<Int(CommandLine.argc) { arguments.append(CommandLine.unsafeArgv[index]) }
        arguments.append(nil)
        // The new program starts with this thread's signal mask: a worker
        // thread of the concurrency runtime may block signals.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, nil)
        execv(cPath, arguments)
        let error = errno
        return "\(shown) cannot be run: \(String(cString: strerror(error)))"
    }

    /// The directory of the running executable, its path's bytes up to
    /// and with the last `/`.
    static func directoryOfThisExecutable() -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard count > 0 else { return nil }
        let bytes = buffer[..<count].map { UInt8(bitPattern: $0) }
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return Array(bytes[...slash])
    }
}
