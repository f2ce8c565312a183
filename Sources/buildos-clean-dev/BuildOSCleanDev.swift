import ArgumentParser
import Commands

/// The developers' command: the production commands plus the simulation.
@main
struct BuildOSCleanDev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buildos-clean-dev",
        abstract: "Keep the build machines of a Build OS host clean and safe (with the developers' commands).",
        discussion: """
            \(CommandSet.discussion) `scenario run` replays concurrency scenarios (the cleanup, build \
            agents, the administrator, crashes) on a simulated btrfs and checks the invariants at \
            every step.

            \(ExitStatus.table)
            """,
        version: BuildVersion.text,
        subcommands: CommandSet.production + [ScenarioCommand.self]
    )
}
