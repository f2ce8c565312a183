import FSProtocol

/// Reading and writing the layout format.
extension Layout {
    /// The longest name Linux stores in a directory entry (NAME_MAX).
    public static let maximumNameBytes = 255
    /// The longest path a system call takes, and the longest link target
    /// Linux stores (PATH_MAX, less its NUL).
    public static let maximumPathBytes = 4095

    /// Reads a layout; errors name the line. Lines end in LF or CRLF; a
    /// carriage return anywhere else is refused rather than read into a
    /// name.
    public static func parse(_ text: String) throws(LayoutError) -> Layout {
        var layout = Layout()
        var sawEntry = false
        var sawRoot = false
        for (index, line) in lines(of: text).enumerated() {
            let number = index + 1
            let tokens = try tokenize(line, line: number)
            guard let keyword = tokens.first else { continue }
            if keyword == "root" {
                guard !sawEntry else { throw LayoutError(line: number, message: "root must come before the entries") }
                guard !sawRoot else { throw LayoutError(line: number, message: "root is given twice") }
                sawRoot = true
                guard tokens.count >= 2, tokens[1].startsWithBytes("/") else {
                    throw LayoutError(line: number, message: "root needs an absolute path")
                }
                if normalized(tokens[1]) != "/", let problem = pathProblem(tokens[1], absolute: tokens[1]) {
                    throw LayoutError(line: number, message: "invalid root '\(tokens[1])': \(problem)")
                }
                layout.root = normalized(tokens[1])
                for flag in tokens.dropFirst(2) {
                    guard flag == "btrfs" else { throw LayoutError(line: number, message: "unknown root flag '\(flag)'") }
                    guard !layout.rootIsBtrfs else { throw LayoutError(line: number, message: "flag 'btrfs' is given twice") }
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
            if let problem = pathProblem(path, absolute: layout.absolutePath(normalized(path))) {
                throw LayoutError(line: number, message: "invalid path '\(path)': \(problem)")
            }
            var entry = LayoutEntry(kind, normalized(path))
            var rest = Array(tokens.dropFirst(2))
            if kind == .link {
                guard rest.count >= 2, rest[0] == "->" else {
                    throw LayoutError(line: number, message: "link needs '-> TARGET'")
                }
                if let problem = targetProblem(rest[1]) {
                    throw LayoutError(line: number, message: "invalid link target: \(problem)")
                }
                entry.target = rest[1]
                rest.removeFirst(2)
            }
            var given: Set<String> = []
            for flag in rest { try entry.apply(flag: flag, line: number, given: &given) }
            if let source = entry.snapshotOf,
                let problem = pathProblem(source, absolute: layout.absolutePath(source))
            {
                throw LayoutError(line: number, message: "invalid snapshot-of path '\(source)': \(problem)")
            }
            if entry.snapshotOf != nil, entry.received {
                throw LayoutError(
                    line: number,
                    message: "'received' does not combine with snapshot-of: a snapshot takes its source's "
                        + "received UUID when read-only, none when writable")
            }
            layout.entries.append(entry)
            layout.sourceLines.append(number)
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

    /// The lines of a text as Unicode scalars, each without its LF or CRLF.
    /// (Split by scalars: in Swift `"\r\n"` is one `Character`, which a
    /// split on `"\n"` does not see.)
    static func lines(of text: String) -> [ArraySlice<Unicode.Scalar>] {
        var lines = Array(text.unicodeScalars).split(separator: "\n", omittingEmptySubsequences: false)
        if text.unicodeScalars.last == "\n" { lines.removeLast() }
        return lines.map { $0.last == "\r" ? $0.dropLast() : $0 }
    }

    static func normalized(_ path: String) -> String {
        let absolute = path.startsWithBytes("/")
        let joined = EntryName.components(of: path).joined(separator: "/")
        return absolute ? "/" + joined : joined
    }

    static func isValidPath(_ path: String) -> Bool {
        pathProblem(path, absolute: path.startsWithBytes("/") ? path : "/" + path) == nil
    }

    /// Why a path as written (absolute as `absolute`) cannot name an entry
    /// on Linux, or nil.
    public static func pathProblem(_ path: String, absolute: String? = nil) -> String? {
        let absolute = absolute ?? path
        let components = EntryName.components(of: path)
        if components.isEmpty { return "no entry name" }
        if path.utf8.contains(0) { return "it holds a NUL byte" }
        if let dots = components.first(where: { $0.utf8.elementsEqual(".".utf8) || $0.utf8.elementsEqual("..".utf8) }) {
            return "it holds '\(dots)'"
        }
        if let long = components.first(where: { $0.utf8.count > maximumNameBytes }) {
            return "the name '\(long.prefix(16))...' is \(long.utf8.count) bytes long (at most \(maximumNameBytes))"
        }
        if absolute.utf8.count > maximumPathBytes {
            return "the path is \(absolute.utf8.count) bytes long (at most \(maximumPathBytes))"
        }
        return nil
    }

    /// Why a link target cannot be stored on Linux, or nil.
    static func targetProblem(_ target: String) -> String? {
        if target.isEmpty { return "it is empty" }
        if target.utf8.contains(0) { return "it holds a NUL byte" }
        if target.utf8.count > maximumPathBytes {
            return "it is \(target.utf8.count) bytes long (at most \(maximumPathBytes))"
        }
        return nil
    }

    static func quoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { $0.value > 32 && $0 != "\"" && $0 != "\\" && $0 != "#" }
        if plain { return word }
        var result = "\""
        for scalar in word.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Splits a line into words: blanks (space, tab) separate, `#` starts a
    /// comment, double quotes hold a word with blanks and the escapes `\"`,
    /// `\\`, `\n`, `\r`, `\t`.
    static func tokenize(_ line: ArraySlice<Unicode.Scalar>, line number: Int) throws(LayoutError) -> [String] {
        var tokens: [String] = []
        var current = String.UnicodeScalarView()
        var inWord = false
        var iterator = line.makeIterator()
        while let scalar = iterator.next() {
            if scalar == "\0" { throw LayoutError(line: number, message: "NUL byte in the line") }
            if scalar == "\r" {
                throw LayoutError(
                    line: number, message: "carriage return inside a line (lines end in LF or CRLF; write \\r in quotes)")
            }
            if scalar == "\"" {
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "\"" {
                        closed = true
                        break
                    }
                    if next == "\0" { throw LayoutError(line: number, message: "NUL byte in the line") }
                    if next == "\r" {
                        throw LayoutError(line: number, message: "carriage return inside quotes (write \\r)")
                    }
                    if next == "\\" {
                        switch iterator.next() {
                        case "n": current.append("\n")
                        case "r": current.append("\r")
                        case "t": current.append("\t")
                        case "\"": current.append("\"")
                        case "\\": current.append("\\")
                        case .some(let escaped):
                            throw LayoutError(
                                line: number, message: "unknown escape '\\\(escaped)' (expected \\\", \\\\, \\n, \\r or \\t)")
                        case nil: throw LayoutError(line: number, message: "unfinished escape")
                        }
                    } else {
                        current.append(next)
                    }
                }
                if !closed { throw LayoutError(line: number, message: "unterminated quote") }
                continue
            }
            if scalar == "#", !inWord { break }
            if scalar == " " || scalar == "\t" {
                if inWord { tokens.append(String(current)) }
                current = String.UnicodeScalarView()
                inWord = false
                continue
            }
            current.append(scalar)
            inWord = true
        }
        if inWord { tokens.append(String(current)) }
        return tokens
    }
}
