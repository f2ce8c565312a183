import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Simulation

/// A world with no actor beside the cleanup, run straight on one host and
/// judged by every oracle.
struct QuietCase {
    let world: FuzzWorld
    let planTransform: (@Sendable (Plan) -> Plan)?
    let applyTransform: (@Sendable (Plan) -> Plan)?
    var outcome = CaseOutcome()

    init(world: FuzzWorld, planTransform: (@Sendable (Plan) -> Plan)?, applyTransform: (@Sendable (Plan) -> Plan)?) {
        self.world = world
        self.planTransform = planTransform
        self.applyTransform = applyTransform
    }

    var root: String { world.layout.root }

    mutating func fail(_ oracle: FuzzOracle, _ message: String) {
        outcome.failures.append(OracleFailure(oracle, message))
    }

    mutating func run() async -> CaseOutcome {
        let toolchains: ToolchainSet
        switch world.toolchainSet {
        case .failure(let error):
            outcome.coverage.hit("configuration:refused")
            if !RulesModel.configurationRefused(world.toolchains, explicitlyNone: world.explicitlyNone) {
                fail(.rules, "the configuration \(world.toolchains) is refused (\(error)), the rules take it")
            }
            return outcome
        case .success(let set):
            toolchains = set
            if RulesModel.configurationRefused(world.toolchains, explicitlyNone: world.explicitlyNone) {
                fail(.rules, "the configuration \(world.toolchains) is taken, the rules refuse it")
                return outcome
            }
        }
        let host: SimulatedHost
        do {
            host = try SimulatedHost(layout: world.layout)
            for entry in world.undecodable {
                let directory = entry.directory.isEmpty ? root : world.layout.absolutePath(entry.directory)
                try entry.add(to: host, in: directory)
            }
        } catch {
            fail(.noCrash, "the world cannot be built: \(error)")
            return outcome
        }
        // The builds holding locks (as root: the worlds' directories are
        // root's); the rules are told the locks actually taken.
        var holders: [SimulatedProcess] = []
        var held: [String] = []
        for lock in world.heldLocks {
            let holder = host.spawn(.root)
            guard await QuietCase.hold(lock, root: root, on: holder) else {
                host.kill(holder)
                continue
            }
            holders.append(holder)
            held.append(lock)
        }
        let model = RulesModel(
            root: root, toolchains: world.toolchains, live: world.mode == .live, heldLocks: held,
            undecodable: Set(world.undecodable.filter { !$0.nameIsText }.map(\.path)),
            unreadableLinks: Set(world.undecodable.filter(\.nameIsText).map(\.path)))
        let invariants = CleanupInvariants(host: host, root: root, toolchains: toolchains)
        // Only a world with entries outside the root has anything there.
        let hasOutside = world.layout.entries.contains { $0.path.startsWithBytes("/") }
        let outside = hasOutside ? host.layout(root: "/srv/outside") : Layout()
        let initial = host.layout(root: root)
        let process = host.spawn(.root)
        host.install(observer: invariants)
        invariants.started(process, cleanup: true)
        let cleanup = CleanupRun(fileSystem: process, root: root, toolchains: toolchains, mode: world.mode)

        // The dry run: it changes nothing anywhere on the host (counted,
        // without reading the tree back).
        let beforeDry = host.treeChanges
        let dryPlan = await plan(cleanup)
        // As the command prints it: with the read-only look for mounts.
        var dry: Report?
        if let dryPlan { dry = await Applier(fileSystem: process, mode: world.mode).checkedDryRun(dryPlan) }
        if host.treeChanges != beforeDry {
            let difference = QuietCase.difference(initial, host.layout(root: root)) ?? "a change undone since"
            fail(.dryRun, "the dry run changed the tree: \(difference)")
        }

        // The run, with the world's faults.
        let gate = world.faults.isEmpty ? nil : FaultGate(world.faults, pid: process.processID)
        if let gate { host.install(gate: gate) }
        var raced: [String]?
        // On a tree the dry run left as it was, the run's own scan would
        // plan the same (scan and plan are functions of the tree): without
        // faults, which can hit a scan, the run carries out the dry run's
        // plan, and the oracle compares the two on one plan.
        let first = await apply(cleanup, planned: world.faults.isEmpty ? dryPlan : nil) {
            // Between the scan and the deletions, unseen by the checks:
            // another process's doing.
            host.install(observer: nil)
            let racer = host.spawn(.root)
            raced = await QuietCase.race(world.races, root: root, on: racer)
            host.kill(racer)
            host.install(observer: invariants)
        }
        host.install(gate: nil)
        let afterFirst = host.layout(root: root)
        if let raced {
            // What appeared after the scan is not the scan's to delete.
            let present = Set(afterFirst.entries.map { ExactText($0.path) })
            for path in raced where !present.contains(ExactText(path)) {
                fail(.invariants, "the run removed \(path), which appeared after its scan")
            }
        }
        let faulted = (gate?.injected ?? 0) > 0 || raced != nil
        // What a race added after the scan is the next run's to judge.
        if raced == nil { invariants.cleanupFinished(first, tree: afterFirst) }
        outcome.coverage.record(first)
        if let dry { outcome.coverage.record(dry) }

        let verdict = model.verdict(initial, explicitlyNone: world.explicitlyNone)
        let expected = QuietCase.removing(verdict.removed, from: initial)
        if !faulted {
            checkRules(verdict, expected: expected, end: afterFirst, report: first)
            if let dry { checkDryRun(dry, against: first, end: afterFirst) }
        }

        // The second run: it changes nothing, or (after faults) it
        // finishes what the first left.
        let beforeSecond = host.treeChanges
        let second = await apply(cleanup)
        // A run that changed nothing leaves the tree the first one left.
        let afterSecond = host.treeChanges == beforeSecond ? afterFirst : host.layout(root: root)
        invariants.cleanupFinished(second, tree: afterSecond)
        outcome.coverage.record(second)
        var last = second
        var end = afterSecond
        if faulted {
            if raced != nil, held.isEmpty {
                // The first run acted on what it scanned before the race;
                // the second one, on a quiet tree, follows the rules.
                let rules = model.verdict(afterFirst, explicitlyNone: world.explicitlyNone)
                let again = QuietCase.removing(rules.removed, from: afterFirst)
                if let difference = QuietCase.difference(again, afterSecond) {
                    fail(.rules, "after a raced run, the second run differs from the rules: \(difference)")
                }
            } else if world.mode == .boot, held.isEmpty, let difference = QuietCase.difference(expected, afterSecond) {
                fail(
                    .invariants,
                    "invariant 8: after the faults, a second run does not converge to the run without them: "
                        + difference)
            }
            let third = await apply(cleanup)
            let afterThird = host.layout(root: root)
            invariants.cleanupFinished(third, tree: afterThird)
            end = afterThird
            if let difference = QuietCase.difference(afterSecond, afterThird) {
                fail(.secondRun, "a third run (after the faulted one) changed the tree: \(difference)")
            }
            last = third
        } else {
            if let difference = QuietCase.difference(afterFirst, afterSecond) {
                fail(.secondRun, "the second run changed the tree: \(difference)")
            }
            let repeated = second.decisions.filter {
                if case .deleted = $0.outcome { return true }
                return $0.outcome == .removed
            }
            if let again = repeated.first {
                fail(.secondRun, "the second run removed \(again.item.path.rendered(root: root)) again")
            }
        }
        for violation in invariants.finish(lastReport: last, tree: end) {
            // A machine whose entries a running build locks stays until
            // the build ends (invariant 7 waits for that).
            if violation.invariant == 7, !holders.isEmpty { continue }
            fail(.invariants, "invariant \(violation.invariant): \(violation.message)")
        }
        if hasOutside, host.layout(root: "/srv/outside") != outside {
            fail(.invariants, "invariant 3: a tree outside the root changed")
        }
        for holder in holders { host.kill(holder) }
        return outcome
    }

    // MARK: Running

    func plan(_ cleanup: CleanupRun) async -> Plan? {
        guard case .success(let plan) = await cleanup.plan() else { return nil }
        return planTransform.map { $0(plan) } ?? plan
    }

    /// Plans (unless `planned` is given) and carries the plan out;
    /// `between` runs after the scan.
    func apply(_ cleanup: CleanupRun, planned: Plan? = nil, between: () async -> Void = {}) async -> Report {
        var scanned = planned
        if scanned == nil { scanned = await plan(cleanup) }
        guard let plan = scanned else { return await cleanup.run().report }
        await between()
        let carried = applyTransform.map { $0(plan) } ?? plan
        return await Applier(fileSystem: cleanup.fileSystem, mode: cleanup.mode).apply(carried)
    }

    /// Carries the races out: what they made (nil when there are none).
    static func race(_ races: [Race], root: String, on racer: SimulatedProcess) async -> [String]? {
        if races.isEmpty { return nil }
        var created: [String] = []
        for race in races {
            var names = EntryName.components(of: race.path).compactMap { EntryName(String($0)) }
            let inDirectory = race.kind == .add || race.kind == .link
            if !inDirectory { guard names.count > 1 else { continue } }
            let last: EntryName =
                switch race.kind {
                case .add: "raced-file"
                case .link: names.last ?? "raced-link"
                case .delete, .replace: names.removeLast()
                }
            do throws(FSError) {
                var directory = try await racer.openRoot(root)
                for name in names { directory = try await racer.openDirectory(name, in: directory) }
                switch race.kind {
                case .add:
                    await racer.close(try await racer.openFile(last, in: directory, options: [.create, .write, .exclusive]))
                    created.append(race.path + "/" + last.rawValue)
                case .link:
                    try await racer.createSymlink(last, in: directory, target: race.target ?? "")
                    created.append(race.path + "/" + last.rawValue)
                case .delete, .replace:
                    created.removeAll { $0 == race.path }
                    let status = try await racer.status(of: last, in: directory)
                    switch status.kind {
                    case .subvolume: try await racer.deleteSubvolume(last, in: directory)
                    case .directory: try await racer.removeDirectory(last, in: directory)
                    default: try await racer.unlink(last, in: directory)
                    }
                    if race.kind == .replace {
                        try await racer.createSubvolume(last, in: directory)
                        created.append(race.path)
                    }
                }
            } catch {
                // A race that cannot happen (a subvolume holding others,
                // a directory not empty) leaves the tree as it was.
                continue
            }
        }
        return created
    }

    /// Takes the lock of a lock file below the root, as an agent would.
    /// Its descriptors stay open until the holder is killed: the lock lives
    /// as long as the open file.
    static func hold(_ lock: String, root: String, on process: SimulatedProcess) async -> Bool {
        var names = EntryName.components(of: lock).compactMap { EntryName(String($0)) }
        guard let file = names.popLast() else { return false }
        do throws(FSError) {
            var directory = try await process.openRoot(root)
            for name in names { directory = try await process.openDirectory(name, in: directory) }
            let handle = try await process.openFile(file, in: directory, options: [.create, .write])
            return try await process.tryLock(handle)
        } catch {
            return false
        }
    }

    // MARK: The oracles

    mutating func checkRules(_ verdict: RulesModel.Verdict, expected: Layout, end: Layout, report: Report) {
        if let difference = QuietCase.difference(expected, end) {
            fail(.rules, "the end state differs from the rules: \(difference)")
        }
        // Live mode takes and releases locks, whose lines the rules leave out.
        guard world.mode == .boot else { return }
        let prefix = EntryPath.trimmingTrailingSlashes(root) + "/"
        let lines = report.diagnostics.map { line in
            (line.path.startsWithBytes(prefix) ? String(Substring(line.path.utf8.dropFirst(prefix.utf8.count))) : line.path)
                + " "
                + line.level.rawValue
        }.sorted(by: EntryName.precedesInBytes)
        if lines.map({ ExactText($0) }) != verdict.lines.map({ ExactText($0) }) {
            let (missing, extra) = QuietCase.multisetDifference(verdict.lines, lines)
            fail(.rules, "the lines differ from the rules: missing \(missing), extra \(extra)")
        }
    }

    /// The dry run's plan against what the apply did: what it planned to
    /// remove is gone (or failed with a line), what it kept is there.
    mutating func checkDryRun(_ dry: Report, against applied: Report, end: Layout) {
        let present = Set(end.entries.map { ExactText($0.path) })
        let prefix = EntryPath.trimmingTrailingSlashes(root) + "/"
        func relative(_ item: PlanItem) -> ExactText {
            ExactText(String(Substring(item.path.rendered(root: root).utf8.dropFirst(prefix.utf8.count))))
        }
        var attempted: [ExactText: Outcome] = [:]
        for decision in applied.decisions { attempted[relative(decision.item)] = decision.outcome }
        for decision in dry.decisions {
            let path = relative(decision.item)
            switch decision.item.action {
            case .keep, .report:
                if !present.contains(path) { fail(.dryRun, "the dry run keeps \(path), the run removed it") }
            case .deleteSubvolume, .removeLockFile, .removeTemporaryLink, .deleteMachineDirectory:
                switch attempted[path] {
                case .deleted?, .removed?:
                    if present.contains(path) { fail(.dryRun, "the run reports \(path) removed, it is there") }
                case .failed?, .refused?, .changed?, .locked?:
                    break
                case let other:
                    let done = other.map(\.code) ?? "nothing"
                    fail(.dryRun, "the dry run plans to remove \(path), the run did \(done)")
                }
            }
        }
        // The lines compared by their fields, byte for byte; written out
        // only for a failure's message.
        let dryLines = dry.diagnostics.map(LineFields.init)
        let appliedLines = applied.diagnostics.map(LineFields.init)
        let missing = QuietCase.missing(dryLines, from: appliedLines)
        if !missing.isEmpty {
            let lines = missing.map(\.line).sorted(by: EntryName.precedesInBytes)
            fail(.dryRun, "the dry run prints lines the run does not: \(lines)")
        }
        // At boot, unfaulted, the dry run looks for mounts as the run does:
        // every refusal for one is foreseen.
        if dry.mode == .boot {
            let refusals = appliedLines.filter(\.isMountRefusal)
            let unforeseen = refusals.isEmpty ? [] : QuietCase.missing(refusals, from: dryLines)
            if !unforeseen.isEmpty {
                let lines = unforeseen.map(\.line).sorted(by: EntryName.precedesInBytes)
                fail(.dryRun, "the run refuses what the dry run did not foresee: \(lines)")
            }
        }
    }

    /// A diagnostic line by its fields, equal when their bytes are.
    struct LineFields: Hashable {
        let diagnostic: Diagnostic

        init(_ diagnostic: Diagnostic) { self.diagnostic = diagnostic }

        var line: String { diagnostic.line }

        /// The run's refusal to delete a subvolume with a mount inside.
        var isMountRefusal: Bool {
            diagnostic.level == .error && EntryName.sameBytes(diagnostic.message, "unable to delete subvolume")
                && (diagnostic.cause?.startsWithBytes("mount point inside: ") ?? false)
        }

        static func == (lhs: LineFields, rhs: LineFields) -> Bool {
            let (a, b) = (lhs.diagnostic, rhs.diagnostic)
            guard a.level == b.level, EntryName.sameBytes(a.path, b.path), EntryName.sameBytes(a.message, b.message)
            else { return false }
            switch (a.cause, b.cause) {
            case (nil, nil): return true
            case (let x?, let y?): return EntryName.sameBytes(x, y)
            default: return false
            }
        }

        func hash(into hasher: inout Hasher) {
            EntryName.hashBytes(of: diagnostic.path, into: &hasher)
            hasher.combine(diagnostic.level)
            EntryName.hashBytes(of: diagnostic.message, into: &hasher)
            if let cause = diagnostic.cause { EntryName.hashBytes(of: cause, into: &hasher) }
        }
    }

    /// What of `expected` (counted as a multiset) `actual` lacks.
    static func missing<Element: Hashable>(_ expected: [Element], from actual: [Element]) -> [Element] {
        var counts: [Element: Int] = [:]
        for element in actual { counts[element, default: 0] += 1 }
        var missing: [Element] = []
        for element in expected {
            if let count = counts[element], count > 0 { counts[element] = count - 1 } else { missing.append(element) }
        }
        return missing
    }

    /// A layout without the removed paths and what is below them.
    static func removing(_ removed: Set<ExactText>, from layout: Layout) -> Layout {
        if removed.isEmpty { return layout }
        // A path goes with a removed one or below one: compared on bytes,
        // without a copy of each prefix.
        let below = removed.map { $0.text + "/" }
        var result = layout
        result.entries.removeAll { entry in
            removed.contains(ExactText(entry.path)) || below.contains { entry.path.startsWithBytes($0) }
        }
        return result
    }

    /// What differs between two trees (entries with kind, flags, owner,
    /// target), or nil when nothing does.
    static func difference(_ expected: Layout, _ actual: Layout) -> String? {
        // Equal entries (by bytes, every field) print equal lines: the
        // usual answer, without writing them.
        if expected.entries == actual.entries { return nil }
        let expectedLines = expected.entries.map(line)
        let actualLines = actual.entries.map(line)
        if expectedLines.map({ ExactText($0) }) == actualLines.map({ ExactText($0) }) { return nil }
        let (missing, extra) = multisetDifference(expectedLines, actualLines)
        return "missing \(missing), extra \(extra)"
    }

    static func line(_ entry: LayoutEntry) -> String {
        var text = entry.kind.rawValue + " " + entry.path
        if entry.readOnly { text += " ro" }
        if entry.received { text += " received" }
        if let target = entry.target { text += " -> " + target }
        return text
    }

    static func multisetDifference(_ expected: [String], _ actual: [String]) -> (missing: [String], extra: [String]) {
        // By bytes (`ExactText`): "caf\u{e9}" and "cafe\u{301}" are two names.
        var counts: [ExactText: Int] = [:]
        for line in expected { counts[ExactText(line), default: 0] += 1 }
        var extra: [String] = []
        for line in actual {
            let key = ExactText(line)
            if let count = counts[key], count > 0 { counts[key] = count - 1 } else { extra.append(line) }
        }
        let missing = expected.filter { (counts[ExactText($0)] ?? 0) > 0 }
        return (Set(missing.map { ExactText($0) }).sorted().map(\.text), extra)
    }
}
