import FSProtocol
import Foundation
import Testing
import TestSupport

/// `buildos-clean machine ...` on simulated trees: the output, the JSON
/// document, the dry run, the tree afterwards, and the exit statuses.
@Suite("buildos-clean machine, end to end on layouts")
struct MachineCommandTests {
    func file(_ bytes: [UInt8], _ suffix: String) throws -> String {
        let path = NSTemporaryDirectory() + "machine-\(UUID().uuidString).\(suffix)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func stream(_ name: EntryName, _ uuid: UInt64, parent: UInt64? = nil) throws -> String {
        let header = SendStreamHeader(
            version: 1, name: name, uuid: BtrfsUUID(high: 9, low: uuid), transactionID: 1,
            parent: parent.map { .init(uuid: BtrfsUUID(high: 9, low: $0), transactionID: 1) })
        return try file(SendStream.empty(header), "stream")
    }

    @Test("add on a layout prints its steps and, with --print-layout, the tree it made")
    func addPrintsTree() throws {
        let layout = try file(Array("volume default\n".utf8), "layout")
        let result = try Binary.run([
            "machine", "add", "default/m", "--stream", try stream("m-1", 1), "--owner", "1000:1000", "--layout", layout,
            "--print-layout",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.outputLines.first == "add default/m: done")
        #expect(result.outputLines.contains("  create link /build/machines/default/m/m -> m-1"))
        #expect(result.outputLines.contains("link   default/m/m -> m-1"))
        #expect(result.outputLines.contains("subvol default/m/m-1 ro owner=1000:1000"))
        #expect(result.outputLines.contains("subvol default/m/m-1.received ro received"))
    }

    @Test("a dry run in JSON lists the planned steps and the tree stays as it was")
    func dryRunJSON() throws {
        let layout = try file(Array("subvol default/m/m-1 ro\nlink default/m/m -> m-1\n".utf8), "layout")
        let result = try Binary.run([
            "machine", "upgrade", "default/m", "--stream", try stream("m-2", 2), "--owner", "0", "--layout", layout,
            "--dry-run", "--format", "json", "--print-layout",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        // One document, the tree inside it.
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(document["status"] as? String == "planned")
        let steps = try #require(document["steps"] as? [[String: Any]])
        #expect(steps.map { $0["action"] as? String } == [
            "receive", "rename", "snapshot", "change-owner", "set-read-only", "sync", "switch-link", "sync",
        ])
        #expect(steps.allSatisfy { $0["outcome"] as? String == "planned" })
        let tree = try #require(document["layout"] as? String)
        #expect(tree.hasPrefix("root /build/machines\n"))
        #expect(tree.contains("link   default/m/m -> m-1"))
        #expect(!tree.contains("m-2"))
    }

    @Test("errors go to standard error with their exit status; the JSON document names the code", arguments: [
        (["add", "default/m", "--stream", "STREAM-M1"], 64, "machine default/m exists"),
        (["add", "nowhere/x", "--stream", "STREAM-X1"], 64, "unknown volume nowhere"),
        (["upgrade", "default/m", "--stream", "STREAM-M3-FROM-2"], 64, "is not the current revision m-1"),
        (["remove", "default/x"], 64, "no machine default/x"),
        (["remove", "default/m", "--root", "/nonexistent", "--dry-run"], 64, "no machines root /nonexistent"),
        (["add", "default/m", "--stream", "STREAM-M1", "--root", "/nonexistent"], 64, "no machines root /nonexistent"),
        (["add", "default", "--stream", "STREAM-M1"], 64, "is not VOLUME/NAME"),
        (["add", "default/m", "--stream", "NOT-A-STREAM"], 64, "not a btrfs send stream"),
        (["add", "default/m", "--stream", "/nonexistent"], 66, "cannot read stream"),
        // Refused by its header, not read whole first (it has no end).
        (["add", "default/m", "--stream", "/dev/zero"], 64, "/dev/zero: byte 0: not a btrfs send stream"),
        (["list", "nowhere"], 64, "no volume nowhere below /build/machines"),
        (["list", "default/x"], 64, "no machine default/x below /build/machines"),
        (["list", "--toolchain", "a/b"], 64, "a/b"),
        (["remove", "default/m", "--timeout=-1"], 64, "--timeout must be 0 to 604800"),
        (["remove", "default/m", "--wait", "nan"], 64, "--wait must be 0 to 604800"),
        (["list", "default/m", "--print-layout"], 64, "--print-layout needs --layout"),
    ] as [([String], Int32, String)])
    func errors(arguments: [String], status: Int32, message: String) throws {
        let layout = try file(Array("subvol default/m/m-1 ro received\nlink default/m/m -> m-1\n".utf8), "layout")
        let substituted = try arguments.map { argument -> String in
            switch argument {
            case "STREAM-M1": try stream("m-1", 1)
            case "STREAM-X1": try stream("x-1", 1)
            case "STREAM-M3-FROM-2": try stream("m-3", 3, parent: 2)
            case "NOT-A-STREAM": try file(Array("hello\n".utf8), "txt")
            default: argument
            }
        }
        let withLayout = substituted.contains("--print-layout") ? substituted : substituted + ["--layout", layout]
        let owner = ["--owner", "0"].filter { _ in arguments[0] != "remove" && arguments[0] != "list" }
        let result = try Binary.run(["machine"] + withLayout + owner)
        #expect(result.status == status, "\(result.standardError)")
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(!result.standardError.contains("Fatal error"))
        // With --format json, standard output holds one document naming
        // the error, also for a refusal before the command had a report
        // (an option the parser refuses aside: that is its usage text).
        guard !message.hasPrefix("--") else { return }
        let json = try Binary.run(["machine"] + withLayout + owner + ["--format", "json"])
        #expect(json.status == status)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any], "\(json.standardOutput)")
        #expect(document["exitStatus"] as? Int == Int(status))
        let error = try #require(document["error"] as? [String: Any])
        #expect((error["message"] as? String)?.contains(message) == true)
        #expect(error["code"] is String)
    }

    @Test("list in text and JSON")
    func list() throws {
        let layout = try file(
            Array(
                """
                subvol default/m/m-1 ro
                subvol default/m/m-1.received ro received
                link   default/m/m -> m-1
                subvol default/m/m-default snapshot-of=default/m/m-1
                subvol default/m/m-default-77-1 snapshot-of=default/m/m-default
                file   default/m/notes

                """.utf8), "layout")
        let text = try Binary.run(["machine", "list", "--layout", layout])
        #expect(text.status == 0)
        #expect(
            text.outputLines == [
                "default/m: current m-1",
                "  revisions: m-1 (current)",
                "  received images: m-1.received",
                "  bootstrapped: default (current)",
                "  working snapshots: m-default-77-1 (pid 77 gone)",
                "  problem: /build/machines/default/m/notes: warning: unknown entry (regular file), kept",
            ])
        let json = try Binary.run(["machine", "list", "default", "--layout", layout, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let machines = try #require(document["machines"] as? [[String: Any]])
        #expect(machines.count == 1)
        #expect((machines[0]["workingSnapshots"] as? [[String: Any]])?.first?["pid"] as? Int == 77)
    }

    @Test("list: a machine being removed says whether a boot cleanup deletes it whole or keeps its directory")
    func listBeingRemoved() throws {
        let layout = try file(
            Array(
                """
                subvol default/gone/gone-1 ro
                subvol default/kept/kept-1 ro
                file   default/kept/notes

                """.utf8), "layout")
        let text = try Binary.run(["machine", "list", "--layout", layout])
        #expect(text.outputLines.contains("default/gone: no current link: being removed, a boot cleanup deletes it"))
        #expect(
            text.outputLines.contains(
                "default/kept: no current link: being removed, a boot cleanup deletes its subvolumes and keeps the "
                    + "directory for what it holds"), "\(text.outputLines)")
        let json = try Binary.run(["machine", "list", "--layout", layout, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let machines = try #require(document["machines"] as? [[String: Any]])
        #expect(machines.map { $0["beingRemoved"] as? Bool } == [true, true])
        #expect(machines.map { $0["keepsEntries"] as? Bool } == [false, true])
    }

    @Test("list shows the problems of what is no machine, as a boot cleanup reports them; a scope that is not there is 64")
    func listProblemsAbove() throws {
        let layout = try file(
            Array(
                """
                file   afile
                volume default
                dir    default/plain
                file   default/bfile
                link   default/lm -> /tmp
                volume empty

                """.utf8), "layout")
        let text = try Binary.run(["machine", "list", "--layout", layout])
        #expect(text.status == 0)
        #expect(
            text.outputLines == [
                "default/plain: no current link: being removed, a boot cleanup deletes it",
                "problem: /build/machines/afile: error: invalid volume: not a directory (regular file)",
                "problem: /build/machines/default/bfile: error: invalid machine: not a directory (regular file)",
                "problem: /build/machines/default/lm: error: invalid machine: symbolic link, not followed",
            ])
        let json = try Binary.run(["machine", "list", "--layout", layout, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect((document["problems"] as? [String])?.count == 3)
        let one = try Binary.run(["machine", "list", "default/bfile", "--layout", layout])
        #expect(one.outputLines == ["problem: /build/machines/default/bfile: error: invalid machine: not a directory (regular file)"])
        #expect(try Binary.run(["machine", "list", "empty", "--layout", layout]).status == 0)
        for missing in ["default/nothing", "nothing"] {
            let result = try Binary.run(["machine", "list", missing, "--layout", layout])
            #expect(result.status == 64)
            #expect(result.standardError.contains("no \(missing.contains("/") ? "machine" : "volume") \(missing) below"))
            // The document's code says which, as the other commands' do.
            let refused = try Binary.run(["machine", "list", missing, "--layout", layout, "--format", "json"])
            let document = try JSONSerialization.jsonObject(with: Data(refused.standardOutput.utf8)) as? [String: Any]
            #expect(
                (document?["error"] as? [String: String])?["code"]
                    == (missing.contains("/") ? "no-such-machine" : "unknown-volume"))
        }
        let listed = try Binary.run(["machine", "list", "--layout", layout, "--format", "json"])
        let listing = try JSONSerialization.jsonObject(with: Data(listed.standardOutput.utf8)) as? [String: Any]
        #expect((listing?["machines"] as? [[String: Any]])?.first?["beingRemoved"] as? Bool == true)
        // A machines root that is not there is a bad --root (64), as for
        // add, upgrade and remove.
        let noRoot = try Binary.run(["machine", "list", "--root", "/nonexistent/machines", "--format", "json"])
        #expect(noRoot.status == 64)
        let refusal = try JSONSerialization.jsonObject(with: Data(noRoot.standardOutput.utf8)) as? [String: Any]
        #expect((refusal?["error"] as? [String: String])?["code"] == "no-root")
    }

    @Test("a report that cannot be written (a full disk) exits 74 with a line on standard error, not 0")
    func outputNotWritten() throws {
        let layout = try file(Array("subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1-1\n".utf8), "layout")
        let developer = Binary.path(of: .developer)
        for command in ["cleanup --toolchain default --layout '\(layout)'", "machine list --layout '\(layout)'", "fuzz --print-case 1"] {
            let result = try Shell.sh("'\(developer)' \(command) 2>&1 >/dev/full; echo \"exit $?\"")
            #expect(result.hasSuffix("exit 74\n"), "\(command): \(result)")
            #expect(result.contains("error: cannot write standard output"), "\(command): \(result)")
        }
        // Unbuffered, each write fails at once and the last flush has
        // nothing left to fail: the stream's error flag still tells.
        let unbuffered = try Shell.sh(
            "stdbuf -o0 '\(developer)' machine list --layout '\(layout)' 2>&1 >/dev/full; echo \"exit $?\"")
        #expect(unbuffered.hasSuffix("exit 74\n"), "\(unbuffered)")
        #expect(unbuffered.contains("cannot write standard output: a write failed"), "\(unbuffered)")
        // Written, the same commands exit as before.
        let written = try Shell.sh("'\(developer)' machine list --layout '\(layout)' >/dev/null; echo \"exit $?\"")
        #expect(written == "exit 0\n")
        // A halting cleanup keeps its status, and says that its report
        // was lost: otherwise the host halts without a line anywhere.
        let halting = try file(Array("subvol default/m/m-1 ro\nlink default/m/m -> m-9\n".utf8), "layout")
        for production in [false, true] {
            let binary = production ? Binary.path(of: .production) : developer
            let arguments = production ? "cleanup --toolchain default --root /nonexistent" : "cleanup --toolchain default --layout '\(halting)'"
            let result = try Shell.sh("'\(binary)' \(arguments) 2>&1 >/dev/full; echo \"exit $?\"")
            #expect(result == "buildos-clean: error: cannot write standard output: No space left on device\nexit 1\n"
                .replacingOccurrences(of: "buildos-clean:", with: production ? "buildos-clean:" : "buildos-clean-dev:"), "\(result)")
        }
        // Help, too, is output.
        let help = try Shell.sh("'\(developer)' cleanup --help 2>&1 >/dev/full; echo \"exit $?\"")
        #expect(help.hasSuffix("exit 74\n") && help.contains("cannot write standard output"), "\(help)")
    }

    @Test(
        "a standard descriptor left closed is no file's number: a report to a closed standard output fails as on one (EBADF, 74), a closed standard input is empty"
    )
    func closedStandardDescriptors() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("closed-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = try file(Array("subvol default/m/m-1 ro\nlink default/m/m -> m-1\n".utf8), "layout")
        let commands = [
            (Binary.path(of: .production), "cleanup --toolchain default --dry-run --root '\(root)'"),
            (Binary.path(of: .developer), "machine list --layout '\(layout)'"),
        ]
        for (binary, command) in commands {
            // Without the descriptors opened first, the runtime's eventfd
            // took 1 and the report went to it (EINVAL).
            let closed = try Shell.sh("'\(binary)' \(command) 2>&1 >&-; echo \"exit $?\"")
            #expect(closed.hasSuffix("cannot write standard output: Bad file descriptor\nexit 74\n"), "\(command): \(closed)")
            // Standard error closed: the report is written, the status stands.
            let quiet = try Shell.sh("'\(binary)' \(command) 2>&-; echo \"exit $?\"")
            #expect(quiet.hasSuffix("\nexit 0\n") && quiet.count > 10, "\(command): \(quiet)")
        }
        let stream = try Shell.sh(
            "'\(Binary.path(of: .developer))' machine add default/n --owner 0:0 --stream - --layout '\(layout)' <&- 2>&1; echo \"exit $?\"")
        #expect(stream == "buildos-clean: error: standard input: byte 0: not a btrfs send stream: 0 bytes, too short for its magic\nexit 64\n")
    }

    @Test("add and upgrade name a layout at fault before their own checks (an owner this host does not know)")
    func layoutNamedFirst() throws {
        let layout = try file(Array("volume v\nbogus x\n".utf8), "layout")
        for command in [["add", "v/n"], ["upgrade", "v/n"]] {
            let result = try Binary.run(["machine"] + command + ["--stream", "/dev/null", "--owner", "nobody-here-at-all", "--layout", layout])
            #expect(result.status == 64)
            #expect(result.standardError == "buildos-clean: error: \(layout):2: unknown kind 'bogus' "
                + "(expected root, volume, tmpfs, dir, subvol, file, link, fifo, mount)\n", "\(result.standardError)")
        }
    }

    @Test("list takes --no-toolchains, as the cleanup does, and judges against none")
    func listNoToolchains() throws {
        let layout = try file(Array("subvol default/m/m-1 ro\nlink default/m/m -> m-1\n".utf8), "layout")
        let result = try Binary.run(["machine", "list", "--layout", layout, "--no-toolchains", "--format", "json"])
        #expect(result.status == 0, "\(result.standardError)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(document["toolchains"] as? [String] == [])
        #expect(document["error"] == nil && document["exitStatus"] == nil)
        let given = try Binary.run(["machine", "list", "--layout", layout, "--toolchain", "gcc", "--format", "json"])
        let named = try #require(try JSONSerialization.jsonObject(with: Data(given.standardOutput.utf8)) as? [String: Any])
        #expect(named["toolchains"] as? [String] == ["gcc"])
        // Each bootstrapped machine says whether its toolchain is
        // configured, once a configuration is given.
        let bootstrapped = try file(
            Array(
                "subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default\nsubvol default/m/m-gcc\n".utf8),
            "layout")
        let judged = try Binary.run(["machine", "list", "--layout", bootstrapped, "--toolchain", "gcc"])
        #expect(
            judged.outputLines.contains(
                "  bootstrapped: default (not from the current revision, not configured: a boot cleanup deletes it), "
                    + "gcc (not from the current revision)"), "\(judged.outputLines)")
        let unjudged = try Binary.run(["machine", "list", "--layout", bootstrapped])
        #expect(unjudged.outputLines.contains("  bootstrapped: default (not from the current revision), gcc (not from the current revision)"))
        let none = try Binary.run(["machine", "list", "--layout", bootstrapped, "--no-toolchains", "--format", "json"])
        let noneDocument = try #require(try JSONSerialization.jsonObject(with: Data(none.standardOutput.utf8)) as? [String: Any])
        let machines = try #require(noneDocument["machines"] as? [[String: Any]])
        let flags = (machines.first?["bootstrapped"] as? [[String: Any]])?.map { $0["configured"] as? Bool }
        #expect(flags == [false, false])
    }

    @Test("list: a free lock is free, and a dangling link is no current revision")
    func listLocksAndLinks() throws {
        let layout = try file(
            Array("subvol default/n/n-1 ro\nlink default/n/n -> n-9\nfile default/n/n-default.lock\n".utf8), "layout")
        let text = try Binary.run(["machine", "list", "--layout", layout])
        #expect(text.outputLines.first == "default/n: no current revision")
        #expect(text.outputLines.contains("  locks: n-default.lock (free)"))
        let json = try Binary.run(["machine", "list", "--layout", layout, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let machine = try #require((document["machines"] as? [[String: Any]])?.first)
        #expect(machine["current"] == nil)
        #expect((machine["locks"] as? [[String: Any]])?.first?["held"] as? Bool == false)
    }

    @Test("a refused command's text and document say failed, with the exit status; remove's notes are its cleanup's lines")
    func failedAndNotes() throws {
        let linked = try file(Array("subvol default/m/m-1 ro received\nlink default/m/m -> m-1\nsubvol default/m/m-default-5-1\n".utf8), "layout")
        let add = ["machine", "add", "default/m", "--stream", try stream("m-1", 1), "--owner", "0", "--layout", linked]
        let text = try Binary.run(add)
        #expect(text.status == 64)
        #expect(text.outputLines.first == "add default/m: failed (exit 64)")
        let json = try Binary.run(add + ["--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect(document["status"] as? String == "failed")
        #expect((document["error"] as? [String: Any])?["code"] as? String == "machine-exists")
        let remove = try Binary.run(["machine", "remove", "default/m", "--layout", linked])
        #expect(remove.status == 0, "\(remove.standardError)")
        #expect(
            Array(remove.outputLines.suffix(3)) == [
                "  /build/machines/default/m/m-1: info: deleted subvolume",
                "  /build/machines/default/m/m-default-5-1: info: deleted subvolume",
                "  /build/machines/default/m: info: deleted machine directory",
            ])
    }

    @Test("a volume name of 255 bytes is a name; 256 is not")
    func volumeNameLength() throws {
        let layout = try file(Array("volume default\n".utf8), "layout")
        let longest = String(repeating: "v", count: 255)
        let fits = try Binary.run(["machine", "remove", longest + "/m", "--layout", layout])
        #expect(fits.status == 64)
        #expect(fits.standardError.contains("unknown volume"), "\(fits.standardError)")
        let over = try Binary.run(["machine", "remove", longest + "v/m", "--layout", layout])
        #expect(over.status == 64)
        #expect(over.standardError.contains("is not a volume name"))
    }

    @Test("on the real filesystem a stream's header is read whole, to the end of its first command, and no further")
    func realStreamHeader() throws {
        // A plain directory as the machines root: a dry run needs no
        // btrfs-progs, and reads only the stream's header; the header
        // read, the volume is refused for not being on btrfs.
        let root = NSTemporaryDirectory() + "machines-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/default", withIntermediateDirectories: true)
        let result = try Binary.run([
            "machine", "add", "default/m", "--stream", try stream("m-1", 1), "--owner", "0", "--root", root, "--dry-run",
        ])
        #expect(result.status == 64, "\(result.standardError)")
        #expect(result.outputLines.first == "add default/m: failed (exit 64)")
        #expect(
            result.standardError.contains("volume default (\(root)/default) is not on a btrfs filesystem: "),
            "\(result.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/default").isEmpty)
    }
}
