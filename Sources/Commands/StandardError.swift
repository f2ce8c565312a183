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
