import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The command line as the kernel passed it, before the argument parser
/// reads it as text.
public enum Arguments {
    /// Exits 64 when an argument is not valid UTF-8. The argument parser
    /// reads each one as a `String`, repairing such bytes to U+FFFD: a
    /// `--root` of `/srv/r\xff` would name `/srv/r\u{FFFD}`, another
    /// directory, which the cleanup would then clean. Names are bytes, but
    /// the command line takes text: such a path cannot be given.
    public static func refuseUndecodable(commandName: String) {
        for index in 1..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index] else { continue }
            if String(validatingCString: argument) != nil { continue }
            let bytes = UnsafeBufferPointer(start: argument, count: strlen(argument)).map { UInt8(bitPattern: $0) }
            StandardError.write(
                "Error: argument \(index) is not valid UTF-8: \(EntryName.rendering(of: bytes)) "
                    + "(arguments are read as text; a path with such bytes cannot be given)\n"
                    + "Usage: see '\(commandName) --help'\n")
            exit(64)
        }
    }
}
