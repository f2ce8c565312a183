import CYaml
import Cleanup
import Yams

/// Reads a scenario file strictly: from the YAML document Yams composes,
/// with the line of every key, refusing unknown keys (a typo such as
/// `stratgy:` must not run another strategy), keys that do not apply to
/// an actor's or fault's kind, values of the wrong type, keys given twice,
/// anchors and aliases, and explicit tags. What the values mean is checked
/// by `CompiledScenario`, with these lines.
enum ScenarioReader {
    static let scenarioKeys = [
        "name", "description", "layout", "toolchains", "actors", "faults", "after-host-crash", "strategy",
        "schedules", "seed", "preemption-bound", "pct-depth", "max-steps", "time-limit", "commit-interval", "expect",
        "schedule",
    ]
    static let actorKeys: [ActorSpec.Kind: [String]] = [
        .cleanup: ["mode"],
        .originalCleanup: [],
        .agent: ["toolchain", "builds", "build-seconds", "bootstrap-seconds", "shell-snapshots", "poll-seconds"],
        .admin: ["procedure", "machine", "revision", "from", "to", "delete-old", "pitfalls", "poll-seconds"],
        .script: ["steps"],
        .command: ["command", "machine", "revision", "from", "remove-old", "timeout"],
    ]
    static let faultKeys: [FaultSpec.Kind: [String]] = [
        .crash: ["actor", "after"],
        .hostCrash: ["after"],
        .error: ["actor", "operation", "path", "error", "count"],
    ]
    static let patternKeys = ["actor", "operation", "path", "count"]
    static let expectKeys = ["invariants", "violation", "violations", "end-state", "converges"]

    /// The scenario a file's text holds, and where its parts are.
    static func read(_ text: String) throws(ScenarioError) -> (Scenario, ScenarioMarks) {
        let foldedLines = try EventScan.check(text)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw ScenarioError("empty file: not a scenario", line: 1) }
            root = node
        } catch let error as ScenarioError {
            throw error
        } catch let error as YamlError {
            throw located(error)
        } catch {
            throw ScenarioError("not YAML: \(error)", line: 1)
        }
        var reader = NodeReader(foldedLines: foldedLines)
        let scenario = try reader.scenario(root)
        return (scenario, reader.marks)
    }

    /// A Yams error as a message and a line.
    static func located(_ error: YamlError) -> ScenarioError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ScenarioError("not YAML: \(problem)", line: mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ScenarioError(
                "key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) given twice", line: context.mark.line)
        default:
            return ScenarioError("not YAML: \(error)", line: 1)
        }
    }
}

/// A pass over the parser's events before Yams composes the document.
///
/// Anchors and aliases are refused here, not on the composed `Node`:
/// while composing, Yams hashes each mapping's keys to find duplicates,
/// and a key that is an alias of an alias of ... (a billion-laughs
/// document) is hashed in time exponential in its depth before any `Node`
/// could be looked at. Explicit tags (`!!str`, `!x`) are refused too: a
/// scenario's values are plain words, numbers and quoted text.
enum EventScan {
    /// Checks the events; the lines where a plain or quoted value written
    /// over several lines starts.
    static func check(_ text: String) throws(ScenarioError) -> Set<Int> {
        var foldedLines: Set<Int> = []
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw ScenarioError("cannot start the YAML parser") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        let problem: ScenarioError? = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var documents = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let message = parser.problem.map { String(cString: $0) } ?? "unreadable"
                    // The reader (a control character, bytes that are not
                    // UTF-8) gives the byte's offset, not a mark.
                    if parser.error == YAML_READER_ERROR {
                        let offset = min(Int(parser.problem_offset), buffer.count)
                        let line = 1 + buffer[..<offset].count { $0 == UInt8(ascii: "\n") }
                        return ScenarioError("not YAML: \(message)", line: line)
                    }
                    return ScenarioError("not YAML: \(message)", line: Int(parser.problem_mark.line) + 1)
                }
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 { return ScenarioError("a scenario file holds one YAML document", line: line) }
                case YAML_ALIAS_EVENT:
                    return ScenarioError("aliases (*name) are not allowed in scenario files", line: line)
                case YAML_SCALAR_EVENT:
                    if event.data.scalar.anchor != nil { return anchor(line) }
                    if event.data.scalar.tag != nil { return tag(line) }
                    // A plain or quoted value written over several lines
                    // is folded (its line breaks become blanks): noted, for
                    // the text blocks, whose lines must stay lines.
                    let style = event.data.scalar.style
                    if style != YAML_LITERAL_SCALAR_STYLE, style != YAML_FOLDED_SCALAR_STYLE,
                        event.end_mark.line != event.start_mark.line
                    {
                        foldedLines.insert(line)
                    }
                case YAML_SEQUENCE_START_EVENT:
                    if event.data.sequence_start.anchor != nil { return anchor(line) }
                    if event.data.sequence_start.tag != nil { return tag(line) }
                case YAML_MAPPING_START_EVENT:
                    if event.data.mapping_start.anchor != nil { return anchor(line) }
                    if event.data.mapping_start.tag != nil { return tag(line) }
                default:
                    break
                }
            }
        }
        if let problem { throw problem }
        return foldedLines
    }

    static func anchor(_ line: Int) -> ScenarioError {
        ScenarioError("anchors (&name) are not allowed in scenario files", line: line)
    }

    static func tag(_ line: Int) -> ScenarioError {
        ScenarioError("tags (!name) are not allowed in scenario files; quote the value instead", line: line)
    }
}
