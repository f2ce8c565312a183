import FSProtocol

#if canImport(Glibc)
    import Glibc
#endif

enum StreamReadError: Error {
    /// Reading failed (exit 66).
    case unreadable(String)
    /// Not a send stream (exit 64), with the byte and the reason.
    case malformed(String)
}

/// Reads the start of a btrfs send stream from a descriptor (a file or
/// standard input) before anything is touched: exactly its header and
/// first command, so that the rest can go on to `btrfs receive`.
enum StreamReader {
    static func header(from descriptor: Int32, whole: Bool) throws(StreamReadError) -> SendStream {
        var prefix = try read(descriptor, count: 17 + 10)
        if prefix.count == 17 + 10 {
            let length = Int(prefix[17]) | Int(prefix[18]) << 8 | Int(prefix[19]) << 16 | Int(prefix[20]) << 24
            prefix += try read(descriptor, count: min(length, SendStreamHeader.maximumCommandSize + 1))
        }
        // The header is checked before the rest is read: an input that is
        // not a send stream (`/dev/zero`, `yes |`) is refused at once.
        let stream: SendStream
        do throws(SendStreamError) {
            stream = try SendStream(prefix: prefix, remainder: whole ? nil : descriptor)
        } catch {
            throw .malformed(error.description)
        }
        guard whole else { return stream }
        // A simulated receive holds the whole stream in memory.
        prefix += try read(descriptor, count: maximumSimulatedStream + 1 - prefix.count)
        if prefix.count > maximumSimulatedStream {
            throw .malformed("byte \(maximumSimulatedStream): longer than a simulated receive takes (256 MiB)")
        }
        do throws(SendStreamError) {
            return try SendStream(prefix: prefix)
        } catch {
            throw .malformed(error.description)
        }
    }

    /// The longest stream a simulated tree receives (whole, in memory).
    static let maximumSimulatedStream = 256 << 20

    /// Up to `count` bytes: fewer only at the end of the input.
    static func read(_ descriptor: Int32, count: Int) throws(StreamReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < count {
            let wanted = min(chunk.count, count - bytes.count)
            let got = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, wanted) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .unreadable(String(cString: strerror(errno)))
            }
            if got == 0 { break }
            bytes += chunk[0..<got]
        }
        return bytes
    }
}
