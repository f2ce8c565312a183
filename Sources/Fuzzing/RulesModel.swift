import FSProtocol
import Cleanup
import MachineLayout

/// The keep/delete rules of SPEC §1–§3 stated a second time, as simply as
/// they can be, for the fuzzer's oracle alone: on a layout's paths, by
/// string tests, sharing nothing with the production grammar, scanner or
/// planner. Where the two disagree, one of them is wrong.
///
/// It reads names as bytes, as the kernel keeps them and the original shell
/// compared them in the C locale (`ByteSpelling`).
///
/// It answers, for a tree on a quiet host, what a boot cleanup (or a live
/// one, for the end state) leaves and which lines it prints (each line's
/// path and level).
public struct RulesModel: Sendable {
    public struct Verdict: Hashable, Sendable {
        /// The configuration is refused: nothing is touched.
        public var refused: Bool
        /// Paths (relative to the root) removed with everything below them.
        public var removed: Set<ExactText>
        /// The lines, as `PATH LEVEL`, sorted.
        public var lines: [String]
    }

    let root: String
    let toolchains: [String]
    /// Live mode: deletions need the agents' locks.
    let live: Bool
    /// Paths whose last name is not UTF-8: reported, kept, not entered.
    let undecodable: Set<String>
    /// Links whose target is not UTF-8: they cannot be read.
    let unreadableLinks: Set<String>
    /// Machine directories (`v/m`) and the toolchains whose locks other
    /// processes hold in them (live mode).
    let held: [String: Set<String>]

    public init(
        root: String, toolchains: [String], live: Bool = false, heldLocks: [String] = [], undecodable: Set<String> = [],
        unreadableLinks: Set<String> = []
    ) {
        self.root = root
        self.toolchains = toolchains.map(ByteSpelling.spell)
        self.live = live
        self.undecodable = Set(undecodable.map(ByteSpelling.spell))
        self.unreadableLinks = Set(unreadableLinks.map(ByteSpelling.spell))
        var held: [String: Set<String>] = [:]
        for lock in heldLocks.map(ByteSpelling.spell) {
            let parts = lock.split(separator: "/").map(String.init)
            guard parts.count == 3 else { continue }
            let machine = parts[1]
            let name = parts[2]
            guard name.startsWithBytes(machine + "-"), name.endsWithBytes(".lock") else { continue }
            let toolchain = String(RulesModel.rest(of: name, after: machine).dropLast(5))
            held[parts[0] + "/" + machine, default: []].insert(toolchain)
        }
        self.held = held
    }

    /// Whether a name can be configured: a toolchain name, and no C1
    /// control and no Unicode blank in it (a line could not show it).
    static func isConfigurable(_ name: String) -> Bool {
        isToolchain(name)
            && !name.unicodeScalars.contains { (0x80...0x9F).contains($0.value) || $0.properties.isWhitespace }
    }

    /// Whether a name is a toolchain name (in an entry name too): it
    /// starts with an ASCII letter, holds no `-`, `/`, ASCII blank or
    /// control character, and does not end in `.lock`.
    static func isToolchain(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return false }
        if name.endsWithBytes(".lock") { return false }
        return !name.unicodeScalars.contains { scalar in
            scalar == "-" || scalar == "/" || scalar == " " || scalar == "\t" || scalar.value < 0x20 || scalar.value == 0x7F
        }
    }

    /// Whether a configuration of `names` is refused before anything is
    /// touched (`explicitlyNone`: an empty list stated on purpose).
    public static func configurationRefused(_ names: [String], explicitlyNone: Bool) -> Bool {
        if explicitlyNone { return !names.isEmpty }
        return names.isEmpty || names.contains { !isConfigurable($0) }
    }

    /// The verdict on a tree: `layout` as read back from the host, or
    /// written by hand (a missing parent is there as the host makes it).
    public func verdict(_ layout: Layout, explicitlyNone: Bool = false) -> Verdict {
        // The names as configured, not as this model spells their bytes.
        if RulesModel.configurationRefused(toolchains.map(ByteSpelling.unspell), explicitlyNone: explicitlyNone) {
            return Verdict(refused: true, removed: [], lines: [])
        }
        let tree = ModelTree(ByteSpelling.spell(layout))
        var verdict = Verdict(refused: false, removed: [], lines: [])
        for volume in tree.children(of: "") {
            judgeVolume(volume, in: tree, into: &verdict)
        }
        // Byte order, as the lines are sorted where they are compared.
        verdict.lines = verdict.lines.map(ByteSpelling.unspell).sorted(by: EntryName.precedesInBytes)
        verdict.removed = Set(verdict.removed.map { ExactText(ByteSpelling.unspell($0.text)) })
        return verdict
    }

    private func judgeVolume(_ volume: String, in tree: ModelTree, into verdict: inout Verdict) {
        if volume.startsWithBytes(".") || undecodable.contains(volume) { return verdict.line(volume, "warning") }
        guard tree.isDirectory(volume) else { return verdict.line(volume, "error") }
        for machine in tree.children(of: volume) {
            let machineName = RulesModel.rest(of: machine, after: volume)
            if machineName.startsWithBytes(".") || machineName.startsWithBytes("-") || undecodable.contains(machine) {
                verdict.line(machine, "warning")
            } else if !tree.isDirectory(machine) {
                verdict.line(machine, "error")
            } else {
                judgeMachine(machine, named: machineName, in: tree, into: &verdict)
            }
        }
    }

    /// What happens to one entry.
    enum Fate: Equatable {
        case keep
        case warn
        case delete
        case unlink
    }

    private func judgeMachine(_ path: String, named m: String, in tree: ModelTree, into verdict: inout Verdict) {
        let entries = tree.children(of: path)
        func name(_ entry: String) -> String { RulesModel.rest(of: entry, after: path) }
        let linkPath = path + "/" + m
        // The state of the link: valid (its target), in error, or absent.
        var target: String?
        // The subvolumes a link in error still names: kept, without a line.
        var named: [String] = []
        var linkInError = false
        if let link = tree.kind(linkPath) {
            if link == .link, !unreadableLinks.contains(linkPath), let text = tree.target(linkPath), !text.isEmpty,
                !text.containsByte("/"), text != ".", text != "..", tree.kind(path + "/" + text) == .subvol
            {
                target = text
            } else {
                linkInError = true
                verdict.line(linkPath, "error")
                // A link in error whose path goes through one of the
                // machine's subvolumes keeps it: in doubt, it is the image.
                if link == .link, !unreadableLinks.contains(linkPath), let text = tree.target(linkPath) {
                    named = subvolumes(namedBy: text, in: path, tree: tree)
                }
            }
        } else if entries.contains(where: { linksToOwnSubvolume($0, name: name($0), machine: m, in: path, tree: tree) }) {
            // Not a machine being deleted: everything stays.
            return verdict.line(path, "error")
        }
        let deleting = target == nil && !linkInError
        // The target of a valid link, or the subvolume a link in error
        // still names: kept, without a line.
        var fates: [(entry: String, name: String, fate: Fate)] = []
        for entry in entries {
            let entryName = name(entry)
            if EntryName.sameBytes(entryName, m) || target.map({ EntryName.sameBytes(entryName, $0) }) == true
                || named.contains(where: { EntryName.sameBytes(entryName, $0) })
            {
                continue
            }
            if undecodable.contains(entry) {
                fates.append((entry, entryName, .warn))
                continue
            }
            let fate = fate(
                of: entryName, machine: m, kind: tree.kind(entry), readOnly: tree.readOnly(entry),
                machinePath: path, deleting: deleting, linkInError: linkInError, tree: tree)
            fates.append((entry, entryName, fate))
        }
        let blocked = live ? blockedToolchains(fates, machine: m, in: path, deleting: deleting, tree: tree) : []
        var keepsSomething = false
        var failed = false
        for (entry, entryName, planned) in fates {
            var fate = planned
            if fate == .delete || fate == .unlink, !blocked.isEmpty, !entryName.startsWithBytes(m + ".link-") {
                // Live mode: what a lock it cannot take guards stays (a
                // temporary link is the machine commands', under the
                // tool's lock).
                let toolchain = guardingToolchain(entryName, machine: m)
                if toolchain.map({ blocked.contains($0) }) ?? true { fate = .keep }
            }
            switch fate {
            case .keep:
                keepsSomething = true
            case .warn:
                keepsSomething = true
                verdict.line(entry, "warning")
            case .unlink:
                verdict.removed.insert(ExactText(entry))
                verdict.line(entry, "info")
            case .delete:
                if tree.hasMount(below: entry) {
                    failed = true
                    verdict.line(entry, "error")
                } else {
                    for nested in tree.subvolumes(below: entry) { verdict.line(nested, "info") }
                    verdict.removed.insert(ExactText(entry))
                    verdict.line(entry, "info")
                }
            }
        }
        guard deleting else { return }
        if keepsSomething || !blocked.isEmpty {
            if blocked.isEmpty { verdict.line(path, "warning") }
        } else if failed {
            // Its entry that could not go keeps it: the rmdir fails.
            verdict.line(path, "error")
        } else {
            verdict.removed.insert(ExactText(path))
            verdict.line(path, "info")
        }
    }

    /// Live mode: the toolchains whose locks the cleanup needs in a machine
    /// directory and cannot take: held by a build, or with something other
    /// than a file under the lock's name (a lock whose name would be longer
    /// than a name may be cannot exist: nobody holds it). A toolchain is
    /// needed when an entry of it goes, and every toolchain (configured, or
    /// showing in the directory) when the machine itself goes with entries.
    private func blockedToolchains(
        _ fates: [(entry: String, name: String, fate: Fate)], machine m: String, in path: String, deleting: Bool,
        tree: ModelTree
    ) -> Set<String> {
        var needed: Set<String> = []
        for (_, name, fate) in fates where fate == .delete || fate == .unlink {
            if let toolchain = guardingToolchain(name, machine: m) { needed.insert(toolchain) }
        }
        // An empty directory goes without them: no agent reads anything in it.
        if deleting, !fates.isEmpty {
            needed.formUnion(toolchains)
            for (_, name, _) in fates { if let toolchain = guardingToolchain(name, machine: m) { needed.insert(toolchain) } }
        }
        var blocked = needed.intersection(held[path] ?? [])
        for toolchain in needed {
            if let kind = tree.kind(path + "/" + m + "-" + toolchain + ".lock"), kind != .file { blocked.insert(toolchain) }
        }
        return blocked
    }

    /// A symbolic link (other than a temporary link of a switch) whose
    /// target's path goes through a subvolume of the same directory.
    private func linksToOwnSubvolume(_ entry: String, name: String, machine m: String, in path: String, tree: ModelTree)
        -> Bool
    {
        guard tree.kind(entry) == .link else { return false }
        // A link that cannot be read (its name or its target not UTF-8)
        // may name one: in doubt, it does.
        if undecodable.contains(entry) || unreadableLinks.contains(entry) { return true }
        guard !name.startsWithBytes(m + ".link-"), let target = tree.target(entry) else { return false }
        return !subvolumes(namedBy: target, in: path, tree: tree).isEmpty
    }

    /// The components of a link's target (`.` and `..` aside) that are
    /// subvolumes of the machine directory at `path`.
    private func subvolumes(namedBy target: String, in path: String, tree: ModelTree) -> [String] {
        target.split(separator: "/").map(String.init).filter {
            $0 != "." && $0 != ".." && tree.kind(path + "/" + $0) == .subvol
        }
    }

    private func fate(
        of name: String, machine m: String, kind: LayoutEntry.Kind?, readOnly: Bool, machinePath: String,
        deleting: Bool, linkInError: Bool, tree: ModelTree
    ) -> Fate {
        let isSubvolume = kind == .subvol
        if name.startsWithBytes(m + ".link-") { return kind == .link ? .unlink : .warn }
        guard name.startsWithBytes(m + "-") else { return .warn }
        let word = RulesModel.rest(of: name, after: m)
        if RulesModel.isNumber(word) {
            guard isSubvolume else { return .warn }
            if deleting { return .delete }
            return readOnly ? .keep : .warn
        }
        if word.endsWithBytes(".received"), RulesModel.isNumber(String(word.dropLast(9))) {
            guard isSubvolume else { return .warn }
            if deleting { return .delete }
            return tree.kind(machinePath + "/" + m + "-" + word.dropLast(9)) == .subvol ? .keep : .warn
        }
        if word.endsWithBytes(".lock"), RulesModel.isToolchain(String(word.dropLast(5))) {
            return kind == .file ? .unlink : .warn
        }
        if let dash = word.firstIndex(of: "-") {
            // A working snapshot's rest may be anything but nothing.
            guard RulesModel.isToolchain(String(word[..<dash])), word.index(after: dash) < word.endIndex else {
                return .warn
            }
            return isSubvolume ? .delete : .warn
        }
        guard RulesModel.isToolchain(word) else { return .warn }
        guard isSubvolume else { return .warn }
        if deleting { return .delete }
        if toolchains.contains(where: { EntryName.sameBytes($0, word) }) || linkInError { return .keep }
        return .delete
    }

    /// The toolchain whose lock guards an entry, or nil when every lock of
    /// the machine does.
    private func guardingToolchain(_ name: String, machine m: String) -> String? {
        guard name.startsWithBytes(m + "-") else { return nil }
        var word = RulesModel.rest(of: name, after: m)
        if word.endsWithBytes(".lock") { word = String(word.dropLast(5)) }
        if let dash = word.firstIndex(of: "-") { word = String(word[..<dash]) }
        return RulesModel.isToolchain(word) ? word : nil
    }

    /// What follows `prefix` and one separator byte in `text` (which
    /// starts with them): cut by bytes, as the respelt text is one
    /// scalar per byte.
    static func rest(of text: String, after prefix: String) -> String {
        String(Substring(text.utf8.dropFirst(prefix.utf8.count + 1)))
    }

    static func isNumber(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0 >= "0" && $0 <= "9" }
    }
}

extension RulesModel.Verdict {
    mutating func line(_ path: String, _ level: String) { lines.append(path + " " + level) }
}

/// A layout's entries by path, with the questions the model asks.
struct ModelTree {
    // Keyed by bytes (`ExactText`): the same as the respelt strings' own
    // equality, and hashed without normalising them first.
    var entries: [ExactText: LayoutEntry] = [:]
    var childList: [ExactText: [String]] = [:]

    /// The tree of a layout's entries below the root; a missing parent
    /// is there as the host makes it (a volume first, plain directories
    /// below).
    init(_ layout: Layout) {
        for entry in layout.entries where !entry.path.startsWithBytes("/") {
            add(entry)
        }
    }

    private mutating func add(_ entry: LayoutEntry) {
        guard entries[ExactText(entry.path)] == nil else { return }
        let slash = EntryName.withBytes(of: entry.path) { $0.lastIndex(of: UInt8(ascii: "/")) }
        let parent = slash.map { String(EntryName.bytes(of: entry.path, from: 0, to: $0)) } ?? ""
        if !parent.isEmpty, entries[ExactText(parent)] == nil {
            add(LayoutEntry(parent.containsByte("/") ? .dir : .volume, parent))
        }
        entries[ExactText(entry.path)] = entry
        childList[ExactText(parent), default: []].append(entry.path)
    }

    func children(of path: String) -> [String] { childList[ExactText(path)] ?? [] }
    func kind(_ path: String) -> LayoutEntry.Kind? { entries[ExactText(path)]?.kind }
    func target(_ path: String) -> String? { entries[ExactText(path)]?.target }
    func readOnly(_ path: String) -> Bool { entries[ExactText(path)]?.readOnly ?? false }

    func isDirectory(_ path: String) -> Bool {
        switch kind(path) {
        case .volume, .dir, .subvol, .tmpfs, .mount: true
        default: false
        }
    }

    /// Whether something is mounted at or below a path.
    func hasMount(below path: String) -> Bool {
        children(of: path).contains { kind($0) == .mount || kind($0) == .tmpfs || kind($0) == .volume || hasMount(below: $0) }
    }

    /// The subvolumes below a path (not the path itself), through plain
    /// directories and subvolumes alike.
    func subvolumes(below path: String) -> [String] {
        children(of: path).flatMap { child in (kind(child) == .subvol ? [child] : []) + subvolumes(below: child) }
    }
}

/// Text respelt with one Unicode scalar per UTF-8 byte (U+0000 to U+00FF),
/// so that the model's `split`, `firstIndex` and `dropLast` work on bytes,
/// as the kernel does (its prefix tests and comparisons are on bytes
/// anyway, which on respelt text is the same, and faster). On the text itself they work on
/// canonically equivalent `Character`s: "caf\u{e9}" equals "cafe\u{301}",
/// and "/\u{301}" is one `Character`, no `/`. No two scalars of that range
/// are canonically equivalent or combine (only CR LF is one `Character`,
/// and the model never splits a name between those two).
enum ByteSpelling {
    /// Each byte from 0x80 up becomes the two bytes of U+0080 to U+00FF.
    static func spell(_ text: String) -> String {
        if isASCII(text) { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 {
            if byte < 0x80 {
                bytes.append(byte)
            } else {
                bytes.append(0xC0 | byte >> 6)
                bytes.append(0x80 | byte & 0x3F)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func unspell(_ text: String) -> String {
        if isASCII(text) { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var lead: UInt8?
        for byte in text.utf8 {
            if let high = lead {
                bytes.append((high & 0x03) << 6 | byte & 0x3F)
                lead = nil
            } else if byte < 0x80 {
                bytes.append(byte)
            } else {
                lead = byte
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// ASCII text is spelt as it is.
    static func isASCII(_ text: String) -> Bool {
        EntryName.withBytes(of: text) { bytes in !bytes.contains { $0 >= 0x80 } }
    }

    static func spell(_ layout: Layout) -> Layout {
        var spelt = layout
        for index in spelt.entries.indices {
            spelt.entries[index].path = spell(spelt.entries[index].path)
            spelt.entries[index].target = spelt.entries[index].target.map(spell)
        }
        return spelt
    }
}
