import ArgumentParser

/// The commands a build host runs, in both executables: `buildos-clean`
/// has these, `buildos-clean-dev` these and the developers' own.
public enum CommandSet {
    /// The production subcommands, in the order help lists them.
    public static let production: [any ParsableCommand.Type] = [CleanupCommand.self, MachineCommand.self]

    /// What the root commands' help says of the tool.
    public static let discussion = """
        Build machines live as btrfs subvolumes under /build/machines/<volume>/<machine>/: \
        read-only revisions, a link naming the current one, one bootstrapped copy per \
        toolchain, and the working snapshots of build agents. `cleanup` deletes what is \
        stale without ever following a symbolic link into a deletion; `machine` adds, upgrades, \
        removes and lists machines, safely beside running builds.
        """
}
