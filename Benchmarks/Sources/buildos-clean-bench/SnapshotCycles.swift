import MachineLayout
import FSProtocol
import SimFS

/// What a build agent does for each build, on a large simulated tree:
/// snapshot the bootstrapped machine to a working name (a snapshot
/// commits the transaction), then delete the working snapshot. The cost
/// of one cycle must not depend on the size of the tree.
enum SnapshotCyclesBenchmark {
    static func run(sizes: [Int], cycles: Int) async throws {
        print("agent build cycles (snapshot, which commits, then delete) on a tree; \(cycles) cycles each")
        print("     entries   setup s   cycles s   us/cycle")
        for size in sizes {
            let shape = CleanupScaleBenchmark.TreeShape(entries: size)
            let (host, setup) = try CleanupScaleBenchmark.timed { try CleanupScaleBenchmark.treeHost(shape) }
            let agent = host.spawn()
            let root = try await agent.openRoot(CleanupScaleBenchmark.root + "/v0/m0")
            let source = try await agent.openDirectory(try name("m0-default"), in: root)
            let (_, seconds) = try await CleanupScaleBenchmark.timed {
                for cycle in 0..<cycles {
                    let working = try name("m0-default-7-\(cycle)")
                    try await agent.snapshot(source, as: working, in: root, readOnly: false)
                    try await agent.deleteSubvolume(working, in: root)
                }
            }
            await agent.close(source)
            await agent.close(root)
            print(
                "  \(pad(String(shape.entries), 10))  \(pad(format(setup), 8))  \(pad(format(seconds), 9))"
                    + "  \(pad(format(seconds / Double(cycles) * 1e6, 1), 9))")
        }
    }

    struct InvalidName: Error {}

    static func name(_ text: String) throws -> EntryName {
        guard let name = EntryName(text) else { throw InvalidName() }
        return name
    }
}
