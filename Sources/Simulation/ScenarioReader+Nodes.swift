import Cleanup
import Yams

/// The walk over the composed document: each mapping's keys checked
/// against what it may hold, each value against its type.
struct NodeReader {
    var marks = ScenarioMarks()
    /// The lines where a plain or quoted value written over several lines
    /// starts (`EventScan`).
    var foldedLines: Set<Int> = []

    mutating func scenario(_ node: Node) throws(ScenarioError) -> Scenario {
        let fields = try Fields(node, path: "", what: "the scenario", allowed: ScenarioReader.scenarioKeys, into: &marks)
        let layout = try fields.required("layout")
        let expect = try fields.required("expect")
        var scenario = Scenario(
            name: try fields.text("name", required: true) ?? "",
            description: try fields.text("description", required: true) ?? "",
            layout: try block(layout, path: "layout"),
            toolchains: try fields.texts("toolchains", required: true) ?? [],
            actors: try actors(try fields.required("actors"), path: "actors"),
            expect: try expectation(expect))
        scenario.faults = try fields.node("faults").map { node throws(ScenarioError) in try faults(node) }
        scenario.afterHostCrash = try fields.node("after-host-crash").map { node throws(ScenarioError) in
            try actors(node, path: "after-host-crash")
        }
        scenario.strategy = try fields.word("strategy").map { word throws(ScenarioError) in
            guard let strategy = StrategyName(rawValue: word) else {
                throw fields.fail("strategy is random, pct, exhaustive or replay, not '\(word)'", at: "strategy")
            }
            return strategy
        }
        scenario.schedules = try fields.integer("schedules")
        scenario.seed = try fields.unsigned("seed")
        scenario.preemptionBound = try fields.integer("preemption-bound")
        scenario.pctDepth = try fields.integer("pct-depth")
        scenario.maxSteps = try fields.integer("max-steps")
        scenario.timeLimit = try fields.integer("time-limit")
        scenario.commitInterval = try fields.integer("commit-interval")
        scenario.schedule = try fields.text("schedule")
        return scenario
    }

    /// A text block's value and where its first line is: a block scalar
    /// (`|`) starts on the line after its key.
    mutating func block(_ node: Node, path: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = node else {
            throw ScenarioError("'\(path)' must be text (a block such as '\(path): |')", line: node.mark?.line)
        }
        let line = node.mark?.line ?? 1
        // Folding joins a layout's lines into others: never what is meant.
        if scalar.style == .folded {
            throw ScenarioError(
                "'\(path)' is a folded block ('>'), which joins its lines: write it as a literal block ('\(path): |')",
                line: line)
        }
        // Plain or quoted over several lines: folded, so that the lines
        // of a layout run into one another ('subvol v/m/m-1' and 'ro'
        // on the next line make one entry).
        if foldedLines.contains(line) {
            throw ScenarioError(
                "'\(path)' is written over several lines without '|', which folds them into one: "
                    + "write it as a literal block ('\(path): |')",
                line: line)
        }
        let isBlock = scalar.style == .literal
        marks.blocks[path] = ScenarioMarks.Block(first: isBlock ? line + 1 : line, follows: scalar.style == .literal)
        return scalar.string
    }

    mutating func actors(_ node: Node, path: String) throws(ScenarioError) -> [ActorSpec] {
        let items = try Fields.list(node, path: path, into: &marks)
        var actors: [ActorSpec] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let fields = try Fields(item, path: itemPath, what: "an actor", allowed: nil, into: &marks)
            let name = try fields.text("name", required: true) ?? ""
            let word = try fields.word("kind", required: true) ?? ""
            guard let kind = ActorSpec.Kind(rawValue: word) else {
                throw fields.fail(
                    "actor \(name): kind is cleanup, original-cleanup, agent, admin, script or command, not '\(word)'", at: "kind")
            }
            let article = word.first.map { "aeiou".contains($0) } == true ? "an" : "a"
            try fields.allow(
                ["name", "kind", "start", "user"] + (ScenarioReader.actorKeys[kind] ?? []), what: "\(article) \(word) actor")
            var actor = ActorSpec(name: name, kind: kind)
            actor.start = try fields.integer("start")
            actor.user = try fields.unsigned("user").map { value throws(ScenarioError) in
                guard value < UInt64(UInt32.max) else {
                    throw fields.fail("user is a number below 4294967295, not \(value)", at: "user")
                }
                return UInt32(value)
            }
            actor.mode = try fields.word("mode").map { word throws(ScenarioError) in
                guard let mode = CleanupMode(rawValue: word) else {
                    throw fields.fail("mode is boot or live, not '\(word)'", at: "mode")
                }
                return mode
            }
            actor.toolchain = try fields.text("toolchain")
            actor.builds = try fields.integer("builds")
            actor.buildSeconds = try fields.integer("build-seconds")
            actor.bootstrapSeconds = try fields.integer("bootstrap-seconds")
            actor.shellSnapshots = try fields.boolean("shell-snapshots")
            actor.pollSeconds = try fields.integer("poll-seconds")
            actor.procedure = try fields.word("procedure")
            actor.machine = try fields.text("machine")
            actor.revision = try fields.integer("revision")
            actor.from = try fields.integer("from")
            actor.to = try fields.integer("to")
            actor.deleteOld = try fields.boolean("delete-old")
            actor.pitfalls = try fields.texts("pitfalls")
            actor.steps = try fields.texts("steps")
            actor.command = try fields.word("command")
            actor.removeOld = try fields.boolean("remove-old")
            actor.timeout = try fields.integer("timeout")
            actors.append(actor)
        }
        return actors
    }

    mutating func faults(_ node: Node) throws(ScenarioError) -> [FaultSpec] {
        let items = try Fields.list(node, path: "faults", into: &marks)
        var faults: [FaultSpec] = []
        for (index, item) in items.enumerated() {
            let path = "faults[\(index)]"
            let fields = try Fields(item, path: path, what: "a fault", allowed: nil, into: &marks)
            let word = try fields.word("kind", required: true) ?? ""
            guard let kind = FaultSpec.Kind(rawValue: word) else {
                throw fields.fail("a fault's kind is crash, host-crash or error, not '\(word)'", at: "kind")
            }
            try fields.allow(["kind"] + (ScenarioReader.faultKeys[kind] ?? []), what: "a \(word) fault")
            var fault = FaultSpec(kind: kind)
            fault.actor = try fields.text("actor")
            fault.operation = try fields.word("operation")
            fault.path = try fields.text("path")
            fault.error = try fields.word("error")
            fault.count = try fields.integer("count")
            if let after = try fields.node("after") {
                let pattern = try Fields(
                    after, path: path + ".after", what: "a fault's after", allowed: ScenarioReader.patternKeys,
                    into: &marks)
                fault.after = CallPattern(
                    actor: try pattern.text("actor"), operation: try pattern.word("operation"),
                    path: try pattern.text("path"), count: try pattern.integer("count"))
            }
            faults.append(fault)
        }
        return faults
    }

    mutating func expectation(_ node: Node) throws(ScenarioError) -> Expectation {
        let fields = try Fields(node, path: "expect", what: "expect", allowed: ScenarioReader.expectKeys, into: &marks)
        var expect = Expectation()
        expect.invariants = try fields.word("invariants")
        expect.violation = try fields.integer("violation")
        expect.violations = try fields.node("violations").map { node throws(ScenarioError) in
            try Fields.list(node, path: "expect.violations", into: &marks).map { item throws(ScenarioError) in
                try Fields.integer(item, name: "expect.violations")
            }
        }
        expect.endState = try fields.node("end-state").map { node throws(ScenarioError) in
            try block(node, path: "expect.end-state")
        }
        expect.converges = try fields.boolean("converges")
        return expect
    }
}

/// The keys of one mapping of the document, read one by one.
struct Fields {
    let path: String
    let what: String
    let line: Int?
    var values: [String: Node] = [:]

    /// The mapping's keys, each a plain word given once, and (unless
    /// `allowed` is nil, to check later) among the allowed ones.
    init(_ node: Node, path: String, what: String, allowed: [String]?, into marks: inout ScenarioMarks) throws(ScenarioError) {
        self.path = path
        self.what = what
        line = node.mark?.line
        guard case .mapping(let mapping) = node else {
            throw ScenarioError("\(what) must be a mapping of keys to values, not \(Fields.kind(of: node))", line: line)
        }
        if !path.isEmpty, let line { marks.lines[path] = line }
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key, scalar.style == .plain else {
                throw ScenarioError("a key of \(what) must be a plain word", line: key.mark?.line)
            }
            let name = scalar.string
            guard values[name] == nil else {
                throw ScenarioError("key '\(name)' given twice in \(what)", line: key.mark?.line)
            }
            values[name] = value
            if let keyLine = key.mark?.line { marks.lines[prefix + name] = keyLine }
        }
        if let allowed { try allow(allowed, what: what) }
    }

    var prefix: String { path.isEmpty ? "" : path + "." }

    /// Refuses a key that is not allowed here, suggesting a close one.
    func allow(_ allowed: [String], what: String) throws(ScenarioError) {
        for key in values.keys.sorted() where !allowed.contains(key) {
            let near = allowed.filter { Fields.distance(key, $0) <= 2 }.min { Fields.distance(key, $0) < Fields.distance(key, $1) }
            let hint = near.map { " (did you mean '\($0)'?)" } ?? " (expected: \(allowed.joined(separator: ", ")))"
            throw ScenarioError("unknown key '\(key)' in \(what)\(hint)", line: values[key]?.mark?.line ?? line)
        }
    }

    func fail(_ message: String, at key: String) -> ScenarioError {
        ScenarioError(message, line: values[key]?.mark?.line ?? line)
    }

    /// The value of an optional key; one written without a value is an
    /// error rather than read as absent.
    func node(_ key: String, required: Bool = false) throws(ScenarioError) -> Node? {
        guard let node = values[key] else { return nil }
        if Fields.isNull(node) {
            let hint = required ? "" : " (leave the key out instead)"
            throw ScenarioError("'\(prefix + key)' has no value\(hint)", line: node.mark?.line ?? line)
        }
        return node
    }

    func required(_ key: String) throws(ScenarioError) -> Node {
        guard let node = try node(key, required: true) else { throw ScenarioError("\(what) needs '\(key)'", line: line) }
        return node
    }

    func text(_ key: String, required: Bool = false) throws(ScenarioError) -> String? {
        guard let node = required ? try self.required(key) : try node(key) else { return nil }
        return try Fields.text(node, name: prefix + key)
    }

    /// Text that is one word (an enumeration's value, an operation).
    func word(_ key: String, required: Bool = false) throws(ScenarioError) -> String? {
        try text(key, required: required)
    }

    func texts(_ key: String, required: Bool = false) throws(ScenarioError) -> [String]? {
        guard let node = required ? try self.required(key) : try node(key) else { return nil }
        var ignored = ScenarioMarks()
        return try Fields.list(node, path: prefix + key, into: &ignored).map { item throws(ScenarioError) in
            try Fields.text(item, name: prefix + key)
        }
    }

    func integer(_ key: String) throws(ScenarioError) -> Int? {
        guard let node = try node(key) else { return nil }
        return try Fields.integer(node, name: prefix + key)
    }

    func unsigned(_ key: String) throws(ScenarioError) -> UInt64? {
        guard let node = try node(key) else { return nil }
        let digits = try Fields.number(node, name: prefix + key)
        guard !digits.hasPrefix("-"), let value = UInt64(digits) else {
            throw ScenarioError("'\(prefix + key)' is a number from 0 to \(UInt64.max), not \(digits)", line: node.mark?.line)
        }
        return value
    }

    func boolean(_ key: String) throws(ScenarioError) -> Bool? {
        guard let node = try node(key) else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain, scalar.string == "true" || scalar.string == "false"
        else {
            throw ScenarioError("'\(prefix + key)' is true or false", line: node.mark?.line)
        }
        return scalar.string == "true"
    }

    static func text(_ node: Node, name: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = node else {
            throw ScenarioError("'\(name)' must be text, not \(kind(of: node))", line: node.mark?.line)
        }
        if isNull(node) { throw ScenarioError("'\(name)' has no value", line: node.mark?.line) }
        return scalar.string
    }

    static func integer(_ node: Node, name: String) throws(ScenarioError) -> Int {
        let digits = try number(node, name: name)
        guard let value = Int(digits) else {
            throw ScenarioError("'\(name)' is out of range: \(digits)", line: node.mark?.line)
        }
        return value
    }

    /// A plain decimal number's text: digits with an optional `-`.
    static func number(_ node: Node, name: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            throw ScenarioError("'\(name)' must be a number, not \(kind(of: node))", line: node.mark?.line)
        }
        let text = scalar.string
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw ScenarioError("'\(name)' must be a decimal number, not '\(text)'", line: node.mark?.line)
        }
        return text
    }

    static func list(_ node: Node, path: String, into marks: inout ScenarioMarks) throws(ScenarioError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw ScenarioError("'\(path)' must be a list, not \(kind(of: node))", line: node.mark?.line)
        }
        var items: [Node] = []
        for (index, item) in sequence.enumerated() {
            if let line = item.mark?.line { marks.lines["\(path)[\(index)]"] = line }
            items.append(item)
        }
        return items
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            isNull(node) ? "nothing" : scalar.style == .plain ? "'\(scalar.string)'" : "quoted text"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The edit distance of two short words, for suggestions.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        guard a.count < 64, b.count < 64 else { return Int.max }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
