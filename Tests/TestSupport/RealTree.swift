import Foundation

/// Builds trees on the real btrfs for tests, with the administrator's own
/// tools (btrfs-progs, coreutils): nothing of the code under test.
public struct RealTree: Sendable {
    /// The absolute path of the tree's top.
    public let root: String

    /// A fresh directory below the test mount.
    public init(named name: String = "tree") throws {
        root = RealBackendAvailability.mountPoint + "/\(name)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    public func path(_ relative: String) -> String { root + "/" + relative }

    public func directory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    public func subvolume(_ relative: String, readOnly: Bool = false) throws {
        try Shell.run(["btrfs", "-q", "subvolume", "create", path(relative)])
        try Shell.sh("echo image > '\(path(relative))/disk.img'")
        if readOnly { try Shell.run(["btrfs", "property", "set", "-ts", path(relative), "ro", "true"]) }
    }

    /// Sets the read-only property with the administrator's tool (after
    /// nested subvolumes were made inside, which a read-only one refuses).
    public func setReadOnly(_ relative: String, _ readOnly: Bool = true) throws {
        try Shell.run(["btrfs", "property", "set", "-ts", path(relative), "ro", readOnly ? "true" : "false"])
    }

    public func snapshot(_ source: String, _ relative: String, readOnly: Bool = false) throws {
        try Shell.run(["btrfs", "-q", "subvolume", "snapshot"] + (readOnly ? ["-r"] : []) + [path(source), path(relative)])
    }

    /// A read-only image as `btrfs receive` leaves it (received UUID set).
    public func received(_ relative: String) throws {
        try Shell.receive(at: path(relative))
    }

    public func symlink(_ relative: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path(relative), withDestinationPath: target)
    }

    public func file(_ relative: String, _ text: String = "") throws {
        try text.write(toFile: path(relative), atomically: false, encoding: .utf8)
    }

    /// The names in a directory of the tree, sorted by bytes.
    public func names(_ relative: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(relative)).sorted {
            $0.utf8.lexicographicallyPrecedes($1.utf8)
        }
    }

    public func exists(_ relative: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path(relative))) != nil
    }

    /// `btrfs property get ro`, read with the administrator's tool.
    public func isReadOnly(_ relative: String) throws -> Bool {
        try Shell.run(["btrfs", "property", "get", "-ts", path(relative), "ro"]).contains("ro=true")
    }

    /// The `Received UUID` of `btrfs subvolume show`: `-` when there is
    /// none. Throws when the line is missing.
    public func receivedUUID(_ relative: String) throws -> String {
        let command = ["btrfs", "subvolume", "show", path(relative)]
        let show = try Shell.run(command)
        guard let line = show.split(separator: "\n").first(where: { $0.contains("Received UUID:") }),
            let value = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last
        else { throw Shell.Failure(command: command, status: 0, output: "no Received UUID line: " + show) }
        return String(value)
    }

    /// Removes the tree (unmounting anything left inside first).
    public func remove() async {
        let mounts = (try? Shell.run(["findmnt", "-rn", "-o", "TARGET"])) ?? ""
        for mount in mounts.split(separator: "\n").reversed() where mount.hasPrefix(root + "/") {
            Shell.unmountQuietly(String(mount))
        }
        await TreeRemoval.remove(root, with: RealFileSystemForTests.make())
        guard FileManager.default.fileExists(atPath: root) else { return }
        // What the protocol refuses to touch (a name that is not UTF-8):
        // the administrator's tools, subvolumes deepest first.
        _ = try? Shell.sh(
            "find '\(root)' -depth -inum 256 -exec btrfs -q subvolume delete {} + ; rm -rf --one-file-system '\(root)'")
    }
}
