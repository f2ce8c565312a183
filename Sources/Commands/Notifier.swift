#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Runs the operator's notification command, as the original mailed its
/// lines: the summary as the last argument, the lines on standard input.
///
/// The command runs in a process group of its own, with its output (both
/// streams) copied to the tool's standard error, so that standard output
/// stays the report. The tool waits for the shell it started, never for
/// the end of the output pipe: a background child the command leaves
/// behind keeps that pipe open and is not waited for. Past `timeout`
/// seconds the whole group is killed.
struct Notifier {
    let command: String
    /// Seconds the command may run.
    let timeout: Int

    /// Runs the command; a failure is reported on standard error and
    /// changes nothing else.
    func send(summary: String, body: String) {
        // A command that does not read its input must not kill us with
        // SIGPIPE: the write then fails, which is all right.
        signal(SIGPIPE, SIG_IGN)
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard makePipe(&input) else { return warn("cannot run notify command: \(errorText())") }
        guard makePipe(&output) else {
            close(input[0])
            close(input[1])
            return warn("cannot run notify command: \(errorText())")
        }
        closeOnExec()
        let pid = spawn(input: input[0], output: output[1], summary: summary)
        close(input[0])
        close(output[1])
        defer {
            close(output[0])
            if input[1] >= 0 { close(input[1]) }
        }
        guard let pid else { return warn("cannot run notify command \(command): \(errorText())") }
        _ = fcntl(input[1], F_SETFL, fcntl(input[1], F_GETFL) | O_NONBLOCK)
        _ = fcntl(output[0], F_SETFL, fcntl(output[0], F_GETFL) | O_NONBLOCK)
        let outcome = supervise(pid: pid, input: &input[1], output: output[0], body: Array(body.utf8))
        switch outcome {
        case .exited(0): break
        case .exited(let status): warn("notify command failed with status \(status): \(command)")
        case .signalled(let signal): warn("notify command killed by signal \(signal): \(command)")
        case .timedOut: warn("notify command still running after \(timeout) s, killed: \(command)")
        }
        if case .exited = outcome, outputStillHeld(output[0]) {
            warn("notify command left a background process holding its output; not waiting for it: \(command)")
        }
    }

    enum Outcome: Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
    }

    /// The shell text run for `command`: the summary is the shell's `$1`,
    /// and is also appended as the command's last argument (`"$@"`) when
    /// the command ends in a word that can take one, such as
    /// `/usr/local/sbin/mail-admin` or `f() { ...; }; f`. Appended after
    /// a command ending in `&`, `;`, `|`, `)` or `}`, or in `fi`, `done` or
    /// `esac`, it would be a command of its own (the summary run as a
    /// command, after `mail admin &`) or a syntax error (after
    /// `(sleep 100 &)`): such a command reads the summary from `"$1"`.
    static func script(_ command: String) -> String {
        var trimmed = Substring(command)
        while let last = trimmed.unicodeScalars.last, last == " " || last == "\t" || last == "\n" {
            trimmed = trimmed.dropLast()
        }
        let ends = ["&", ";", "|", ")", "}"].contains { trimmed.hasSuffix($0) }
        let lastWord = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == ";" }).last
        let keyword = lastWord.map { ["fi", "done", "esac"].contains(String($0)) } ?? false
        // Appended to the command without its trailing blanks: after a
        // line break it would be a command of its own. (After a line
        // continuation, a backslash and its line break, as it is.)
        if ends || keyword { return command }
        return (trimmed.hasSuffix("\\") ? command : String(trimmed)) + " \"$@\""
    }

    /// Starts `/bin/sh -c COMMAND` as the leader of a new process group,
    /// with SIGPIPE back to its default.
    private func spawn(input: Int32, output: Int32, summary: String) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        let arguments = ["/bin/sh", "-c", Notifier.script(command), "buildos-clean-notify", summary]
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/bin/sh", &actions, &attributes, &cArguments, environ)
        if status != 0 {
            errno = status
            return nil
        }
        return pid
    }

    /// Feeds the body, copies the output to standard error, and waits for
    /// the shell to end or the time to run out.
    private func supervise(pid: pid_t, input: inout Int32, output: Int32, body: [UInt8]) -> Outcome {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var written = 0
        if body.isEmpty {
            close(input)
            input = -1
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var status: Int32 = 0
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid {
                copyAvailable(from: output, buffer: &buffer)
                // The group's stragglers keep running; the shell is done.
                return exitStatus(status)
            }
            if waited < 0, errno != EINTR { return .exited(-1) }
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                kill(-pid, SIGKILL)
                var ignored: Int32 = 0
                while waitpid(pid, &ignored, 0) < 0, errno == EINTR {}
                copyAvailable(from: output, buffer: &buffer)
                return .timedOut
            }
            var fds = [pollfd(fd: output, events: Int16(POLLIN), revents: 0)]
            if input >= 0 { fds.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
            // Short slices: the shell's exit is noticed by waitpid, not poll.
            _ = poll(&fds, nfds_t(fds.count), 50)
            if fds[0].revents & Int16(POLLIN) != 0 { copyAvailable(from: output, buffer: &buffer) }
            if input >= 0, fds.count > 1, fds[1].revents != 0 {
                let count = body[written...].withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
                if count > 0 { written += count }
                if written == body.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
                    close(input)
                    input = -1
                }
            }
        }
    }

    private func exitStatus(_ status: Int32) -> Outcome {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which do not import.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// Copies what the output pipe holds now to standard error, without
    /// waiting for more.
    private func copyAvailable(from fd: Int32, buffer: inout [UInt8]) {
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                StandardError.write(bytes: Array(buffer[0..<count]))
                continue
            }
            if count < 0, errno == EINTR { continue }
            return
        }
    }

    /// Whether some process still holds the output pipe open (a read
    /// would wait rather than see its end).
    private func outputStillHeld(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = Glibc.read(fd, &byte, 1)
        return count > 0 || (count < 0 && errno == EAGAIN)
    }

    /// Marks every descriptor past standard error close-on-exec, so that
    /// the command (and any child it leaves behind) holds none the tool
    /// inherited, such as the write end of a pipe its caller reads to its
    /// end. (`posix_spawn_file_actions_addclosefrom_np` is a GNU name that
    /// does not import.)
    private func closeOnExec() {
        guard let directory = opendir("/proc/self/fd") else { return }
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), fd > 2 { descriptors.append(fd) }
        }
        // The listing's own descriptor is gone once it is closed.
        closedir(directory)
        for fd in descriptors {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// A pipe whose ends close on exec (the child gets its own copies by
    /// dup2). `pipe2` is a GNU name that does not import.
    private func makePipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    private func errorText() -> String { String(cString: strerror(errno)) }

    private func warn(_ message: String) {
        StandardError.write("buildos-clean: warning: \(message)\n")
    }
}
