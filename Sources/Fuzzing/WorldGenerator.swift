import Cleanup
import FSProtocol
import MachineLayout
import Simulation

/// Draws whole worlds from seeds: the swarm of features first, then the
/// volumes, machines and their entries, the toolchain configuration, the
/// faults and the actors, all from the one seed.
///
/// The trees are meant to be strange (odd, unicode and 255-byte names,
/// links anywhere, plain directories and files where subvolumes belong,
/// nested subvolumes, mounts, broken links, later-layout names) but always
/// storable by Linux: no name longer than 255 bytes, every parent made
/// before its children.
public struct WorldGenerator: Sendable {
    /// The features worlds may use.
    public var allowed: Set<FuzzFeature>
    public var root: String
    /// Whether a world may hold a tree outside the root (`/srv/outside`,
    /// with the symbolic links feature) for links to name: the invariant
    /// checks watch it. An absolute layout path is outside what
    /// `Layout.build` makes, so buildable worlds have none (their links
    /// may still name absolute targets, which then do not exist).
    public var outsideTree: Bool
    /// A given tree every world starts from (`fuzz --layout FILE`: an
    /// operator's odd tree) instead of one drawn: the seed then draws the
    /// rest of the world around it (the toolchain configuration, from the
    /// toolchains its names hold, the mode, faults, races, held locks,
    /// names that are not UTF-8, actors and crashes), and the shrinker
    /// takes it apart as it would a drawn one.
    public var base: Layout?

    public init(
        allowed: Set<FuzzFeature> = Set(FuzzFeature.allCases), root: String = Layout.defaultRoot,
        outsideTree: Bool = true
    ) {
        self.allowed = allowed
        self.root = root
        self.outsideTree = outsideTree
    }

    /// Worlds around a given tree, at its root: of the allowed features,
    /// those that draw what surrounds a tree. On a volume mounted without
    /// `user_subvol_rm_allowed` an agent (a user) cannot delete its own
    /// snapshots, which the invariant checks do not model: such a tree
    /// gets no agents and no machine commands.
    public init(base: Layout, allowed: Set<FuzzFeature> = Set(FuzzFeature.allCases)) {
        var around = allowed.intersection(FuzzFeature.aroundTheTree)
        if base.entries.contains(where: { $0.kind == .volume && !$0.userSubvolumeRemovalAllowed }) {
            around.subtract([.agents, .commands])
        }
        self.init(allowed: around, root: base.root, outsideTree: false)
        self.base = base
    }

    /// The worlds whose trees can be built through the protocol (the
    /// differential mode's): no simulation-only feature, no entry outside
    /// the root.
    public static var buildable: WorldGenerator {
        WorldGenerator(allowed: Set(FuzzFeature.allCases).subtracting(FuzzFeature.simulationOnly), outsideTree: false)
    }

    /// The seed of case `index` of a run started from `seed`.
    public static func caseSeed(_ seed: UInt64, _ index: Int) -> UInt64 { SeededRandom.derive(seed, index) }

    public func world(seed: UInt64) -> FuzzWorld {
        var random = SeededRandom(seed: seed)
        let swarm = Swarm(drawing: &random, from: allowed)
        var drawing = WorldDrawing(swarm: swarm, random: random, root: root, outsideTree: outsideTree)
        if let base { drawing.adopt(base) } else { drawing.draw() }
        var world = FuzzWorld(seed: seed, layout: drawing.layout)
        world.features = swarm.features
        world.toolchains = drawing.toolchains
        world.explicitlyNone = drawing.explicitlyNone
        world.mode = swarm.has(.liveMode) ? .live : .boot
        world.faults = drawing.faults()
        world.heldLocks = world.mode == .live ? drawing.heldLocks() : []
        world.races = drawing.races()
        world.undecodable = drawing.undecodable()
        (world.actors, world.crashes) = drawing.actors()
        return world
    }
}

/// The drawing of one world, entry by entry.
struct WorldDrawing {
    let swarm: Swarm
    var random: SeededRandom
    var layout: Layout
    /// Whether `/srv/outside` may be drawn.
    let outsideTree: Bool
    var toolchains: [String] = []
    var explicitlyNone = false
    /// Toolchains that may appear in entry names: the configured ones and
    /// some that are not.
    var entryToolchains: [String] = []
    /// Paths of the tree's entries, by kind, for links, faults and locks.
    var subvolumes: [String] = []
    var machines: [String] = []
    var used: Set<ExactText> = []

    init(swarm: Swarm, random: SeededRandom, root: String, outsideTree: Bool) {
        self.swarm = swarm
        self.random = random
        self.outsideTree = outsideTree
        layout = Layout(root: root)
    }

    mutating func chance(_ percent: Int) -> Bool { random.next(below: 100) < percent }

    mutating func pick<T>(_ options: [T]) -> T { options[random.next(below: options.count)] }

    // MARK: The configuration

    /// Valid names, two of them twin spellings (composed, decomposed).
    static let validToolchains = ["default", "gcc", "clang13", "x.y", "Gcc_9", "a", "gcc\u{e9}", "gcce\u{301}"]
    static let invalidToolchains = ["", "1abc", "a-b", "x.lock", "a b", "a/b", "-x"]

    /// Draws the configuration from `valid` names (and, with the feature,
    /// an invalid one or none), and the toolchains entry names use.
    mutating func drawToolchains(from valid: [String] = WorldDrawing.validToolchains) {
        let count = 1 + random.next(below: 3)
        for _ in 0..<count {
            let name = pick(valid)
            if !toolchains.contains(name) { toolchains.append(name) }
        }
        if swarm.has(.toolchainConfiguration) {
            switch random.next(below: 4) {
            case 0: toolchains.append(pick(WorldDrawing.invalidToolchains))
            case 1: toolchains = []
            case 2:
                toolchains = []
                explicitlyNone = true
            default: break
            }
        }
        entryToolchains = Array(Set(toolchains + [pick(valid), "old"]))
            .filter { Toolchain(rawValue: $0) != nil }.sorted()
        if entryToolchains.isEmpty { entryToolchains = ["default"] }
    }

    // MARK: The tree

    /// Takes `base` as the world's tree: its machine directories, its
    /// subvolumes and its names are those the rest of the world is drawn
    /// around, and its toolchains (the words of its bootstrapped machines,
    /// working snapshots and lock files) those the configuration is drawn
    /// from, with `default`.
    mutating func adopt(_ base: Layout) {
        var words: Set<String> = ["default"]
        for entry in base.entries where !entry.path.startsWithBytes("/") {
            let parts = EntryName.components(of: entry.path)
            if parts.count == 2, entry.kind == .dir || entry.kind == .subvol { machines.append(entry.path) }
            if entry.kind == .subvol { subvolumes.append(entry.path) }
            guard parts.count == 3, let machine = EntryName(String(parts[1])), let name = EntryName(String(parts[2]))
            else { continue }
            switch MachineEntryName(classifying: name, machine: machine) {
            case .bootstrapped(let toolchain), .workingSnapshot(let toolchain, _), .lockFile(let toolchain):
                words.insert(toolchain.rawValue)
            default: break
            }
        }
        drawToolchains(from: words.sorted())
        layout = base
        for entry in base.entries { used.insert(ExactText(entry.path)) }
    }

    mutating func draw() {
        drawToolchains()
        if outsideTree, swarm.has(.symlinks), chance(40) {
            // Somewhere outside the root that links may name.
            add(LayoutEntry(.volume, "/srv/outside"))
            add(subvolume: "/srv/outside/image", readOnly: true)
        }
        let volumes = 1 + random.next(below: 2)
        for index in 0..<volumes {
            drawVolume(index == 0 ? "default" : pick(["v2", "default.old", "vol-1"]))
        }
        if swarm.has(.dotEntries), chance(50) { drawVolume(".snapshots") }
        if swarm.has(.symlinks), chance(30) { add(link: "default-link", target: "default") }
        if swarm.has(.files), chance(30) { add(LayoutEntry(.file, "README")) }
    }

    mutating func drawVolume(_ name: String) {
        guard !used.contains(ExactText(name)) else { return }
        add(LayoutEntry(.volume, name))
        let count = swarm.has(.emptyDirectories) && chance(20) ? 0 : 1 + random.next(below: 3)
        for _ in 0..<count {
            let machine = machineName()
            let path = name + "/" + machine
            guard !used.contains(ExactText(path)) else { continue }
            if swarm.has(.files), chance(8) {
                add(LayoutEntry(.file, path))
            } else if swarm.has(.symlinks), chance(8), let other = machines.last {
                add(link: path, target: "../" + other)
            } else {
                drawMachine(machine, at: path)
            }
        }
    }

    mutating func machineName() -> String {
        var options = ["m", "linux", "linux_debian_12-gcc_13.1", "a-b", "x.y", "m1", "win-10", "m-2"]
        if swarm.has(.oddNames) {
            // Also blanks, a line break, a backslash and a quote, which
            // Linux stores and the layout text must escape.
            options += ["-m", "m--", "1", "a.lock", "m-default", "m.link-1", "m-1.2", "m n", "m\tx", "m\nx", "b\\s", "q\"t"]
        }
        if swarm.has(.unicodeNames) {
            // Also names the kernel keeps apart from ones Swift finds equal:
            // "de\u{301}bian" beside "d\u{e9}bian"; a dot or a dash that a
            // combining mark follows; a prepended mark (U+0600), which
            // joins the dash after it into one Character.
            options += [
                "d\u{e9}bian", "機械", "m\u{301}", "Ω-1", "emoji-🖥", "de\u{301}bian", "-\u{301}m", ".\u{301}m", "a\u{600}",
            ]
        }
        if swarm.has(.dotEntries) { options += [".m", "..m"] }
        if swarm.has(.longNames), chance(40) {
            // Long enough that some of its entries reach NAME_MAX.
            let letter = pick(["l", "é"])
            return String(repeating: letter, count: (120 + random.next(below: 136)) / letter.utf8.count)
        }
        return pick(options)
    }

    /// The other spelling of a name holding "\u{e9}" or "m\u{301}":
    /// composed and decomposed, canonically equivalent, different bytes.
    static func twin(of name: String) -> String? {
        let pairs: [([UInt8], [UInt8])] = [
            (Array("\u{e9}".utf8), Array("e\u{301}".utf8)), (Array("\u{1e3f}".utf8), Array("m\u{301}".utf8)),
        ]
        let bytes = Array(name.utf8)
        for (composed, decomposed) in pairs {
            for (from, to) in [(composed, decomposed), (decomposed, composed)] {
                guard from.count <= bytes.count else { continue }
                for start in 0...(bytes.count - from.count) where bytes[start..<(start + from.count)].elementsEqual(from) {
                    let spelt = bytes[..<start] + to + bytes[(start + from.count)...]
                    return String(decoding: spelt, as: UTF8.self)
                }
            }
        }
        return nil
    }

    /// A name for an entry of machine `m`, or nil when Linux cannot store
    /// it (longer than 255 bytes) or the directory has it already.
    func entryName(_ machine: String, _ suffix: String, in directory: String) -> String? {
        let name = machine + suffix
        guard name.utf8.count <= Layout.maximumNameBytes, !used.contains(ExactText(directory + "/" + name)) else {
            return nil
        }
        return name
    }

    mutating func drawMachine(_ m: String, at path: String) {
        // Now and then the machine directory is a subvolume of its own.
        add(LayoutEntry(swarm.has(.nestedSubvolumes) && chance(10) ? .subvol : .dir, path))
        machines.append(path)
        if swarm.has(.emptyDirectories), chance(15) { return }
        var revisions: [String] = []
        let revisionCount = random.next(below: 4)
        for _ in 0..<revisionCount {
            let number = pick(["1", "2", "3", "10", "12", "007", "0", "18446744073709551616"])
            guard let name = entryName(m, "-" + number, in: path) else { continue }
            let writable = swarm.has(.writable) && chance(30)
            let received = swarm.has(.received) && chance(50)
            add(subvolume: path + "/" + name, readOnly: !writable || received, received: received)
            revisions.append(name)
            if swarm.has(.received), chance(40), let image = entryName(m, "-" + number + ".received", in: path) {
                add(subvolume: path + "/" + image, readOnly: true, received: true)
            }
        }
        if swarm.has(.received), chance(20), let image = entryName(m, "-5.received", in: path) {
            // The image of an upgrade interrupted before its revision.
            add(subvolume: path + "/" + image, readOnly: true, received: true)
        }
        if swarm.has(.laterLayout), chance(50),
            let revision = entryName(m, "-2.1", in: path), let link = entryName(m, "-2", in: path)
        {
            add(subvolume: path + "/" + revision, readOnly: true)
            add(link: path + "/" + link, target: revision)
        }
        // The machine's other subvolumes, which a link in error may name.
        var others: [String] = []
        for toolchain in entryToolchains where chance(50) {
            if let name = entryName(m, "-" + toolchain, in: path) {
                add(subvolume: path + "/" + name, readOnly: chance(15))
                others.append(name)
            }
            for _ in 0..<random.next(below: 3) {
                let rest = pick(["123-1", "77-2", "x", "-", "9-9-9"])
                guard let name = entryName(m, "-" + toolchain + "-" + rest, in: path) else { continue }
                add(subvolume: path + "/" + name, readOnly: chance(20))
                others.append(name)
                drawInside(path + "/" + name)
            }
        }
        drawLink(m, at: path, revisions: revisions, others: others)
        drawOddEntries(m, at: path, revisions: revisions)
    }

    /// The current link: valid (usually), absent (a machine being
    /// deleted), or in error.
    mutating func drawLink(_ m: String, at path: String, revisions: [String], others: [String]) {
        guard !used.contains(ExactText(path + "/" + m)) else { return }
        if swarm.has(.deletedMachines), chance(35) { return }
        if swarm.has(.linkProblems), chance(50) {
            // A revision, or a subvolume the rules would delete (a working
            // snapshot, an unconfigured toolchain's) but for the link.
            let target = chance(50) ? revisions.first ?? m + "-1" : others.first ?? revisions.first ?? m + "-1"
            switch random.next(below: 11) {
            case 0: add(link: path + "/" + m, target: m + "-99")
            case 1: add(link: path + "/" + m, target: "./" + target)
            case 2: add(link: path + "/" + m, target: "../" + m + "/" + target)
            case 3: add(link: path + "/" + m, target: layout.absolutePath(path + "/" + target))
            case 4: add(link: path + "/" + m, target: m)
            case 5: add(link: path + "/" + m, target: target + "/")
            case 6: add(LayoutEntry(.dir, path + "/" + m))
            case 7: add(LayoutEntry(.file, path + "/" + m))
            case 8: add(subvolume: path + "/" + m, readOnly: true)
            // A path into the subvolume: the kernel follows it there.
            case 9: add(link: path + "/" + m, target: target + pick(["/disk.img", "/boot/..", "/./"]))
            default:
                // A target that is there but no subvolume.
                if let name = entryName(m, "-dir", in: path) {
                    add(LayoutEntry(.dir, path + "/" + name))
                    add(link: path + "/" + m, target: name)
                }
            }
            return
        }
        if let target = revisions.last, chance(90) {
            // Now and then the target in the machine's other spelling,
            // which dangles to the kernel.
            let twin = swarm.has(.unicodeNames) && chance(25) ? WorldDrawing.twin(of: target) : nil
            add(link: path + "/" + m, target: twin ?? target)
        } else {
            // A target named outside the revision grammar (a bootstrapped
            // machine's name, a later layout's, none at all): kept all the
            // same.
            let name = pick([m + "-image", m + "-" + (entryToolchains.first ?? "default"), m + "-1.3", "image"])
            guard name.utf8.count <= Layout.maximumNameBytes, !used.contains(ExactText(path + "/" + name)) else { return }
            add(subvolume: path + "/" + name, readOnly: true)
            add(link: path + "/" + m, target: name)
        }
    }

    mutating func drawOddEntries(_ m: String, at path: String, revisions: [String]) {
        let toolchain = pick(entryToolchains)
        for _ in 0..<swarm.count(.lockFiles, &random) {
            guard let name = entryName(m, "-" + pick(entryToolchains) + ".lock", in: path) else { continue }
            switch random.next(below: 6) {
            case 0: add(LayoutEntry(.dir, path + "/" + name))
            case 1: add(link: path + "/" + name, target: "/tmp/lock")
            // A FIFO: opening it for its lock must neither wait nor take it.
            default: add(LayoutEntry(swarm.has(.specialFiles) && chance(40) ? .fifo : .file, path + "/" + name))
            }
        }
        for _ in 0..<swarm.count(.temporaryLinks, &random) {
            guard let name = entryName(m, ".link-" + pick(["1", "abc", "9f"]), in: path) else { continue }
            if chance(80) {
                add(link: path + "/" + name, target: revisions.first ?? m + "-1")
            } else {
                add(LayoutEntry(.file, path + "/" + name))
            }
        }
        for _ in 0..<swarm.count(.symlinks, &random) {
            guard let name = entryName(m, pick(["-latest", "-out", "-gone", "-loop", "-" + toolchain + "-5-5"]), in: path)
            else { continue }
            let revision = revisions.first ?? name
            let target = pick([
                revision, revision + "/disk.img", "../" + m + "/" + revision + "/boot/..", "/srv/outside/image",
                m + "-99", name, "../" + m, ".",
            ])
            add(link: path + "/" + name, target: target)
        }
        for _ in 0..<swarm.count(.plainDirectories, &random) {
            guard let name = entryName(m, pick(["-" + toolchain + "-old", "-" + toolchain, "-7", "-notes"]), in: path)
            else { continue }
            add(LayoutEntry(.dir, path + "/" + name))
            if chance(50) { add(LayoutEntry(.file, path + "/" + name + "/f")) }
            if swarm.has(.nestedSubvolumes), chance(40) { add(subvolume: path + "/" + name + "/inner", readOnly: false) }
        }
        for _ in 0..<swarm.count(.files, &random) {
            guard let name = entryName(m, pick(["-3", "-" + toolchain, "-" + toolchain + "-1-1", "-README"]), in: path)
            else { continue }
            add(LayoutEntry(swarm.has(.specialFiles) && chance(25) ? .fifo : .file, path + "/" + name))
        }
        for _ in 0..<swarm.count(.dotEntries, &random) {
            let name = pick([".hidden", "...", ".m-1"])
            guard !used.contains(ExactText(path + "/" + name)) else { continue }
            chance(50) ? add(LayoutEntry(.file, path + "/" + name)) : add(subvolume: path + "/" + name, readOnly: false)
        }
        for _ in 0..<swarm.count(.oddNames, &random) {
            let suffix = pick(["-", "--x", "-.lock", "-1.received.old", "-A-", "_1", "-1.3", "-1 ", "-default-\n", "-\r1"])
            guard let name = entryName(m, suffix, in: path) else { continue }
            add(subvolume: path + "/" + name, readOnly: chance(50))
        }
        if swarm.has(.unicodeNames), chance(40), let twin = WorldDrawing.twin(of: m),
            let name = entryName(twin, "-" + (revisions.isEmpty ? "1" : "4"), in: path)
        {
            // A revision of the machine's other spelling: an unknown entry
            // to the kernel's bytes, a revision to `String`'s equality.
            add(subvolume: path + "/" + name, readOnly: true)
        }
        if swarm.has(.unicodeNames), chance(50), let name = entryName(m, pick(["-é", "-機械-1", "-Ω.lock"]), in: path) {
            if name.endsWithBytes(".lock") {
                add(LayoutEntry(.file, path + "/" + name))
            } else {
                add(subvolume: path + "/" + name, readOnly: false)
            }
        }
        if swarm.has(.longNames), chance(60) {
            // A name of exactly 255 bytes, of each kind of entry.
            let prefix = m + "-" + toolchain + "-"
            let room = Layout.maximumNameBytes - prefix.utf8.count
            if room > 0 {
                let name = prefix + String(repeating: "9", count: room)
                if !used.contains(ExactText(path + "/" + name)) { add(subvolume: path + "/" + name, readOnly: false) }
            }
        }
    }

    /// What a stray holds: nested subvolumes (also below a plain
    /// directory), files, and mounts.
    mutating func drawInside(_ stray: String) {
        for _ in 0..<swarm.count(.nestedSubvolumes, &random) {
            if chance(50) {
                let inner = stray + "/" + pick(["a", "b", "c"])
                if !used.contains(ExactText(inner)) {
                    add(subvolume: inner, readOnly: chance(25))
                    if chance(30) { add(subvolume: inner + "/deeper", readOnly: false) }
                }
            } else {
                let directory = stray + "/d"
                if !used.contains(ExactText(directory)) { add(LayoutEntry(.dir, directory)) }
                if !used.contains(ExactText(directory + "/inner")) { add(subvolume: directory + "/inner", readOnly: false) }
            }
        }
        if swarm.has(.mountPoints), chance(30), !used.contains(ExactText(stray + "/mnt")) {
            add(LayoutEntry(.mount, stray + "/mnt"))
        }
        if swarm.has(.files), chance(20), !used.contains(ExactText(stray + "/data")) {
            add(LayoutEntry(.file, stray + "/data"))
        }
    }

    mutating func add(_ entry: LayoutEntry) {
        used.insert(ExactText(entry.path))
        layout.entries.append(entry)
    }

    mutating func add(subvolume path: String, readOnly: Bool, received: Bool = false) {
        var entry = LayoutEntry(.subvol, path)
        entry.readOnly = readOnly || received
        entry.received = received
        subvolumes.append(path)
        add(entry)
    }

    mutating func add(link path: String, target: String) {
        var entry = LayoutEntry(.link, path)
        entry.target = target
        add(entry)
    }

    // MARK: Faults, locks, actors

    mutating func faults() -> [CallFault] {
        var faults: [CallFault] = []
        for _ in 0..<swarm.count(.faults, &random) {
            let operation = pick([
                FSOperation.list, .readLink, .deleteSubvolumeByID, .deleteSubvolume, .removeDirectory, .unlink,
                .openDirectory, .status, .subvolumeInfo, .subvolumeID, .setReadOnly, .sync, .nestedSubvolumes,
                .mountPoints, .close,
            ])
            let paths = layout.entries.filter { !$0.path.startsWithBytes("/") }.map(\.path)
            guard !paths.isEmpty else { break }
            let path = layout.absolutePath(pick(paths))
            // The errors a scenario file can name, so that a saved case replays.
            let error = pick([FSError.Kind.ioError, .busy, .noSpace, .notPermitted, .readOnly])
            faults.append(CallFault(operation: operation, path: path, error: error, count: 1 + random.next(below: 2)))
        }
        return faults
    }

    /// Names that are not UTF-8: a volume, machines, entries.
    mutating func undecodable() -> [UndecodableEntry] {
        var entries: [UndecodableEntry] = []
        for _ in 0..<swarm.count(.undecodableNames, &random) {
            // As the backends render them: bytes that are not printable
            // ASCII as \xNN.
            let raw = pick([[0xFF], [0xC3, 0x28], [0xE9, 0x74, 0xE9]] as [[UInt8]])
            let bytes = EntryName.rendering(of: raw)
            switch random.next(below: 5) {
            case 0: entries.append(UndecodableEntry(in: "", "v" + bytes, .directory))
            case 1:
                guard let volume = mainVolume else { continue }
                entries.append(UndecodableEntry(in: volume, "m" + bytes, .directory))
            case 2:
                guard let machine = machines.isEmpty ? nil : pick(machines),
                    let m = EntryName.components(of: machine).last
                else { continue }
                let name = pick([String(m) + "-" + bytes, String(m) + "-default-" + bytes, bytes])
                entries.append(UndecodableEntry(in: machine, name, .subvolume))
            case 3:
                // A link so named cannot be read: it may name a subvolume.
                guard let machine = machines.isEmpty ? nil : pick(machines),
                    let m = EntryName.components(of: machine).last.map(String.init)
                else { continue }
                let name = pick([m + "-latest" + bytes, m + ".link-" + bytes, bytes])
                let target = pick([m + "-1", m + "-2", m + "-default", "/etc"])
                entries.append(UndecodableEntry(in: machine, name, .symlink, target: Array(target.utf8)))
            default:
                // A link whose target is not UTF-8, as the current link or
                // another one, often to a subvolume so named.
                guard let machine = machines.isEmpty ? nil : pick(machines),
                    let m = EntryName.components(of: machine).last.map(String.init)
                else { continue }
                let name = pick([m, m + "-latest", m + "-9"])
                if layout.entries.contains(where: { EntryName.sameBytes($0.path, machine + "/" + name) }) { continue }
                if random.next(below: 2) == 0 { entries.append(UndecodableEntry(in: machine, m + "-2" + bytes, .subvolume)) }
                entries.append(.link(in: machine, name, targetBytes: Array((m + "-2").utf8) + raw))
            }
        }
        var seen: Set<String> = []
        return entries.filter { seen.insert($0.path).inserted }
    }

    /// The volume undecodable machines and machine commands go in:
    /// `default` (a drawn world always has it), or else a given tree's
    /// first; no randomness, so that drawn worlds stay as they were.
    var mainVolume: String? {
        let volumes = layout.entries.filter {
            [.volume, .dir, .subvol].contains($0.kind) && !$0.path.startsWithBytes("/")
                && !$0.path.utf8.contains(UInt8(ascii: "/"))
        }.map(\.path)
        return volumes.contains("default") ? "default" : volumes.first
    }

    mutating func races() -> [Race] {
        var races: [Race] = []
        // A race is a build's doing: never on what a current link names.
        var targets: Set<ExactText> = []
        for entry in layout.entries where entry.kind == .link {
            let parts = EntryName.components(of: entry.path)
            if parts.count == 3, parts[1].utf8.elementsEqual(parts[2].utf8), let target = entry.target {
                targets.insert(ExactText(parts[0] + "/" + parts[1] + "/" + target))
            }
        }
        for _ in 0..<swarm.count(.races, &random) {
            let entries = layout.entries.filter {
                EntryName.components(of: $0.path).count == 3 && !$0.path.startsWithBytes("/")
                    && !targets.contains(ExactText($0.path))
            }
            if chance(30), !machines.isEmpty {
                races.append(Race(.add, pick(machines)))
            } else if chance(15),
                case let linkless = linklessRevisions().filter({ candidate in
                    // Not one that an earlier race deletes or replaces.
                    !races.contains { $0.kind != .add && $0.kind != .link && $0.path == candidate.machine + "/" + candidate.revision }
                }), !linkless.isEmpty
            {
                let (machine, revision) = pick(linkless)
                races.append(Race(.link, machine, target: revision))
                // Its target is a current link's from now on.
                targets.insert(ExactText(machine + "/" + revision))
            } else if let entry = entries.isEmpty ? nil : pick(entries) {
                races.append(Race(entry.kind == .subvol && chance(50) ? .replace : .delete, entry.path))
            }
        }
        return races
    }

    /// The revisions of machine directories that have no link: a link
    /// race makes one name such a revision.
    func linklessRevisions() -> [(machine: String, revision: String)] {
        var found: [(machine: String, revision: String)] = []
        for machine in machines {
            guard let name = EntryName.components(of: machine).last, let m = EntryName(String(name)) else { continue }
            let prefix = machine + "/"
            if layout.entries.contains(where: { EntryName.sameBytes($0.path, prefix + m.rawValue) }) { continue }
            for entry in layout.entries where entry.kind == .subvol && entry.path.startsWithBytes(prefix) {
                let rest = String(Substring(entry.path.utf8.dropFirst(prefix.utf8.count)))
                guard let child = EntryName(rest), case .revision = MachineEntryName(classifying: child, machine: m)
                else { continue }
                found.append((machine, rest))
            }
        }
        return found
    }

    mutating func heldLocks() -> [String] {
        var locks: [String] = []
        for machine in machines where chance(40) {
            guard let m = EntryName.components(of: machine).last.map(String.init), !m.startsWithBytes("."),
                !m.startsWithBytes("-")
            else { continue }
            let name = m + "-" + pick(entryToolchains) + ".lock"
            let path = machine + "/" + name
            guard name.utf8.count <= Layout.maximumNameBytes, !locks.contains(where: { EntryName.sameBytes($0, path) }) else {
                continue
            }
            if let entry = layout.entries.first(where: { EntryName.sameBytes($0.path, path) }), entry.kind != .file { continue }
            locks.append(path)
        }
        return locks
    }

    /// Agents and machine commands beside a live cleanup, and crashes.
    mutating func actors() -> ([ActorSpec], [FaultSpec]) {
        guard swarm.has(.agents) || swarm.has(.commands) else { return ([], []) }
        var actors: [ActorSpec] = []
        let configured = toolchains.filter { Toolchain(rawValue: $0) != nil }
        if swarm.has(.agents), let toolchain = configured.first {
            for index in 0..<(1 + random.next(below: 2)) {
                var agent = ActorSpec(name: "agent-\(index + 1)", kind: .agent)
                agent.toolchain = index == 0 ? toolchain : pick(configured)
                agent.builds = 1 + random.next(below: 2)
                agent.start = random.next(below: 120)
                actors.append(agent)
            }
        }
        if swarm.has(.commands) {
            // With unicode names, also a machine whose other spelling the
            // tree may hold, and one whose name joins its dash.
            var names = ["n", "fresh", "m"]
            if swarm.has(.unicodeNames) { names += ["d\u{e9}bian", "de\u{301}bian", "a\u{600}"] }
            let machine = (mainVolume ?? "default") + "/" + pick(names)
            var add = ActorSpec(name: "add", kind: .command)
            add.command = "add"
            add.machine = machine
            add.revision = 1
            actors.append(add)
            if chance(50) {
                var upgrade = ActorSpec(name: "upgrade", kind: .command)
                upgrade.command = "upgrade"
                upgrade.machine = machine
                upgrade.revision = 2
                upgrade.from = chance(50) ? 1 : nil
                upgrade.removeOld = chance(50)
                upgrade.start = 300
                actors.append(upgrade)
            } else if chance(50) {
                var remove = ActorSpec(name: "remove", kind: .command)
                remove.command = "remove"
                remove.machine = machine
                remove.start = 300
                actors.append(remove)
            }
        }
        var crashes: [FaultSpec] = []
        if swarm.has(.crashes), chance(60) {
            if chance(50), let victim = actors.first {
                var crash = FaultSpec(kind: .crash)
                crash.actor = victim.name
                crashes.append(crash)
            } else {
                crashes.append(FaultSpec(kind: .hostCrash))
            }
        }
        return (actors, crashes)
    }
}
