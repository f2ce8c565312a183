import ArgumentParser
import Commands
import MachineLayout
import SimFS

/// The developers' commands' input files (a scenario, a layout), read
/// and their errors said one way: `FILE:LINE: message`, exit 64; 66 when
/// the file cannot be read.
enum InputFileErrors {
    /// The file's text; `what` ("layout") names it in the messages.
    static func text(of file: String, what: String? = nil) throws -> String {
        do {
            return try InputFile.read(file)
        } catch {
            switch error {
            case .unreadable(let reason):
                throw fail("cannot read \(what.map { $0 + " " } ?? "")\(file): \(reason)", .noInput)
            case .malformed(let line, let reason):
                throw fail("\(file):\(line.map { "\($0):" } ?? "") \(what.map { $0 + ": " } ?? "")\(reason)", .usage)
            }
        }
    }

    /// A layout's error, located in its file.
    static func message(_ error: LayoutError, in file: String) -> String { "\(file):\(error.line): \(error.message)" }

    /// Why a layout cannot be built on SimFS, located in its file.
    static func message(_ error: SetupError, in file: String) -> String {
        "\(file):\(error.line.map { "\($0):" } ?? "") \(error.path): \(error.reason)"
    }

    /// Says `message` on standard error; the exit status to throw.
    static func fail(_ message: String, _ status: ExitStatus) -> ExitCode {
        SavedFile.report(message)
        return status.code
    }
}
