import ArgumentParser

@main
struct BuildOSClean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buildos-clean",
        abstract: "Keep the build machines of a Build OS host clean and safe.",
        discussion: """
            Build machines live as btrfs subvolumes under /build/machines/<volume>/<machine>/: \
            read-only revisions, a link naming the current one, one bootstrapped copy per \
            toolchain, and the working snapshots of build agents. `cleanup` deletes what is \
            stale without ever following a symbolic link into a deletion. `scenario run` replays \
            concurrency scenarios (the cleanup, build agents, the administrator, crashes) on a \
            simulated btrfs and checks the invariants at every step.

            \(ExitStatus.table)
            """,
        version: "0.1.0",
        subcommands: [CleanupCommand.self, MachineCommand.self, ScenarioCommand.self]
    )
}
