import ArgumentParser
import Commands
import MachineLayout
import SimFS

/// The developers' command: the production commands plus the simulation.
@main
struct BuildOSCleanDev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buildos-clean-dev",
        abstract: "Keep the build machines of a Build OS host clean and safe (with the developers' commands).",
        discussion: """
            \(CommandSet.discussion) `scenario run` replays concurrency scenarios (the cleanup, build \
            agents, the administrator, crashes) on a simulated btrfs and checks the invariants at \
            every step. `fuzz` draws machine trees, actors and faults from a seed and checks the \
            cleanup against its oracles, shrinking what fails.

            \(ExitStatus.table)
            """,
        version: BuildVersion.text,
        subcommands: CommandSet.production + [ScenarioCommand.self, FuzzCommand.self]
    )

    /// No command: a usage error (64), not a help page that exits 0 as
    /// if something had been done.
    func run() async throws {
        StandardError.write(
            "buildos-clean-dev: error: no command given: give one of cleanup, machine, scenario or fuzz "
                + "(see buildos-clean-dev --help)\n")
        throw ExitCode(64)
    }

    /// The production commands' `--layout`: a simulated tree, which only
    /// this executable carries.
    static func main() async {
        Arguments.refuseUndecodable(commandName: "buildos-clean-dev")
        SimulatedTrees.install { text, file, root throws(SimulatedTrees.LoadFailure) in
            let layout: Layout
            do throws(LayoutError) {
                layout = try Layout.parse(text)
            } catch {
                throw SimulatedTrees.LoadFailure(InputFileErrors.message(error, in: file))
            }
            let host: SimulatedHost
            do throws(SetupError) {
                host = try SimulatedHost(layout: layout)
            } catch {
                throw SimulatedTrees.LoadFailure(InputFileErrors.message(error, in: file))
            }
            let treeRoot = root ?? layout.root
            return SimulatedTree(
                fileSystem: host.spawn(.root), root: treeRoot, layoutText: { host.layout(root: treeRoot).text })
        }
        await CommandMain.run(Self.self, commandName: "buildos-clean-dev")
    }
}
