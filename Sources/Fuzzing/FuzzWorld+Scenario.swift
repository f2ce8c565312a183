import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Simulation

/// A world as a scenario: what runs a world with actors under the
/// scheduler, and what a shrunk failing case is saved as, for
/// `scenario run` to replay.
extension FuzzWorld {
    /// The scenario of this world. For a quiet world: one cleanup (with
    /// the world's faults as injected errors), a second cleanup after it,
    /// the races as a script beside them, and, when the rules model's end
    /// state is known (no race, no held lock), that end state as the
    /// expectation. `oracle` and `message` describe a failure.
    public func scenario(oracle: FuzzOracle?, message: String?) -> Scenario {
        var cleanup = ActorSpec(name: "cleanup", kind: .cleanup)
        cleanup.mode = mode
        var actors = self.actors
        var faults = crashes
        var afterCrash: [ActorSpec]?
        if isConcurrent {
            cleanup.mode = .live
            cleanup.start = 60
            actors.append(cleanup)
            if crashes.contains(where: { $0.kind == .hostCrash }) {
                var boot = ActorSpec(name: "boot-cleanup", kind: .cleanup)
                boot.mode = .boot
                afterCrash = [boot]
            }
        } else {
            actors.append(cleanup)
            if !faults.isEmpty || !self.faults.isEmpty || !races.isEmpty {
                var again = ActorSpec(name: "cleanup-again", kind: .cleanup)
                again.mode = mode
                again.start = 1
                actors.append(again)
            }
            for fault in self.faults {
                var spec = FaultSpec(kind: .error)
                spec.actor = "cleanup"
                spec.operation = fault.operation.rawValue
                spec.path = fault.path
                spec.error = fault.error.symbol
                spec.count = fault.count
                faults.append(spec)
            }
        }
        if !races.isEmpty {
            // The races become a script beside the cleanup; when they
            // happen is the strategy's.
            var racer = ActorSpec(name: "racer", kind: .script)
            racer.steps = races.compactMap { race in
                let path = layout.absolutePath(race.path)
                guard !path.contains(" ") else { return nil }
                switch race.kind {
                case .add: return "mkdir \(path)/raced-dir"
                case .link:
                    guard let target = race.target, !target.contains(" "), let name = EntryName.components(of: path).last
                    else { return nil }
                    return "symlink \(target) \(path)/\(name)"
                case .delete, .replace:
                    switch layout.entries.first(where: { $0.path == race.path })?.kind {
                    case .subvol?: return "delete-subvolume \(path)"
                    case .dir?, .volume?: return "rmdir \(path)"
                    default: return "unlink \(path)"
                    }
                }
            }
            if !(racer.steps ?? []).isEmpty { actors.append(racer) }
        }
        var expect = Expectation()
        expect.invariants = "hold"
        if !isConcurrent, races.isEmpty, heldLocks.isEmpty, case .success = toolchainSet,
            let tree = try? SimulatedHost(layout: layout).layout(root: layout.root)
        {
            // The tree as the host holds it, missing parents made.
            let verdict = RulesModel(root: layout.root, toolchains: toolchains, live: mode == .live).verdict(
                tree, explicitlyNone: explicitlyNone)
            var end = Layout(root: layout.root)
            end.rootIsBtrfs = layout.rootIsBtrfs
            end.entries = tree.entries.filter { entry in
                !verdict.removed.contains {
                    EntryName.sameBytes(entry.path, $0.text) || entry.path.startsWithBytes($0.text + "/")
                }
            }
            expect.endState = end.text
        }
        let featureList = features.sorted().map(\.rawValue).joined(separator: ", ")
        var description = "Drawn by buildos-clean-dev fuzz from seed \(FuzzWorld.hex(seed))"
        description += featureList.isEmpty ? "." : " (features: \(featureList))."
        if let oracle { description += " Oracle \(oracle.rawValue) failed" + (message.map { ": \($0)" } ?? ".") }
        var scenario = Scenario(
            name: "fuzz case \(FuzzWorld.hex(seed))", description: description, layout: layout.text,
            toolchains: toolchains, actors: actors)
        scenario.faults = faults.isEmpty ? nil : faults
        scenario.afterHostCrash = afterCrash
        let scheduled = isConcurrent || !races.isEmpty
        scenario.strategy = scheduled ? .random : .exhaustive
        scenario.schedules = scheduled ? 20 : 1
        scenario.seed = seed
        scenario.expect = expect
        return scenario
    }

    /// A seed as scripts and the command line write it.
    public static func hex(_ seed: UInt64) -> String {
        let digits = String(seed, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}
