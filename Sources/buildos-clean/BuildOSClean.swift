import ArgumentParser
import Commands

#if canImport(Glibc)
    import Glibc
#endif

/// The production command: what a build host runs, without the simulator.
@main
struct BuildOSClean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buildos-clean",
        abstract: "Keep the build machines of a Build OS host clean and safe.",
        discussion: """
            \(CommandSet.discussion)

            The developers' commands (`scenario run`, `fuzz`, and `--layout` for a simulated \
            tree) are in buildos-clean-dev, which the package does not ship; given one, this \
            executable runs buildos-clean-dev from its own directory in its place, or refuses (64) \
            when there is none.

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
        let arguments = Array(CommandLine.arguments.dropFirst())
        if DeveloperExecutable.wants(arguments) {
            // Returns only when there is no developers' executable to run.
            let unavailable = DeveloperExecutable.handOver()
            if let command = DeveloperExecutable.command(in: arguments) {
                StandardError.write(
                    "buildos-clean: error: '\(command)' is a developers' command, which only "
                        + "\(DeveloperExecutable.name) has; \(unavailable)\n")
                Glibc.exit(64)
            }
            // `--layout`: the command refuses it once its arguments are
            // read (with its JSON document when asked for one).
        }
        await CommandMain.run(Self.self, commandName: "buildos-clean")
    }
}
