/// Where the parts of a scenario file are: the line of each key, item and
/// text block, so that an error about any of them names its line.
public struct ScenarioMarks: Hashable, Sendable {
    /// A text block (the layout, the expected end state) in the file.
    struct Block: Hashable, Sendable {
        /// The file line of the block's first line.
        var first: Int
        /// A block scalar (`|`): its lines follow one another in the file.
        /// Any other style: every line maps to `first`.
        var follows: Bool
    }

    /// Lines by key path: `strategy`, `actors[2]`, `actors[2].toolchain`,
    /// `faults[0].after.actor`, `expect.violation`.
    var lines: [String: Int] = [:]
    /// The text blocks by key path: `layout`, `expect.end-state`.
    var blocks: [String: Block] = [:]

    public init() {}

    /// The line of a key path, or of the nearest enclosing one that has
    /// one.
    public func line(_ path: String) -> Int? {
        var path = Substring(path)
        while true {
            if let line = lines[String(path)] { return line }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            path = path[..<cut]
        }
    }

    /// The file line of line `number` of a text block (its first line
    /// when the number is unknown).
    public func line(ofBlock path: String, line number: Int?) -> Int? {
        guard let block = blocks[path] else { return line(path) }
        guard let number, block.follows else { return block.first }
        return block.first + number - 1
    }

    /// What a message about line `number` of a text block adds to its file
    /// line: nothing for a block scalar, whose lines are the file's; for a
    /// quoted text, which line of the text it is.
    public func textLine(inBlock path: String, line number: Int?) -> String {
        guard let number, let block = blocks[path], !block.follows else { return "" }
        return " (line \(number) of the text)"
    }
}
