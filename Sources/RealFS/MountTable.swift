/// The mount points of this process's mount namespace, from
/// `/proc/self/mountinfo`.
enum MountTable {
    /// The mount point field (the fifth) of each line, unescaped.
    static func mountPoints(in mountinfo: String) -> [String] {
        mountinfo.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { return nil }
            return unescape(fields[4])
        }
    }

    /// The mount points at `path` or below it, sorted.
    static func mountPoints(in mountinfo: String, under path: String) -> [String] {
        let prefix = path == "/" ? "/" : path + "/"
        return mountPoints(in: mountinfo).filter { $0 == path || $0.hasPrefix(prefix) }.sorted()
    }

    /// Undoes the kernel's octal escapes (`\040` for a blank, `\011`,
    /// `\012`, `\134`).
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(field.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "\\"), iterator.count >= 3,
                let value = UInt8(String(decoding: iterator.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
