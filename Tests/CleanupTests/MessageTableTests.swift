import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// Each message of the table in docs/cleanup.md, from the smallest tree
/// (and, where it takes one, the injected failure) that gives it, with its
/// exact line and the run's exit status.
@Suite("Every message of docs/cleanup.md")
struct MessageTableTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var layout: String
        /// The cleaner's call to fail: its operation and a piece of its
        /// subject.
        var failing: (FSOperation, String, FSError.Kind)?
        var mode: CleanupMode = .boot
        var line: String
        var exitStatus: Int32
        var testDescription: String { line }
    }

    static let linked = """
        subvol default/m/m-1 ro
        link   default/m/m -> m-1
        """
    static let m = "/build/machines/default/m"

    static let cases: [Case] = [
        Case(layout: linked + "\nsubvol default/m/m-default-1-1", line: "\(m)/m-default-1-1: info: deleted subvolume", exitStatus: 0),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1\nsubvol default/m/m-default-1-1/in",
            line: "\(m)/m-default-1-1/in: info: deleted nested subvolume", exitStatus: 0),
        Case(layout: linked + "\nfile default/m/m-default.lock", line: "\(m)/m-default.lock: info: removed stale lock file", exitStatus: 0),
        Case(layout: "subvol default/m/m-1 ro", line: "\(m): info: deleted machine directory", exitStatus: 0),
        Case(
            layout: linked + "\nlink default/m/m.link-1-1 -> m-1", line: "\(m)/m.link-1-1: info: removed temporary link",
            exitStatus: 0),
        Case(
            layout: linked + "\nsubvol default/m/m-2",
            line: "\(m)/m-2: warning: revision is not read-only (an interrupted receive or ownership change), kept",
            exitStatus: 0),
        Case(
            layout: linked + "\nsubvol default/m/m-2.received ro received",
            line: "\(m)/m-2.received: warning: received image without its revision (an interrupted upgrade), kept",
            exitStatus: 0),
        Case(
            layout: linked + "\nlink default/m/m.link-1-1 -> m-1", failing: (.unlink, "", .ioError),
            line: "\(m)/m.link-1-1: error: unable to remove temporary link: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: linked + "\nlink default/m/m-latest -> m-1",
            line: "\(m)/m-latest: warning: symbolic link, kept, not followed", exitStatus: 0),
        Case(
            layout: linked + "\ndir default/m/m-default-1-1",
            line: "\(m)/m-default-1-1: warning: not a subvolume (plain directory), kept", exitStatus: 0),
        Case(layout: linked + "\nfile default/m/notes", line: "\(m)/notes: warning: unknown entry (regular file), kept", exitStatus: 0),
        Case(layout: linked + "\nfifo default/m/.pipe", line: "\(m)/.pipe: warning: unknown entry (special file), kept", exitStatus: 0),
        Case(
            layout: "subvol default/m/m-1 ro\nfile default/m/notes",
            line: "\(m): warning: machine directory kept: it holds entries that are not removed", exitStatus: 0),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1", failing: (.openDirectory, "m-default-1-1", .notDirectory),
            line: "\(m)/m-default-1-1: warning: changed since scan, kept", exitStatus: 0),
        Case(
            layout: "file stray", line: "/build/machines/stray: error: invalid volume: not a directory (regular file)",
            exitStatus: 1),
        Case(
            layout: "link lost -> /tmp", line: "/build/machines/lost: error: invalid volume: symbolic link, not followed",
            exitStatus: 1),
        Case(
            layout: "volume default\nfile default/m", line: "\(m): error: invalid machine: not a directory (regular file)",
            exitStatus: 1),
        Case(
            layout: linked, failing: (.list, "/build/machines/default", .ioError),
            line: "/build/machines/default: error: unable to read volume: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: linked, failing: (.list, "/build/machines/default/m", .ioError),
            line: "\(m): error: unable to read machine directory: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: "subvol default/m/m-1 ro\nlink default/m/m -> m-3",
            line: "\(m)/m: error: dangling current machine link to m-3", exitStatus: 1),
        Case(
            layout: "subvol default/m/m-1 ro\nlink default/m/m -> ../m/m-1",
            line: "\(m)/m: error: invalid current machine link to ../m/m-1: not the name of an entry of the machine directory",
            exitStatus: 1),
        Case(
            layout: "subvol default/m/m-1 ro\ndir default/m/m-2\nlink default/m/m -> m-2",
            line: "\(m)/m: error: current machine link target m-2 is not a subvolume (plain directory)", exitStatus: 1),
        Case(
            layout: "subvol default/m/m-1 ro\nfile default/m/m",
            line: "\(m)/m: error: current machine link is not a symbolic link (regular file)", exitStatus: 1),
        Case(
            layout: linked, failing: (.readLink, "/m/m", .ioError),
            line: "\(m)/m: error: unable to read current machine link: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: "subvol default/m/m-2 ro\nlink default/m/m-latest -> m-2",
            line: "\(m): error: layout not recognised, everything kept: no current machine link, "
                + "but the symbolic link m-latest -> m-2 names its subvolume m-2", exitStatus: 1),
        Case(
            layout: "subvol default/m/m-2 ro\nlink default/m/m-latest -> m-2", failing: (.readLink, "m-latest", .ioError),
            line: "\(m): error: layout not recognised, everything kept: no current machine link, "
                + "and the symbolic link m-latest cannot be read", exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1\nsubvol default/m/m-default-1-1/in",
            failing: (.deleteSubvolumeByID, "m-default-1-1 (", .busy),
            line: "\(m)/m-default-1-1: error: unable to delete subvolume: device or resource busy (EBUSY)", exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1", failing: (.deleteSubvolumeByID, "m-default-1-1", .readOnly),
            line: "\(m)/m-default-1-1: error: unable to delete subvolume: read-only parent subvolume or file system (EROFS)", exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1\nsubvol default/m/m-default-1-1/in",
            failing: (.nestedSubvolumes, "", .ioError),
            line: "\(m)/m-default-1-1: error: unable to delete subvolume: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1\nmount default/m/m-default-1-1/mnt",
            line: "\(m)/m-default-1-1: error: unable to delete subvolume: mount point inside: \(m)/m-default-1-1/mnt",
            exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1\nsubvol default/m/m-default-1-1/in",
            failing: (.deleteSubvolumeByID, "/in (", .ioError),
            line: "\(m)/m-default-1-1: error: unable to delete subvolume: nested subvolume in: input/output error (EIO)",
            exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1 ro\nsubvol default/m/m-default-1-1/in",
            failing: (.setReadOnly, "", .ioError),
            line: "\(m)/m-default-1-1: error: unable to change subvolume property: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: linked + "\nfile default/m/m-default.lock", failing: (.unlink, "", .ioError),
            line: "\(m)/m-default.lock: error: unable to remove lock file: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: "subvol default/m/m-1 ro", failing: (.removeDirectory, "", .ioError),
            line: "\(m): error: unable to delete machine directory: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: linked + "\nsubvol default/m/m-default-1-1", failing: (.sync, "", .ioError),
            line: "/build/machines/default: error: unable to sync filesystem: input/output error (EIO)", exitStatus: 1),
        Case(
            // The lock file is there: it is opened, not created.
            layout: linked + "\nsubvol default/m/m-default-1-1\nfile default/m/m-default.lock",
            failing: (.openFile, "m-default.lock", .ioError), mode: .live,
            line: "\(m)/m-default.lock: error: unable to take machine lock: input/output error (EIO)", exitStatus: 1),
        // A machine directory that is a subvolume of its own is synced
        // on its own: its failure halts as the volume's does.
        Case(
            layout: "subvol default/m\n" + linked + "\nsubvol default/m/m-default-1-1",
            failing: (.sync, "default/m", .ioError),
            line: "\(m): error: unable to sync filesystem: input/output error (EIO)", exitStatus: 1),
        Case(
            layout: "root /elsewhere", line: "/build/machines: error: unable to open machines root: "
                + "no such file or directory (ENOENT)", exitStatus: 1),
    ]

    @Test("the message, its line and the exit status", arguments: cases)
    func message(_ test: Case) async throws {
        let failing = test.failing
        let report = await cleanup(try makeHost(test.layout), mode: test.mode) { call, _ in
            guard let (operation, subject, kind) = failing else { return nil }
            return call.operation == operation && (subject.isEmpty || call.subject.contains(subject)) ? kind : nil
        }
        #expect(lines(report).contains(test.line), "lines: \(lines(report))")
        #expect(report.exitStatus == test.exitStatus)
    }

    @Test("the JSON document names a failed call's errno, symbol and message")
    func failureDocument() async throws {
        let report = await cleanup(try makeHost(Self.linked + "\nsubvol default/m/m-default-1-1")) { call, _ in
            call.operation == .deleteSubvolumeByID && call.subject.contains("m-default-1-1") ? .readOnly : nil
        }
        let decision = try #require(ReportDocument(report).decisions.first { $0.entry == "m-default-1-1" })
        #expect(decision.outcome == "failed")
        let error = try #require(decision.error)
        #expect(error.errno == 30)
        #expect(error.symbol == "EROFS")
        #expect(error.message.hasPrefix("deleteSubvolumeByID "), "\(error.message)")
        #expect(error.message.hasSuffix(": read-only file system (EROFS)"), "\(error.message)")
        #expect(error.message != error.symbol)
    }

    @Test("every message of the table in docs/cleanup.md has a case here")
    func tableIsCovered() throws {
        let document = try String(contentsOfFile: docsPath("cleanup.md"), encoding: .utf8)
        let section = try #require(document.components(separatedBy: "## Messages").dropFirst().first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| info") || $0.hasPrefix("| warning") || $0.hasPrefix("| error") }
        #expect(rows.count >= 20)
        // SimFS names are Swift strings: a name that is not UTF-8 only
        // comes from a real directory (UnrecognisedAndNestedOnRealBtrfsTests).
        let lines = Self.cases.map(\.line) + ["x: warning: name is not valid UTF-8, kept"]
        for row in rows {
            // The first message of a row, up to its first placeholder.
            let cells = row.split(separator: "|")
            let message = cells[1].split(separator: "`").dropFirst().first.map(String.init) ?? ""
            let stem = message.prefix { !"A-Z".contains($0) && !($0.isUppercase) && $0 != "." }
                .trimmingCharacters(in: .whitespaces)
            #expect(!stem.isEmpty)
            #expect(lines.contains { $0.contains(": \(stem)") }, "no case for '\(message)'")
        }
    }
}

/// A file under docs/, from this source file's place in the package.
func docsPath(_ name: String) -> String {
    var url = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    url = "/" + url + "/docs/" + name
    return url
}
