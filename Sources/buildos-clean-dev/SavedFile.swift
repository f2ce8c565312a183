import Foundation
import MachineLayout

/// A file the developers' commands save (a shrunk fuzz case, a replay
/// file): written whole into its directory, made when missing; a failure
/// is one line naming the path and the system's reason.
enum SavedFile {
    struct Failure: Error {
        let message: String
    }

    static func write(_ text: String, to path: String, in directory: String) throws(Failure) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(message: "cannot write \(path): \(reason(error))")
        }
    }

    /// The system's words for a Foundation error: its POSIX error, not
    /// the error object's dump.
    static func reason(_ error: any Error) -> String {
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return error.localizedDescription
    }

    /// Writes `buildos-clean: error: MESSAGE` on standard error, one line
    /// whatever the message holds.
    static func report(_ message: String, level: String = "error") {
        FileHandle.standardError.write(
            Data("buildos-clean: \(level): \(Diagnostic.escapingControlCharacters(message))\n".utf8))
    }
}
