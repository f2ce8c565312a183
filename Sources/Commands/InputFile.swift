#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reading an input file (a layout, a kernel command line, a scenario):
/// a regular file of UTF-8 text of bounded size, so that neither a device
/// such as `/dev/zero` nor a FIFO without a writer can hold the tool.
public enum InputFile {
    /// The largest input file read: far above any real layout, kernel
    /// command line or scenario.
    public static let maximumBytes = 16 << 20

    public enum Failure: Error {
        /// The file cannot be opened or read (exit 66).
        case unreadable(String)
        /// The file is read but is not text the tool accepts (exit 64);
        /// the line where that shows, when there is one.
        case malformed(line: Int?, String)
    }

    /// The file's text.
    public static func read(_ path: String) throws(Failure) -> String {
        // Non-blocking, so that opening a FIFO does not wait for a writer.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 { throw .unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .unreadable(String(cString: strerror(errno))) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .unreadable("not a regular file") }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > maximumBytes {
                throw .malformed(line: nil, "larger than \(maximumBytes) bytes")
            }
        }
        return try text(bytes)
    }

    /// The bytes as text, or the line of the first byte that is not UTF-8.
    /// A byte order mark at the start, which some editors write, is no
    /// part of the text (it would read as an invisible first character of
    /// the first word).
    static func text(_ bytes: [UInt8]) throws(Failure) -> String {
        let bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .error: break loop
            case .emptyInput: break loop
            }
        }
        let line = bytes[..<min(offset, bytes.count)].count { $0 == UInt8(ascii: "\n") } + 1
        throw .malformed(line: line, "not UTF-8 text")
    }
}
