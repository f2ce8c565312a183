import FSProtocol
import MachineLayout

/// Makes a failing world smaller while one oracle still fails on it:
/// fewer actors, crashes, faults, races, held locks and toolchains, fewer
/// layout entries (chunks first, then one by one, each with what lies
/// below it; a directory alone, its entries making it again), two
/// machines folded into one, shorter machine names and shorter entry
/// names. Greedy, to a fixed point or a budget of runs.
public struct Shrinker: Sendable {
    public let runner: CaseRunner
    /// At most this many candidate runs per shrink.
    public var budget: Int

    public init(runner: CaseRunner, budget: Int = 4_000) {
        self.runner = runner
        self.budget = budget
    }

    /// The smallest world found on which `oracle` still fails, and the
    /// failure it gives.
    public func shrink(_ world: FuzzWorld, keeping oracle: FuzzOracle) async -> (FuzzWorld, OracleFailure?) {
        var best = world
        var failure = await runner.run(world).failures.first { $0.oracle == oracle }
        var runs = 0
        var improved = true
        while improved, runs < budget {
            improved = false
            for candidate in Shrinker.candidates(of: best) where candidate.size < best.size {
                guard runs < budget else { break }
                runs += 1
                if let found = await runner.run(candidate).failures.first(where: { $0.oracle == oracle }) {
                    best = candidate
                    failure = found
                    improved = true
                    break
                }
            }
        }
        return (best, failure)
    }

    /// Smaller worlds to try, the biggest cuts first.
    static func candidates(of world: FuzzWorld) -> [FuzzWorld] {
        var candidates: [FuzzWorld] = []
        func with(_ change: (inout FuzzWorld) -> Void) {
            var candidate = world
            change(&candidate)
            candidates.append(candidate)
        }
        if !world.actors.isEmpty {
            with { $0.actors = []; $0.crashes = [] }
            for index in world.actors.indices {
                with { candidate in
                    let name = candidate.actors.remove(at: index).name
                    candidate.crashes.removeAll { $0.actor == name }
                }
            }
        }
        if world.mode == .live { with { $0.mode = .boot; $0.heldLocks = [] } }
        for index in world.crashes.indices { with { $0.crashes.remove(at: index) } }
        for index in world.faults.indices { with { $0.faults.remove(at: index) } }
        for index in world.heldLocks.indices { with { $0.heldLocks.remove(at: index) } }
        for index in world.races.indices { with { $0.races.remove(at: index) } }
        for index in world.undecodable.indices { with { $0.undecodable.remove(at: index) } }
        if world.toolchains.count > 1 {
            for index in world.toolchains.indices { with { $0.toolchains.remove(at: index) } }
        }
        // Entries: halves, quarters, ... then single ones.
        let count = world.layout.entries.count
        var chunk = count / 2
        while chunk >= 1 {
            var start = 0
            while start < count {
                let range = start..<min(count, start + chunk)
                with { $0.layout = Shrinker.removing(entries: range, from: $0.layout) }
                start += chunk
            }
            chunk /= 2
        }
        // A plain directory or volume made implicitly: a missing parent is
        // made anyway when its entries are.
        for (index, entry) in world.layout.entries.enumerated() where entry.kind == .dir || entry.kind == .volume {
            guard world.layout.entries.contains(where: { $0.path.startsWithBytes(entry.path + "/") }) else { continue }
            with { $0.layout.entries.remove(at: index); $0.layout.sourceLines = [] }
        }
        var machines: [String] = []
        for entry in world.layout.entries where !entry.path.startsWithBytes("/") {
            let parts = EntryName.components(of: entry.path)
            guard parts.count >= 2 else { continue }
            let machine = String(parts[0] + "/" + parts[1])
            if !machines.contains(where: { EntryName.sameBytes($0, machine) }) { machines.append(machine) }
        }
        for machine in machines {
            let name = EntryName.components(of: machine)[1]
            for short in ["m", "n", "a"] where short.utf8.count < name.utf8.count {
                with { $0.layout = Shrinker.renaming(machine: machine, to: short, in: $0.layout) }
            }
        }
        // Two machines of a volume folded into one: the entries of one
        // moved into the other under its name, its link and directory gone.
        for machine in machines {
            for other in machines where !EntryName.sameBytes(other, machine) {
                with { $0.layout = Shrinker.merging(machine: machine, into: other, in: $0.layout) }
            }
        }
        // A long entry name: what follows its last dash cut to its first
        // scalar (`m-gcc-9999...9` to `m-gcc-9`), then the name cut to its
        // first half; links to it alike. By bytes: a dash that carries a
        // combining mark is a dash all the same.
        for (index, entry) in world.layout.entries.enumerated() {
            for short in Shrinker.shorterNames(of: entry.path) {
                with { $0.layout = Shrinker.renaming(entry: index, to: short, in: $0.layout) }
            }
        }
        return candidates
    }

    /// Shorter spellings of the last component of `path`, cut at scalar
    /// boundaries: what follows its last dash cut to one scalar, and the
    /// whole name cut to about half its bytes. Never `.` or `..`.
    static func shorterNames(of path: String) -> [String] {
        let scalars = path.unicodeScalars
        guard let slash = scalars.lastIndex(of: "/") else { return [] }
        let nameStart = scalars.index(after: slash)
        let name = scalars[nameStart...]
        let nameBytes = String(name).utf8.count
        var shorter: [String] = []
        func offer(_ end: String.UnicodeScalarView.Index) {
            let candidate = String(scalars[..<end])
            let last = String(scalars[nameStart..<end])
            guard end > nameStart, end < scalars.endIndex, last != ".", last != ".." else { return }
            shorter.append(candidate)
        }
        if let dash = name.lastIndex(of: "-") {
            let tail = scalars.index(after: dash)
            if tail < scalars.endIndex { offer(scalars.index(after: tail)) }
        }
        if nameBytes > 1 {
            var end = nameStart
            var bytes = 0
            while end < scalars.endIndex, bytes < nameBytes / 2 {
                bytes += UTF8.width(scalars[end])
                end = scalars.index(after: end)
            }
            offer(end)
        }
        return shorter
    }

    /// A layout with one entry renamed (within its directory), what lies
    /// below it moved along, and the links of that directory that named it
    /// by name naming the new one.
    static func renaming(entry index: Int, to newPath: String, in layout: Layout) -> Layout {
        let oldPath = layout.entries[index].path
        guard !layout.entries.contains(where: { EntryName.sameBytes($0.path, newPath) }),
            let oldName = EntryName.components(of: oldPath).last, let newName = EntryName.components(of: newPath).last
        else { return layout }
        let directory = String(Substring(oldPath.utf8.dropLast(oldName.utf8.count)))
        var result = layout
        result.sourceLines = []
        for position in result.entries.indices {
            var entry = result.entries[position]
            if EntryName.sameBytes(entry.path, oldPath) {
                entry.path = newPath
            } else if entry.path.startsWithBytes(oldPath + "/") {
                entry.path = newPath + String(Substring(entry.path.utf8.dropFirst(oldPath.utf8.count)))
            }
            if entry.kind == .link, entry.path.startsWithBytes(directory),
                entry.target.map({ EntryName.sameBytes($0, String(oldName)) }) ?? false
            {
                entry.target = String(newName)
            }
            result.entries[position] = entry
        }
        return result
    }

    /// A layout without some entries and everything below them or made
    /// from them.
    static func removing(entries range: Range<Int>, from layout: Layout) -> Layout {
        var result = layout
        let gone = layout.entries[range].map(\.path)
        result.entries = layout.entries.enumerated().filter { index, entry in
            if range.contains(index) { return false }
            let below = gone.contains { entry.path.startsWithBytes($0 + "/") }
            let madeFrom = entry.snapshotOf.map { source in
                gone.contains { EntryName.sameBytes(source, $0) || source.startsWithBytes($0 + "/") }
            }
            return !below && !(madeFrom ?? false)
        }.map(\.1)
        result.sourceLines = []
        return result
    }

    /// A layout with the entries of machine `path` moved into machine
    /// `other` of the same volume and renamed after it, `path`'s current
    /// link and directory dropped; unchanged when a moved entry would take
    /// the name of one there.
    static func merging(machine path: String, into other: String, in layout: Layout) -> Layout {
        let parts = EntryName.components(of: path)
        let into = EntryName.components(of: other)
        guard parts.count == 2, into.count == 2, parts[0].utf8.elementsEqual(into[0].utf8) else { return layout }
        var without = layout
        let link = path + "/" + parts[1]
        without.entries.removeAll { EntryName.sameBytes($0.path, path) || EntryName.sameBytes($0.path, link) }
        let merged = renaming(machine: path, to: String(into[1]), in: without, merging: true)
        var seen: Set<ExactText> = []
        guard merged.entries.allSatisfy({ seen.insert(ExactText($0.path)).inserted }) else { return layout }
        return merged
    }

    /// A layout with one machine directory renamed, and the entries in it
    /// whose names start with the machine's name renamed alike (with
    /// their links' targets). Unless `merging`, unchanged when the new
    /// name is taken.
    static func renaming(machine path: String, to short: String, in layout: Layout, merging: Bool = false) -> Layout {
        let parts = EntryName.components(of: path)
        guard parts.count == 2 else { return layout }
        let volume = String(parts[0])
        let machine = String(parts[1])
        let newPath = volume + "/" + short
        if !merging,
            layout.entries.contains(where: {
                EntryName.sameBytes($0.path, newPath) || $0.path.startsWithBytes(newPath + "/")
            })
        {
            return layout
        }
        func renamed(_ name: Substring) -> String {
            name.startsWithBytes(machine) ? short + String(Substring(name.utf8.dropFirst(machine.utf8.count))) : String(name)
        }
        func same(_ left: Substring, _ right: String) -> Bool { left.utf8.elementsEqual(right.utf8) }
        var result = layout
        result.sourceLines = []
        for index in result.entries.indices {
            var entry = result.entries[index]
            let components = EntryName.components(of: entry.path)
            guard components.count >= 2, same(components[0], volume), same(components[1], machine) else { continue }
            var newComponents = [volume, short]
            if components.count >= 3 { newComponents.append(renamed(components[2])) }
            newComponents += components.dropFirst(3).map(String.init)
            entry.path = newComponents.joined(separator: "/")
            if let target = entry.target {
                entry.target = target.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                    .map { renamed(Substring($0)) }.joined(separator: "/")
            }
            if let source = entry.snapshotOf {
                let sourceParts = EntryName.components(of: source)
                if sourceParts.count >= 2, same(sourceParts[0], volume), same(sourceParts[1], machine) {
                    entry.snapshotOf = ([volume, short] + sourceParts.dropFirst(2).enumerated().map { index, part in
                        index == 0 ? renamed(part) : String(part)
                    }).joined(separator: "/")
                }
            }
            result.entries[index] = entry
        }
        return result
    }
}
