import Foundation

/// Runs the operator's notification command, as the original mailed its
/// lines: the summary as the last argument, the lines on standard input.
struct Notifier {
    let command: String

    /// Runs the command; a failure is reported on standard error and
    /// changes nothing else.
    func send(summary: String, body: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " \"$@\"", "buildos-clean-notify", summary]
        let input = Pipe()
        process.standardInput = input
        // A command that does not read its input must not kill us with
        // SIGPIPE: the write then fails, which is all right.
        signal(SIGPIPE, SIG_IGN)
        do {
            try process.run()
            try? input.fileHandleForWriting.write(contentsOf: Data(body.utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            if process.terminationReason != .exit || process.terminationStatus != 0 {
                warn("notify command failed with status \(process.terminationStatus): \(command)")
            }
        } catch {
            warn("cannot run notify command \(command): \(error.localizedDescription)")
        }
    }

    private func warn(_ message: String) {
        FileHandle.standardError.write(Data("buildos-clean: warning: \(message)\n".utf8))
    }
}
