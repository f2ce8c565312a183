import MachineLayout
import Cleanup
import FSProtocol
import Glibc
import SimFS
import Synchronization

/// The whole boot cleanup (`CleanupRun.run()`: scan, plan, apply, report)
/// on large simulated trees, to show that its cost grows linearly with the
/// tree: stray working snapshots in one machine directory, and whole trees
/// of many volumes and machines with kept and deleted entries mixed. The
/// setup of each tree, and the read-back of its end state as a layout, are
/// timed apart.
enum CleanupScaleBenchmark {
    static let root = "/build/machines"
    static let toolchains = ToolchainSet([.default])

    /// One machine directory: its link, a read-only revision, the
    /// bootstrapped machine, and `strays` working snapshots to delete.
    static func strayHost(strays: Int) throws -> SimulatedHost {
        let host = SimulatedHost()
        try host.addVolume("\(root)/default")
        let directory = "\(root)/default/m"
        try host.addSubvolume("\(directory)/m-1", readOnly: true)
        try host.addSymlink("\(directory)/m", target: "m-1")
        try host.addSubvolume("\(directory)/m-default")
        for index in 0..<strays { try host.addSubvolume("\(directory)/m-default-\(100 + index % 7)-\(index)") }
        return host
    }

    /// The shape of a tree: ten volumes of machine directories, ten entries
    /// each (the link, two read-only revisions, a kept and a removed
    /// toolchain's machine, four working snapshots, a lock file); every
    /// tenth machine has lost its link and goes whole. About six entries
    /// in ten are deleted.
    struct TreeShape {
        var volumes: Int
        var machinesPerVolume: Int

        init(entries: Int) {
            volumes = 10
            machinesPerVolume = max(1, entries / (volumes * 10))
        }

        /// The plan's items: every volume, machine and machine entry.
        var entries: Int {
            let machines = volumes * machinesPerVolume
            return volumes + machines * 11 - volumes * (machinesPerVolume / 10)
        }
    }

    static func treeHost(_ shape: TreeShape) throws -> SimulatedHost {
        let host = SimulatedHost()
        for volume in 0..<shape.volumes {
            let volumePath = "\(root)/v\(volume)"
            try host.addVolume(volumePath)
            for index in 0..<shape.machinesPerVolume {
                let machine = "m\(index)"
                let directory = "\(volumePath)/\(machine)"
                try host.addSubvolume("\(directory)/\(machine)-1", readOnly: true, received: true)
                try host.addSnapshot(of: "\(directory)/\(machine)-1", at: "\(directory)/\(machine)-2", readOnly: true)
                if index % 10 != 9 { try host.addSymlink("\(directory)/\(machine)", target: "\(machine)-2") }
                try host.addSnapshot(of: "\(directory)/\(machine)-2", at: "\(directory)/\(machine)-default")
                try host.addSnapshot(of: "\(directory)/\(machine)-2", at: "\(directory)/\(machine)-old")
                for working in 1...4 {
                    try host.addSnapshot(
                        of: "\(directory)/\(machine)-default", at: "\(directory)/\(machine)-default-\(working)-1")
                }
                try host.addFile("\(directory)/\(machine)-default.lock")
            }
        }
        return host
    }

    static func run(strays: [Int], observed: [Int], trees: [Int]) async throws {
        print("boot cleanup (scan, plan, apply) on SimFS; setup and end-state read-back timed apart")
        if !strays.isEmpty {
            print("stray working snapshots in one machine directory")
            header()
            for count in strays {
                let (host, setup) = try timed { try strayHost(strays: count) }
                try await measure(host: host, setup: setup, expectDeleted: count)
            }
        }
        if !observed.isEmpty {
            print("the same, with an observer that wants every call's subject and effects (the simulation's path)")
            header()
            for count in observed {
                let (host, setup) = try timed { try strayHost(strays: count) }
                let observer = EffectCounter()
                host.install(observer: observer)
                try await measure(host: host, setup: setup, expectDeleted: count)
                guard observer.deletions == count else {
                    print("the observer saw \(observer.deletions) deletions, expected \(count)")
                    throw BenchmarkFailure()
                }
            }
        }
        if !trees.isEmpty {
            print("whole trees: 10 volumes, 10 entries per machine, every tenth machine deleted whole")
            header()
            for size in trees {
                let shape = TreeShape(entries: size)
                let (host, setup) = try timed { try treeHost(shape) }
                let machines = shape.volumes * shape.machinesPerVolume
                let deletedWhole = shape.volumes * (shape.machinesPerVolume / 10)
                // Five subvolumes of each kept machine, all eight of each
                // deleted one.
                let deleted = (machines - deletedWhole) * 5 + deletedWhole * 8
                try await measure(host: host, setup: setup, expectDeleted: deleted)
            }
        }
    }

    static func header() {
        print(
            "     entries   setup s  layout s   text s   load s   plan s     run s  run us/entry   deleted"
                + "  end state s  peak RSS MiB")
    }

    /// Times the cleanup on `host`, after the round trip of its tree
    /// through a layout (read back, written as text and parsed, then
    /// loaded into a second host).
    static func measure(host: SimulatedHost, setup: Double, expectDeleted: Int) async throws {
        let (layout, readBack) = timed { host.layout(root: root) }
        let (parsed, text) = try timed { try Layout.parse(layout.text) }
        guard parsed == layout else {
            print("the layout does not survive its text")
            throw BenchmarkFailure()
        }
        let (_, load) = try timed { _ = try SimulatedHost(layout: parsed) }
        let cleanup = CleanupRun(fileSystem: host.spawn(), root: root, toolchains: toolchains)
        // The scan and plan alone first (the run repeats them), to tell
        // their share from the apply step's.
        let (_, planning) = await timed { await cleanup.plan() }
        let ((plan, report), seconds) = await timed { await cleanup.run() }
        let deleted = report.decisions.count(where: { if case .deleted = $0.outcome { true } else { false } })
        guard let plan, report.status != .halted, deleted == expectDeleted else {
            print("unexpected outcome: \(report.status), \(deleted) deleted, expected \(expectDeleted)")
            for line in report.textLines.prefix(10) { print(line) }
            throw BenchmarkFailure()
        }
        let (end, endReadBack) = timed { host.layout(root: root) }
        print(
            "  \(pad(String(plan.items.count), 10))  \(pad(format(setup), 8))  \(pad(format(readBack), 8))"
                + "  \(pad(format(text), 7))  \(pad(format(load), 7))  \(pad(format(planning), 7))  \(pad(format(seconds), 8))"
                + "  \(pad(format(seconds / Double(plan.items.count) * 1e6, 2), 12))  \(pad(String(deleted), 8))"
                + "  \(pad(format(endReadBack), 11))  \(pad(String(peakResidentMiB()), 12))"
                + "   (\(end.entries.count) layout lines left)")
    }

    struct BenchmarkFailure: Error {}

    /// Counts the deletions among the effects it is shown.
    final class EffectCounter: SimulationObserver {
        private let count = Mutex(0)
        var deletions: Int { count.withLock { $0 } }

        func didPerform(_ event: SimulatedEvent) {
            let deleted = event.effects.count { if case .deletedSubvolume = $0 { true } else { false } }
            if deleted > 0 { count.withLock { $0 += deleted } }
        }
    }

    static func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = ContinuousClock.now
        let value = try body()
        return (value, (ContinuousClock.now - start).seconds)
    }

    static func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
        let start = ContinuousClock.now
        let value = try await body()
        return (value, (ContinuousClock.now - start).seconds)
    }

    /// The process's peak resident set so far.
    static func peakResidentMiB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss / 1024
    }
}
