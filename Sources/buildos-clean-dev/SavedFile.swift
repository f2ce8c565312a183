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
        try makeDirectory(directory)
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(message: "cannot write \(path): \(reason(error))")
        }
    }

    /// Makes a directory and its missing parents, one `mkdir` at a time,
    /// so that a failure names the path and the system's reason (a file
    /// in the way: "Not a directory").
    static func makeDirectory(_ directory: String) throws(Failure) {
        var path = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            path += (path.isEmpty || path.hasSuffix("/") ? "" : "/") + component
            if mkdir(path, 0o777) != 0, errno != EEXIST {
                throw Failure(message: "cannot make directory \(path): \(String(cString: strerror(errno)))")
            }
        }
        var status = stat()
        if stat(directory, &status) != 0 {
            throw Failure(message: "cannot make directory \(directory): \(String(cString: strerror(errno)))")
        }
        if status.st_mode & S_IFMT != S_IFDIR {
            throw Failure(message: "cannot make directory \(directory): \(String(cString: strerror(EEXIST))) (not a directory)")
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
