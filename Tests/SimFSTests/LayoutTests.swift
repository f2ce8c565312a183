import FSProtocol
import MachineLayout
import SimFS
import Testing

@Suite("Layout files")
struct LayoutTests {
    static let sample = """
        # a comment
        root /build/machines
        volume default owner=1000:1000
        dir    default/m owner=1000:1000 mode=0750
        subvol default/m/m-1 ro received owner=1000:1000
        link   default/m/m -> m-1
        subvol default/m/m-default snapshot-of=default/m/m-1
        file   default/m/m-default.lock
        fifo   default/m/pipe
        subvol default/m/"with space" # quoted
        mount  default/m/m-default/mnt
        tmpfs  /var/lock
        """

    @Test("a layout loads into a host and captures back as the same tree")
    func roundTrip() throws {
        let layout = try Layout.parse(Self.sample)
        let host = try SimulatedHost(layout: layout)
        let captured = host.layout()
        let reloaded = try SimulatedHost(layout: Layout.parse(captured.text))
        #expect(reloaded.layout() == captured)
        #expect(
            captured.text == """
                root /build/machines
                volume default owner=1000:1000
                dir    default/m owner=1000:1000 mode=0750
                link   default/m/m -> m-1
                subvol default/m/m-1 ro received owner=1000:1000
                subvol default/m/m-default
                mount  default/m/m-default/mnt
                file   default/m/m-default.lock
                fifo   default/m/pipe
                subvol "default/m/with space"

                """)
    }

    @Test("missing parents become a volume below the root, plain directories deeper")
    func implicitParents() throws {
        let host = try SimulatedHost(layout: Layout.parse("subvol v/m/m-1 ro"))
        #expect(host.entryKind(at: "/build/machines/v") == .subvolume)
        #expect(host.entryKind(at: "/build/machines/v/m") == .directory)
        #expect(host.subvolumeInfo(at: "/build/machines/v/m/m-1")?.isReadOnly == true)
    }

    @Test("with 'root PATH btrfs' everything lives on one filesystem")
    func btrfsRoot() throws {
        let host = try SimulatedHost(layout: Layout.parse("root /srv/machines btrfs\nsubvol v/m/m-1"))
        #expect(host.entryKind(at: "/srv/machines/v") == .directory)
        #expect(host.layout(root: "/srv/machines").rootIsBtrfs)
    }

    @Test(
        "bad lines are refused with their number",
        arguments: [
            ("subvol", LayoutError(line: 1, message: "subvol needs a path")),
            ("volume x\nbogus y", LayoutError(line: 2, message: "unknown kind 'bogus' (expected root, volume, tmpfs, dir, subvol, file, link, fifo, mount)")),
            ("link a/b", LayoutError(line: 1, message: "link needs '-> TARGET'")),
            ("subvol a/../b", LayoutError(line: 1, message: "invalid path 'a/../b': it holds '..'")),
            ("dir a ro", LayoutError(line: 1, message: "flag 'ro' does not apply to dir")),
            ("subvol a owner=x", LayoutError(line: 1, message: "owner needs UID:GID (or UID), decimal numbers below 4294967295, not 'x'")),
            ("subvol a/b\nroot /x", LayoutError(line: 2, message: "root must come before the entries")),
            ("file \"open", LayoutError(line: 1, message: "unterminated quote")),
        ])
    func parseErrors(text: String, error: LayoutError) {
        #expect(throws: error) { try Layout.parse(text) }
    }

    @Test("a # starts a comment only where a word could start")
    func commentsAndHashes() throws {
        let layout = try Layout.parse("subvol v/m#1/x#y # comment #2\nfile \"v/#quoted\"#\n#subvol v/gone")
        // As in a shell: a quote is part of the word around it.
        #expect(layout.entries.map(\.path) == ["v/m#1/x#y", "v/#quoted#"])
        #expect(layout.entries.first?.readOnly == false)
    }

    @Test("a path may be PATH_MAX bytes less its NUL (4095), and no more")
    func pathLimit() throws {
        let longest = "/" + String(repeating: "a/", count: 2046) + "ab"
        #expect(longest.utf8.count == Layout.maximumPathBytes)
        #expect(Layout.pathProblem(longest) == nil)
        #expect(Layout.pathProblem(longest + "c") == "the path is 4096 bytes long (at most 4095)")
        let name = String(repeating: "n", count: Layout.maximumNameBytes)
        #expect(Layout.pathProblem("v/" + name) == nil)
        #expect(Layout.pathProblem("v/" + name + "n") != nil)
    }

    /// Found by fuzzing: a snapshot copies its source's directories, so
    /// one placed deep inside its own source held paths past PATH_MAX,
    /// and the tree captured from the host did not load back.
    @Test("a snapshot that would hold a path longer than a layout may write is refused")
    func snapshotPathLength() throws {
        let half = Array(repeating: "d", count: 1040).joined(separator: "/")
        let layout = try Layout.parse("subvol v/s\ndir v/s/\(half)\nsubvol v/s/\(half)/snap snapshot-of=v/s")
        let snapshot = "/build/machines/v/s/\(half)/snap"
        #expect(
            throws: SetupError(
                path: snapshot, reason: "the snapshot would hold a path 4189 bytes long (at most 4095)", line: 3)
        ) {
            try SimulatedHost(layout: layout)
        }
        // Shallower, it fits: the tree captures and loads back.
        let shallow = Array(repeating: "d", count: 900).joined(separator: "/")
        let host = try SimulatedHost(
            layout: Layout.parse("subvol v/s\ndir v/s/\(shallow)\nsubvol v/s/\(shallow)/snap snapshot-of=v/s"))
        let captured = host.layout()
        #expect(try SimulatedHost(layout: Layout.parse(captured.text)).layout() == captured)
    }

    @Test("a layout naming the same entry twice fails to load")
    func duplicates() throws {
        let layout = try Layout.parse("subvol v/m/m-1\nsubvol v/m/m-1")
        #expect(throws: SetupError(path: "/build/machines/v/m/m-1", reason: "already exists", line: 2)) {
            try SimulatedHost(layout: layout)
        }
    }

    @Test("snapshots that would copy the tree past the most a layout may build are refused at their line, before any copy")
    func snapshotCopiesCapped() throws {
        // 2 (root, volume) + 1 + 20 nodes, then 21 a snapshot: two fit
        // under 70, the third does not.
        let lines = ["subvol v/s"] + (0..<20).map { "dir v/s/d\($0)" } + (1...3).map { "subvol v/c\($0) snapshot-of=v/s" }
        let layout = try Layout.parse(lines.joined(separator: "\n"))
        let host = SimulatedHost()
        #expect(
            throws: SetupError(
                path: "/build/machines/v/c3",
                reason: "the snapshot would take the tree past 70 entries, the most a layout may build "
                    + "(a snapshot copies what its source holds)",
                line: 24)
        ) {
            try host.load(layout, maximumEntries: 70)
        }
        #expect(host.names(at: "/build/machines/v")?.map(\.rawValue) == ["c1", "c2", "s"])
        // Parents made on the way count too: one line of 100 components.
        let deep = try Layout.parse("dir v/" + Array(repeating: "d", count: 100).joined(separator: "/"))
        #expect(throws: SetupError.self) { try SimulatedHost().load(deep, maximumEntries: 70) }
        #expect(throws: Never.self) { try SimulatedHost().load(deep, maximumEntries: 200) }
    }

    @Test("a machines root that is a tmpfs of its own captures as one, and loads back into the same tree")
    func tmpfsRootRoundTrip() throws {
        let host = try SimulatedHost(layout: Layout.parse("tmpfs /build/machines\nvolume default\nsubvol default/m/m-1 ro"))
        let captured = host.layout()
        #expect(captured.text.contains("tmpfs  /build/machines\n"), "\(captured.text)")
        #expect(try SimulatedHost(layout: Layout.parse(captured.text)).layout() == captured)
    }

    @Test("a mount on an empty subvolume captures as the subvolume, then the mount, and loads back into the same tree")
    func mountOnSubvolume() throws {
        let host = try SimulatedHost(layout: Layout.parse("volume default\nsubvol default/m/m-1 ro\nmount default/m/m-1"))
        let captured = host.layout()
        #expect(captured.text.contains("subvol default/m/m-1 ro\nmount  default/m/m-1\n"), "\(captured.text)")
        #expect(try SimulatedHost(layout: Layout.parse(captured.text)).layout() == captured)
    }
}
