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

    /// No command: a usage error (64), not a help page that exits 0 as
    /// if something had been done.
    func run() async throws {
        StandardError.write(
            "buildos-clean: error: no command given: give one of cleanup or machine (see buildos-clean --help)\n")
        throw ExitCode(64)
    }

    static func main() async {
        Arguments.refuseUndecodable(commandName: "buildos-clean")
        await CommandMain.run(Self.self, commandName: "buildos-clean")
    }
}
