import Cleanup
import FSProtocol
import MachineLayout
import RealFS
import SimFS
import Synchronization

/// A world built on a real btrfs and on a simulated host alike, cleaned on
/// both, and compared: where the two disagree, SimFS is wrong.
///
/// The real tree lives in a fresh directory below the real directory (on a
/// btrfs mount); the simulated host makes the real directory a btrfs
/// volume, so the simulated tree has the same absolute root and every
/// diagnostic line the same text. Both trees are made by the same protocol
/// calls (`Layout.build`), both cleanups are the boot cleanup with the
/// world's toolchains, and both end states are read back by the same code
/// (`Layout.read`). The built trees, the end states (names, kinds,
/// read-only and received flags, link targets, owners), the diagnostic
/// lines in their order and the report's status must be equal. The real
/// tree is removed afterwards, whatever happened.
///
/// What a world holds beyond its tree and its configuration (faults,
/// races, held locks, live mode, actors) is the simulation's: left out
/// here, as the buildable generator leaves it out of the worlds it draws.
struct DifferentialCase {
    let world: FuzzWorld
    /// The real directory, absolute, without a trailing slash.
    let realDirectory: String
    /// Calls of the simulated cleanup that fail: how tests plant a SimFS
    /// bug. Empty in real runs.
    let simulatedFaults: [CallFault]
    var outcome = CaseOutcome()

    init(world: FuzzWorld, realDirectory: String, simulatedFaults: [CallFault]) {
        self.world = world
        let trimmed = EntryPath.trimmingTrailingSlashes(realDirectory)
        self.realDirectory = trimmed.isEmpty ? "/" : trimmed
        self.simulatedFaults = simulatedFaults
    }

    mutating func fail(_ message: String) {
        outcome.failures.append(OracleFailure(.differential, message))
    }

    mutating func run() async -> CaseOutcome {
        guard case .success(let toolchains) = world.toolchainSet else {
            // The command line refuses it before anything is touched, on
            // either backend: nothing to compare.
            outcome.coverage.hit("configuration:refused")
            return outcome
        }
        guard realDirectory.startsWithBytes("/") else {
            fail("the real directory \(realDirectory) is not an absolute path")
            return outcome
        }
        let real = RealFileSystem()
        guard real.isPrivileged else {
            fail("the differential mode needs root (it deletes subvolumes as the boot cleanup does)")
            return outcome
        }
        let caseName: EntryName
        do throws(FSError) {
            caseName = try await makeCaseDirectory(on: real)
        } catch {
            fail("cannot make a case directory in \(realDirectory): \(error.cause)")
            return outcome
        }
        let root = realDirectory == "/" ? "/" + caseName.rawValue : realDirectory + "/" + caseName.rawValue
        await compare(root: root, toolchains: toolchains, real: real)
        for problem in await CaseTreeRemoval.remove(caseName, in: realDirectory, on: real) {
            fail("the real case tree cannot be removed: \(problem)")
        }
        return outcome
    }

    // MARK: The two sides

    /// Builds, cleans and reads both trees under `root`, and notes every
    /// difference.
    mutating func compare(root: String, toolchains: ToolchainSet, real: RealFileSystem) async {
        var layout = world.layout
        layout.root = root
        layout.sourceLines = []
        // Random, so that no two cases on the real filesystem share a
        // received UUID.
        var generator = SystemRandomNumberGenerator()
        let uuids: UInt64 = generator.next()
        let host = SimulatedHost()
        let simulated: SimulatedProcess
        do throws(SetupError) {
            try host.addVolume(realDirectory)
            try host.addDirectory(root)
            simulated = host.spawn(.root)
        } catch {
            fail("the simulated host cannot be set up: \(error)")
            return
        }
        let realBuild = await Self.build(layout, on: real, uuids: uuids)
        let simulatedBuild = await Self.build(layout, on: simulated, uuids: uuids)
        switch (realBuild, simulatedBuild) {
        case (nil, nil): break
        case (let realError?, let simulatedError?) where realError == simulatedError:
            fail("the tree cannot be built through the protocol: \(realError)")
            return
        case (let realError, let simulatedError):
            fail(
                "building the tree: real \(realError.map { "fails: \($0)" } ?? "succeeds"), simulated "
                    + (simulatedError.map { "fails: \($0)" } ?? "succeeds"))
            return
        }
        guard let builtReal = await read("the built real tree", root, on: real),
            let builtSimulated = await read("the built simulated tree", root, on: simulated)
        else { return }
        if let difference = Self.difference(real: builtReal, simulated: builtSimulated) {
            fail("the built trees differ: \(difference)")
            return
        }

        let realReport = await CleanupRun(fileSystem: real, root: root, toolchains: toolchains, mode: .boot).run()
            .report
        let cleaner = host.spawn(.root)
        if !simulatedFaults.isEmpty { host.install(gate: FaultGate(simulatedFaults, pid: cleaner.processID)) }
        let simulatedReport = await CleanupRun(fileSystem: cleaner, root: root, toolchains: toolchains, mode: .boot)
            .run().report
        host.install(gate: nil)
        outcome.coverage.record(realReport)
        outcome.coverage.record(simulatedReport)

        guard let endReal = await read("the real end state", root, on: real),
            let endSimulated = await read("the simulated end state", root, on: simulated)
        else { return }
        if let difference = Self.difference(real: endReal, simulated: endSimulated) {
            fail("the end states differ: \(difference)")
        }
        if let difference = Self.difference(
            realLines: realReport.diagnostics.map(\.line), simulatedLines: simulatedReport.diagnostics.map(\.line))
        {
            fail("the diagnostic lines differ: \(difference)")
        } else if realReport.status != simulatedReport.status {
            fail("the status differs: real \(realReport.status.rawValue), simulated \(simulatedReport.status.rawValue)")
        }
        if let difference = Self.difference(
            realLines: realReport.decisions.map(Self.line), simulatedLines: simulatedReport.decisions.map(Self.line))
        {
            fail("the decisions differ: \(difference)")
        }
    }

    /// A fresh directory in the real directory, named by this process and
    /// a counter (the next one when a name is taken).
    func makeCaseDirectory(on real: RealFileSystem) async throws(FSError) -> EntryName {
        try await real.withRoot(realDirectory) { directory throws(FSError) in
            while true {
                let number = DifferentialCase.cases.add(1, ordering: .relaxed).newValue
                guard let name = EntryName("case-\(real.processID)-\(number)") else {
                    throw FSError(.invalidArgument, .makeDirectory, path: realDirectory)
                }
                do throws(FSError) {
                    try await real.makeDirectory(name, in: directory)
                    return name
                } catch where error.kind == .exists {
                    continue
                }
            }
        }
    }

    /// Cases started by this process, for the names of their directories.
    static let cases = Atomic<Int>(0)

    /// Builds `layout` (its received subvolumes get the UUIDs `uuids`:1,
    /// :2, ...): nil, or why it cannot be built.
    static func build(_ layout: Layout, on fileSystem: any FileSystem, uuids: UInt64) async -> Layout.BuildError? {
        var count: UInt64 = 0
        do throws(Layout.BuildError) {
            try await layout.build(on: fileSystem) {
                count += 1
                return BtrfsUUID(high: uuids, low: count)
            }
            return nil
        } catch {
            return error
        }
    }

    mutating func read(_ what: String, _ root: String, on fileSystem: any FileSystem) async -> Layout? {
        do throws(FSError) {
            return try await Layout.read(from: fileSystem, root: root)
        } catch {
            fail("\(what) cannot be read: \(error)")
            return nil
        }
    }

    // MARK: The comparison

    /// What differs between the real and the simulated tree, entry by
    /// entry (kind, path, flags, target, owner), or nil when nothing does.
    static func difference(real: Layout, simulated: Layout) -> String? {
        let realLines = real.entries.map(line)
        let simulatedLines = simulated.entries.map(line)
        if realLines.map({ ExactText($0) }) == simulatedLines.map({ ExactText($0) }) { return nil }
        let (realOnly, simulatedOnly) = QuietCase.multisetDifference(realLines, simulatedLines)
        return "real only \(realOnly), simulated only \(simulatedOnly)"
    }

    /// What differs between two sequences of diagnostic lines: the lines
    /// only one side printed, or the first line where the order differs.
    static func difference(realLines: [String], simulatedLines: [String]) -> String? {
        if realLines.map({ ExactText($0) }) == simulatedLines.map({ ExactText($0) }) { return nil }
        let (realOnly, simulatedOnly) = QuietCase.multisetDifference(realLines, simulatedLines)
        if !realOnly.isEmpty || !simulatedOnly.isEmpty {
            return "real only \(realOnly), simulated only \(simulatedOnly)"
        }
        let index = realLines.indices.first { !EntryName.sameBytes(realLines[$0], simulatedLines[$0]) } ?? 0
        return "the same lines in another order, from line \(index + 1): real '\(realLines[index])', "
            + "simulated '\(simulatedLines[index])'"
    }

    /// One decision as compared: the entry, what the scan saw, the plan
    /// and the outcome, without the identities (device numbers and ids
    /// are each filesystem's own).
    static func line(_ decision: Decision) -> String {
        let item = decision.item
        var text = "\(item.path) \(item.kind.rawValue) \(item.reason.code) \(item.action.rawValue) \(decision.outcome.code)"
        switch decision.outcome {
        case .deleted(let nested) where !nested.isEmpty: text += " nested " + nested.joined(separator: ", ")
        case .failed(let error): text += " \(error)"
        case .refused(let mounts): text += " mounts " + mounts.joined(separator: ", ")
        default: break
        }
        return text
    }

    /// One entry as compared: everything `Layout.read` reports.
    static func line(_ entry: LayoutEntry) -> String {
        var text = QuietCase.line(entry)
        if entry.owner != 0 || entry.group != 0 { text += " owner=\(entry.owner):\(entry.group)" }
        return text
    }
}
