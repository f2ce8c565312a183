import MachineLayout
import Cleanup
import FSProtocol
import SimFS

/// Scan and plan of the boot cleanup on SimFS: N machine directories of
/// ten entries each (the link, two revisions, two bootstrapped machines,
/// four working snapshots, a lock file).
enum ScanPlanBenchmark {
    static func makeHost(machines: Int) throws -> SimulatedHost {
        let host = SimulatedHost()
        try host.addVolume("/build/machines/default")
        for index in 0..<machines {
            let machine = "m\(index)"
            let directory = "/build/machines/default/\(machine)"
            try host.addSubvolume("\(directory)/\(machine)-1", readOnly: true)
            try host.addSubvolume("\(directory)/\(machine)-2", readOnly: true)
            try host.addSymlink("\(directory)/\(machine)", target: "\(machine)-2")
            try host.addSubvolume("\(directory)/\(machine)-default")
            try host.addSubvolume("\(directory)/\(machine)-old")
            for working in 1...4 { try host.addSubvolume("\(directory)/\(machine)-default-\(working)-1") }
            try host.addFile("\(directory)/\(machine)-default.lock")
        }
        return host
    }

    /// Scan and plan timed apart, for profiling.
    static func split(machines: Int) async throws {
        let host = try makeHost(machines: machines)
        let process = host.spawn()
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let scan = try await Scanner(fileSystem: process).scan(rootPath: "/build/machines")
            let scanned = ContinuousClock.now
            let plan = Planner(toolchains: ToolchainSet([.default])).plan(scan)
            let planned = ContinuousClock.now
            print("scan \(format((scanned - start).seconds)) s, plan \(format((planned - scanned).seconds)) s, \(plan.items.count) items")
        }
    }

    /// The planner alone, on a scan made up in memory, ten times (for
    /// profiling the planner without the simulator).
    static func planOnly(machines: Int) {
        var volumeMachines: [MachineScan] = []
        var inode: UInt64 = 300
        func status(_ kind: EntryKind) -> EntryStatus {
            inode += 1
            return EntryStatus(
                kind: kind, identity: FileIdentity(device: 40, inode: inode), owner: 0, group: 0, permissions: 0o755)
        }
        for index in 0..<machines {
            let machine = "m\(index)"
            var entries: [DirectoryEntry] = []
            func add(_ suffix: String, _ kind: EntryKind) {
                entries.append(DirectoryEntry(name: EntryName(machine + suffix)!, status: status(kind)))
            }
            add("", .symlink)
            add("-1", .subvolume)
            add("-2", .subvolume)
            add("-default", .subvolume)
            for working in 1...4 { add("-default-\(working)-1", .subvolume) }
            add("-default.lock", .file)
            add("-old", .subvolume)
            entries.sort { $0.name < $1.name }
            volumeMachines.append(
                MachineScan(
                    name: EntryName(machine)!, status: status(.directory),
                    content: .listed(MachineDirectory(entries: entries, link: .symlink(target: machine + "-2")))))
        }
        let scan = TreeScan(
            root: "/build/machines",
            volumes: [VolumeScan(name: "default", status: status(.subvolume), content: .listed(volumeMachines))])
        let planner = Planner(toolchains: ToolchainSet([.default]))
        let start = ContinuousClock.now
        var items = 0
        for _ in 0..<10 { items += planner.plan(scan).items.count }
        print("plan only: \(format((ContinuousClock.now - start).seconds / 10)) s per plan, \(items / 10) items")
    }

    static func run(sizes: [Int], repetitions: Int) async throws {
        print("scan and plan on SimFS, 10 entries per machine, \(repetitions) runs each")
        print("  machines   entries   median s   min s   median us/entry")
        for size in sizes {
            let host = try makeHost(machines: size)
            let process = host.spawn()
            let cleanup = CleanupRun(fileSystem: process, root: "/build/machines", toolchains: ToolchainSet([.default]))
            var items = 0
            let measurement = try await Measurement.run(repetitions: repetitions) {
                items = try await cleanup.plan().get().items.count
            }
            let entries = size * 10
            let perEntry = measurement.median / Double(entries) * 1e6
            print(
                "  \(pad(String(size), 8))  \(pad(String(entries), 8))  \(pad(format(measurement.median), 9))"
                    + "  \(pad(format(measurement.minimum), 6))  \(pad(format(perEntry), 8))   (\(items) decisions)")
        }
    }
}
