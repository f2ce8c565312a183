import ArgumentParser

/// The exit statuses of `buildos-clean`, one table for help text and docs.
public enum ExitStatus: Int32, CaseIterable {
    /// Nothing to clean, or cleaned (warnings included).
    case success = 0
    /// Something failed or is invalid: the host must halt (the original's
    /// status).
    case halted = 1
    /// Bad arguments or configuration (invalid toolchain, no toolchains,
    /// an invalid layout or scenario file); nothing was touched.
    case usage = 64
    /// An input file (layout, kernel command line) cannot be read.
    case noInput = 66
    /// Standard output could not be written (a full disk, `/dev/full`): a
    /// script would read a cut report as a whole one.
    case outputFailed = 74
    /// Another buildos-clean run holds the lock (`--wait` ran out).
    case busy = 75

    public var summary: String {
        switch self {
        case .success: "success: nothing to clean, or cleaned (warnings included)"
        case .halted: "entries failed or are invalid: the host halts, as the original did"
        case .usage: "bad arguments or configuration; nothing was touched"
        case .noInput: "an input file (layout, kernel command line) cannot be read"
        case .outputFailed: "standard output could not be written (the command itself ran; see standard error)"
        case .busy: "another buildos-clean run (a machine command) holds the lock; nothing was touched (see --wait)"
        }
    }

    public static var table: String {
        "Exit status:\n" + allCases.map { "  \($0.rawValue)\t\($0.summary)" }.joined(separator: "\n")
    }

    public var code: ExitCode { ExitCode(rawValue) }
}
