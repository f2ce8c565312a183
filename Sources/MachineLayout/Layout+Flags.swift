/// The flags of a layout entry: a bare word (`ro`) or `name=value` with a
/// value (`owner=1000:1000`).
extension LayoutEntry {
    /// Flags that are a bare word.
    static let bareFlags: Set<String> = ["ro", "received", "default", "nouser_subvol_rm_allowed"]
    /// Flags that take a value, with what the value is.
    static let valuedFlags: [String: String] = ["snapshot-of": "PATH", "owner": "UID:GID", "mode": "OCTAL"]

    /// The flags each kind of entry takes.
    var allowedFlags: Set<String> {
        switch kind {
        case .subvol: ["ro", "received", "default", "snapshot-of", "owner", "mode"]
        case .volume: ["owner", "nouser_subvol_rm_allowed"]
        case .dir, .file: ["owner", "mode"]
        // A symbolic link's mode means nothing on Linux.
        case .link: ["owner"]
        case .tmpfs, .fifo, .mount: []
        }
    }

    mutating func apply(flag: String, line: Int, given: inout Set<String>) throws(LayoutError) {
        let key: String
        let value: String?
        if let equals = flag.utf8.firstIndex(of: UInt8(ascii: "=")) {
            // Cut by bytes: "=" and a combining mark after it are one
            // Character, and the mark is the value's.
            key = String(Substring(flag.utf8[..<equals]))
            value = String(Substring(flag.utf8[flag.utf8.index(after: equals)...]))
        } else {
            key = flag
            value = nil
        }
        guard !key.isEmpty else { throw LayoutError(line: line, message: "flag '\(flag)' has no name") }
        if LayoutEntry.bareFlags.contains(key) {
            guard value == nil else { throw LayoutError(line: line, message: "flag '\(key)' takes no value: '\(flag)'") }
        } else if let form = LayoutEntry.valuedFlags[key] {
            guard let value, !value.isEmpty else {
                throw LayoutError(line: line, message: "flag '\(key)' needs a value: \(key)=\(form)")
            }
        } else {
            throw LayoutError(line: line, message: "unknown flag '\(flag)'")
        }
        guard allowedFlags.contains(key) else {
            throw LayoutError(line: line, message: "flag '\(key)' does not apply to \(kind.rawValue)")
        }
        guard given.insert(key).inserted else { throw LayoutError(line: line, message: "flag '\(key)' is given twice") }
        switch key {
        case "ro": readOnly = true
        case "received": received = true
        case "default": isDefault = true
        case "nouser_subvol_rm_allowed": userSubvolumeRemovalAllowed = false
        case "snapshot-of":
            guard let value, Layout.isValidPath(value) else { throw LayoutError(line: line, message: "snapshot-of needs a path") }
            snapshotOf = Layout.normalized(value)
        case "owner":
            (owner, group) = try LayoutEntry.ids(value ?? "", line: line)
        case "mode":
            guard let value, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }),
                let mode = UInt16(value, radix: 8), mode <= 0o7777
            else {
                throw LayoutError(line: line, message: "mode needs an octal number up to 07777, not '\(value ?? "")'")
            }
            self.mode = mode
        default:
            throw LayoutError(line: line, message: "unknown flag '\(flag)'")
        }
    }

    /// `UID:GID`, or `UID` alone (the group then is the user's number):
    /// decimal numbers below 2^32 - 1, which Linux reserves for "no id".
    static func ids(_ text: String, line: Int) throws(LayoutError) -> (UInt32, UInt32) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let ids = parts.map { part -> UInt32? in
            guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let id = UInt32(part), id != UInt32.max
            else { return nil }
            return id
        }
        guard let first = ids.first, let owner = first, ids.allSatisfy({ $0 != nil }) else {
            throw LayoutError(
                line: line,
                message: "owner needs UID:GID (or UID), decimal numbers below 4294967295, not '\(text)'")
        }
        return (owner, ids.count == 2 ? ids[1] ?? owner : owner)
    }
}
