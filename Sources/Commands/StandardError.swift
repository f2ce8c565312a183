import CBtrfsUtil

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The tool's standard error, written with `write(2)`: the production
/// binary links no Foundation, so no `FileHandle`.
public enum StandardError {
    /// Writes text whole (retried on a short write or `EINTR`); a failure
    /// to write a diagnostic is ignored, as there is nowhere to report it.
    public static func write(_ text: String) {
        write(bytes: Array(text.utf8))
    }

    /// Writes bytes whole, as `write(_:)` does text.
    public static func write(bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if count > 0 {
                offset += count
            } else if count < 0, errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

/// The tool's standard output, as `print` writes it (C's buffered stdout).
public enum StandardOutput {
    /// Flushes standard output and exits with `status`. When anything
    /// written to it was lost (a full disk, `/dev/full`) it says so on
    /// standard error, whatever the status: a halting cleanup's report
    /// lost unseen would leave an operator with a halted host and no
    /// line. A command that succeeded then exits 74, so that no script
    /// takes a cut report, or a lost case file, for a whole one; any other
    /// status stands (a halt stays a halt). A closed pipe ends the process
    /// with SIGPIPE before this, as for any tool.
    public static func finish(commandName: String, status: Int32 = 0) -> Never {
        let error = buildos_finish_stdout()
        guard error != 0 else { exit(status) }
        let reason = error > 0 ? String(cString: strerror(error)) : "a write failed"
        StandardError.write("\(commandName): error: cannot write standard output: \(reason)\n")
        exit(status == 0 ? ExitStatus.outputFailed.rawValue : status)
    }
}
