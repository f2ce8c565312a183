/// Reading and writing the layout format.
extension Layout {
    /// Reads a layout; errors name the line.
    public static func parse(_ text: String) throws(LayoutError) -> Layout {
        var layout = Layout()
        var sawEntry = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let tokens = try tokenize(rawLine, line: number)
            guard let keyword = tokens.first else { continue }
            if keyword == "root" {
                guard !sawEntry else { throw LayoutError(line: number, message: "root must come before the entries") }
                guard tokens.count >= 2, tokens[1].hasPrefix("/") else {
                    throw LayoutError(line: number, message: "root needs an absolute path")
                }
                layout.root = normalized(tokens[1])
                for flag in tokens.dropFirst(2) {
                    guard flag == "btrfs" else { throw LayoutError(line: number, message: "unknown root flag '\(flag)'") }
                    layout.rootIsBtrfs = true
                }
                continue
            }
            guard let kind = LayoutEntry.Kind(rawValue: keyword) else {
                let kinds = LayoutEntry.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw LayoutError(line: number, message: "unknown kind '\(keyword)' (expected root, \(kinds))")
            }
            guard tokens.count >= 2 else { throw LayoutError(line: number, message: "\(keyword) needs a path") }
            let path = tokens[1]
            guard isValidPath(path) else { throw LayoutError(line: number, message: "invalid path '\(path)'") }
            var entry = LayoutEntry(kind, normalized(path))
            var rest = Array(tokens.dropFirst(2))
            if kind == .link {
                guard rest.count >= 2, rest[0] == "->" else {
                    throw LayoutError(line: number, message: "link needs '-> TARGET'")
                }
                entry.target = rest[1]
                rest.removeFirst(2)
            }
            for flag in rest { try entry.apply(flag: flag, line: number) }
            layout.entries.append(entry)
            sawEntry = true
        }
        return layout
    }

    /// The layout as text, one line per entry, in its order.
    public var text: String {
        var lines = ["root \(Layout.quoted(root))" + (rootIsBtrfs ? " btrfs" : "")]
        for entry in entries {
            let keyword = entry.kind.rawValue
            var words = [keyword + String(repeating: " ", count: max(0, 6 - keyword.count)), Layout.quoted(entry.path)]
            if let target = entry.target { words += ["->", Layout.quoted(target)] }
            if entry.readOnly { words.append("ro") }
            if entry.received { words.append("received") }
            if entry.isDefault { words.append("default") }
            if let source = entry.snapshotOf { words.append("snapshot-of=" + Layout.quoted(source)) }
            if entry.owner != 0 || entry.group != 0 { words.append("owner=\(entry.owner):\(entry.group)") }
            if let mode = entry.mode { words.append("mode=0" + String(mode, radix: 8)) }
            if entry.kind == .volume, !entry.userSubvolumeRemovalAllowed { words.append("nouser_subvol_rm_allowed") }
            lines.append(words.joined(separator: " "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func normalized(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        let joined = path.split(separator: "/").joined(separator: "/")
        return absolute ? "/" + joined : joined
    }

    static func isValidPath(_ path: String) -> Bool {
        let components = path.split(separator: "/")
        return !components.isEmpty && components.allSatisfy { $0 != "." && $0 != ".." }
    }

    static func quoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { $0.value > 32 && $0 != "\"" && $0 != "\\" && $0 != "#" }
        if plain { return word }
        var result = "\""
        for character in word {
            switch character {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default: result.append(character)
            }
        }
        return result + "\""
    }

    /// Splits a line into words: blanks separate, `#` starts a comment,
    /// double quotes hold a word with blanks.
    static func tokenize(_ line: Substring, line number: Int) throws(LayoutError) -> [String] {
        var tokens: [String] = []
        var current = ""
        var inWord = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            if character == "\"" {
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "\"" {
                        closed = true
                        break
                    }
                    if next == "\\" {
                        switch iterator.next() {
                        case "n": current.append("\n")
                        case "t": current.append("\t")
                        case .some(let escaped): current.append(escaped)
                        case nil: throw LayoutError(line: number, message: "unfinished escape")
                        }
                    } else {
                        current.append(next)
                    }
                }
                if !closed { throw LayoutError(line: number, message: "unterminated quote") }
                continue
            }
            if character == "#", !inWord { break }
            if character == " " || character == "\t" || character == "\r" {
                if inWord { tokens.append(current) }
                current = ""
                inWord = false
                continue
            }
            current.append(character)
            inWord = true
        }
        if inWord { tokens.append(current) }
        return tokens
    }
}

extension LayoutEntry {
    mutating func apply(flag: String, line: Int) throws(LayoutError) {
        let (key, value) = flag.split(separator: "=", maxSplits: 1).map(String.init).pair
        switch key {
        case "ro": readOnly = true
        case "received": received = true
        case "default": isDefault = true
        case "nouser_subvol_rm_allowed": userSubvolumeRemovalAllowed = false
        case "snapshot-of":
            guard let value, Layout.isValidPath(value) else { throw LayoutError(line: line, message: "snapshot-of needs a path") }
            snapshotOf = Layout.normalized(value)
        case "owner":
            let ids = (value ?? "").split(separator: ":", maxSplits: 1).map { UInt32($0) }
            guard let first = ids.first, let owner = first, ids.count <= 2, ids.last.map({ $0 != nil }) ?? false else {
                throw LayoutError(line: line, message: "owner needs UID or UID:GID")
            }
            self.owner = owner
            self.group = ids.count == 2 ? ids[1] ?? owner : owner
        case "mode":
            guard let value, let mode = UInt16(value, radix: 8), mode <= 0o7777 else {
                throw LayoutError(line: line, message: "mode needs an octal number")
            }
            self.mode = mode
        default:
            throw LayoutError(line: line, message: "unknown flag '\(flag)'")
        }
        let allowed: Set<String> =
            switch kind {
            case .subvol: ["ro", "received", "default", "snapshot-of", "owner", "mode"]
            case .volume: ["owner", "nouser_subvol_rm_allowed"]
            case .dir, .file: ["owner", "mode"]
            // A symbolic link's mode means nothing on Linux.
            case .link: ["owner"]
            case .tmpfs, .fifo, .mount: []
            }
        guard allowed.contains(key) else { throw LayoutError(line: line, message: "flag '\(key)' does not apply to \(kind.rawValue)") }
    }
}

extension Array where Element == String {
    fileprivate var pair: (String, String?) { (self[0], count > 1 ? self[1] : nil) }
}
