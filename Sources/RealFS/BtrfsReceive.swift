import CBtrfsUtil
import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// `btrfs receive` from btrfs-progs, the one operation RealFS leaves to a
/// tool: the send stream format is btrfs-progs' to apply.
///
/// The tool gets the target directory as `/proc/PID/fd/N` of the
/// descriptor already open, never a path the caller typed; `-C`, so that
/// the paths it applies the stream by resolve inside that directory
/// (chrooted there); and `-e`, so that it stops at the stream's end
/// command. The stream goes to its
/// standard input: the bytes already read, then the rest of the
/// remainder descriptor. What it prints on error decides the error kind.
enum BtrfsReceive {
    /// Where btrfs-progs installs `btrfs` on Debian, and elsewhere.
    static let candidates = ["/usr/bin/btrfs", "/bin/btrfs", "/usr/sbin/btrfs", "/sbin/btrfs", "/usr/local/bin/btrfs"]

    /// The `btrfs` tool's path, or nil when btrfs-progs is not installed.
    static var tool: String? {
        candidates.first { access($0, X_OK) == 0 }
    }

    /// A failed receive: the error kind its message means, and the
    /// message (its `ERROR: ` line) when it printed one.
    struct Failure: Error {
        var kind: FSError.Kind
        var message: String?
    }

    static func run(_ stream: SendStream, into directory: Int32) throws(Failure) {
        guard let tool else { throw Failure(kind: .notSupported) }
        // No await below: the block and its undoing are on one thread.
        var previous = sigset_t()
        buildos_block_sigpipe(&previous)
        defer { buildos_unblock_sigpipe(&previous) }
        var pipe: [Int32] = [-1, -1]
        if buildos_pipe_cloexec(&pipe) != 0 { throw Failure(kind: LibC.failure()) }
        let errors = buildos_memfd("btrfs-receive-errors")
        if errors < 0 {
            let error = LibC.failure()
            LibC.close(pipe[0])
            LibC.close(pipe[1])
            throw Failure(kind: error)
        }
        defer { LibC.close(errors) }
        var child: pid_t = 0
        let spawned = buildos_spawn_receive(tool, "/proc/\(getpid())/fd/\(directory)", pipe[0], errors, &child)
        LibC.close(pipe[0])
        guard spawned == 0 else {
            LibC.close(pipe[1])
            throw Failure(kind: FSError.Kind(errno: spawned))
        }
        // A child that stops reading (it failed) makes the writes fail
        // with EPIPE: its status and its message tell why.
        var meter = Meter(report: stream.progress)
        var copied = (try? LibC.write(pipe[1], stream.prefix)) != nil
        meter.add(stream.prefix.count)
        if copied, let remainder = stream.remainder { copied = copy(from: remainder, to: pipe[1], meter: &meter) }
        LibC.close(pipe[1])
        let status = buildos_wait_exit(child)
        if status == 0 { return }
        let text = message(in: errors)
        throw Failure(kind: kind(of: text), message: errorLine(in: text, status: status))
    }

    /// The tool's last `ERROR: ` line, without the prefix (at most 300
    /// bytes); else, for a tool killed by a signal, which.
    static func errorLine(in text: String, status: Int32) -> String? {
        let lines = text.split(separator: "\n")
        if let last = lines.last(where: { $0.hasPrefix("ERROR: ") }) {
            let line = String(last.dropFirst("ERROR: ".count))
            return line.utf8.count <= 300 ? line : String(decoding: Array(line.utf8.prefix(300)), as: UTF8.self) + "..."
        }
        return status > 255 ? "btrfs receive was killed by signal \(status - 256)" : nil
    }

    /// Copies a descriptor to its end; false when the writing failed.
    static func copy(from source: Int32, to target: Int32, meter: inout Meter) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return count == 0 }
            guard (try? LibC.write(target, Array(chunk[0..<count]))) != nil else { return false }
            meter.add(count)
        }
    }

    /// Counts the bytes fed and reports them about once a second.
    struct Meter {
        let report: (@Sendable (UInt64, Double) -> Void)?
        let start = Meter.now()
        var bytes: UInt64 = 0
        var lastReport = 0.0

        init(report: (@Sendable (UInt64, Double) -> Void)?) { self.report = report }

        mutating func add(_ count: Int) {
            bytes += UInt64(count)
            guard let report else { return }
            let seconds = Meter.now() - start
            guard seconds - lastReport >= 1 else { return }
            lastReport = seconds
            report(bytes, seconds)
        }

        static func now() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
    }

    static func message(in errors: Int32) -> String {
        let bytes = (try? LibC.readAll(errors, from: 0)) ?? []
        return String(decoding: bytes.prefix(4096), as: UTF8.self)
    }

    /// The error kind a failed `btrfs receive` means, from its message.
    static func kind(of message: String) -> FSError.Kind {
        if message.contains("File exists") { return .exists }
        if message.contains("cannot find parent subvolume") { return .noEntry }
        if message.contains("Read-only file system") { return .readOnly }
        if message.contains("Operation not permitted") { return .notPermitted }
        if message.contains("Permission denied") { return .accessDenied }
        if message.contains("No space left") { return .noSpace }
        return .ioError
    }
}

extension RealFileSystem {
    public func receive(_ stream: SendStream, in directory: DirectoryHandle) async throws(FSError) {
        var detail: String?
        do throws(FSError) {
            try perform(.receive, name: stream.header.name) { () throws(FSError.Kind) in
                // As SimFS answers, before btrfs receive runs: its ioctls
                // need root (run as a user, it fails earlier, EACCES on
                // the target's /proc link), and a target on another
                // filesystem would fail as EIO, with a message.
                if !isPrivileged { throw .notPermitted }
                if try !isBtrfs(directory.descriptor) { throw .notBtrfs }
                do throws(BtrfsReceive.Failure) {
                    try BtrfsReceive.run(stream, into: directory.descriptor)
                } catch {
                    detail = error.message
                    throw error.kind
                }
            }
        } catch {
            var error = error
            error.detail = detail
            throw error
        }
    }

    /// The `btrfs` tool of btrfs-progs that `receive` runs, or nil when it
    /// is not installed (Debian: `apt-get install btrfs-progs`).
    public static var btrfsTool: String? { BtrfsReceive.tool }
}
