import ArgumentParser
import Commands

/// The production command: what a build host runs, without the simulator.
@main
struct BuildOSClean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buildos-clean",
        abstract: "Keep the build machines of a Build OS host clean and safe.",
        discussion: """
            \(CommandSet.discussion)

            \(ExitStatus.table)
            """,
        version: BuildVersion.text,
        subcommands: CommandSet.production
    )

    static func main() async {
        Arguments.refuseUndecodable(commandName: "buildos-clean")
        await main(nil)
        StandardOutput.finish(commandName: "buildos-clean")
    }
}
