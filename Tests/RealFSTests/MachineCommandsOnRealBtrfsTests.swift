import Cleanup
import RealFS
import Foundation
import Testing
import TestSupport

/// The machine commands as an administrator runs them, as root on a real
/// btrfs, with streams `btrfs send` makes in the test.
@Suite(
    "machine add, upgrade, remove and list on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")), .serialized)
struct MachineCommandsOnRealBtrfsTests {
    /// A machines root with a volume, and beside it the sender's
    /// revisions m-1 and m-2 (m-2 made from m-1), read-only, as streams.
    struct Setup {
        let tree: RealTree
        var root: String { tree.path("machines") }
        var full: String { tree.path("m-1.stream") }
        var incremental: String { tree.path("m-2.stream") }
        var machine: String { tree.path("machines/default/m") }

        init() throws {
            tree = try RealTree(named: "admin")
            try tree.directory("machines/default")
            try tree.directory("sender")
            try tree.subvolume("sender/m-1")
            try tree.file("sender/m-1/disk.img", "revision 1")
            try tree.setReadOnly("sender/m-1")
            try tree.snapshot("sender/m-1", "sender/m-2")
            try tree.file("sender/m-2/disk.img", "revision 2")
            try tree.setReadOnly("sender/m-2")
            try Shell.run(["btrfs", "send", "-q", "-f", tree.path("m-1.stream"), tree.path("sender/m-1")])
            try Shell.run([
                "btrfs", "send", "-q", "-p", tree.path("sender/m-1"), "-f", tree.path("m-2.stream"),
                tree.path("sender/m-2"),
            ])
        }

        func machine(_ arguments: [String]) throws -> Binary.Result {
            try Binary.run(["machine"] + arguments + ["--root", root])
        }

        func everything() throws -> String {
            try Shell.run(["find", root, "-printf", "%y %U %D %i %P\\n"])
        }
    }

    @Test("a receive that takes a while says how far it got on standard error; standard output stays the report")
    func receiveProgress() async throws {
        try requireRealBackend()
        let setup = try Setup()
        try setup.tree.subvolume("sender/big-1")
        try Shell.run(["sh", "-c", "head -c 1048576 /dev/urandom > '\(setup.tree.path("sender/big-1/disk.img"))'"])
        try setup.tree.setReadOnly("sender/big-1")
        let stream = setup.tree.path("big-1.stream")
        try Shell.run(["btrfs", "send", "-q", "-f", stream, setup.tree.path("sender/big-1")])
        // The stream stalls for a while after its first 300 kB.
        let errors = setup.tree.path("errors")
        let output = try Shell.sh(
            "(head -c 300000 '\(stream)'; sleep 1.5; tail -c +300001 '\(stream)') | '\(Binary.path)' machine add "
                + "default/big --stream - --owner 0 --root '\(setup.root)' 2>'\(errors)'; echo \"exit $?\"")
        #expect(output.hasPrefix("add default/big: done\n") && output.hasSuffix("exit 0\n"), "\(output)")
        let progress = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(progress.hasPrefix("receiving \(setup.root)/default/big/big-1: "), "\(progress)")
        #expect(progress.contains(" KiB in 1 s\n") || progress.contains(" MiB in 1 s\n"), "\(progress)")
        await setup.tree.remove()
    }

    @Test("add from a stream, an incremental upgrade removing the old revision, list in both formats")
    func addUpgradeList() async throws {
        try requireRealBackend()
        let setup = try Setup()
        let added = try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "1000:1000"])
        #expect(added.status == 0, "\(added.standardOutput)\(added.standardError)")
        #expect(added.outputLines.first == "add default/m: done")
        #expect(try setup.tree.names("machines/default/m") == ["m", "m-1", "m-1.received"])
        #expect(try Shell.run(["readlink", setup.machine + "/m"]) == "m-1\n")
        #expect(try setup.tree.isReadOnly("machines/default/m/m-1"))
        #expect(try setup.tree.receivedUUID("machines/default/m/m-1") == "-")
        #expect(try setup.tree.receivedUUID("machines/default/m/m-1.received").count == 36)
        #expect(try Shell.run(["stat", "-c", "%u:%g", setup.machine + "/m-1", setup.machine]) == "1000:1000\n1000:1000\n")
        #expect(try String(contentsOfFile: setup.machine + "/m-1/disk.img", encoding: .utf8) == "revision 1")

        let upgraded = try setup.machine(["upgrade", "default/m", "--stream", setup.incremental, "--owner", "1000", "--remove-old"])
        #expect(upgraded.status == 0, "\(upgraded.standardOutput)\(upgraded.standardError)")
        #expect(try setup.tree.names("machines/default/m") == ["m", "m-2", "m-2.received"])
        #expect(try Shell.run(["readlink", setup.machine + "/m"]) == "m-2\n")
        #expect(try String(contentsOfFile: setup.machine + "/m-2/disk.img", encoding: .utf8) == "revision 2")

        let text = try setup.machine(["list"])
        #expect(text.status == 0)
        #expect(text.outputLines.first == "default/m: current m-2")
        #expect(text.outputLines.contains("  received images: m-2.received"))
        let json = try setup.machine(["list", "default/m", "--format", "json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        let machines = document?["machines"] as? [[String: Any]]
        #expect(machines?.first?["current"] as? String == "m-2")

        // The boot cleanup recognises everything the commands made.
        let cleanup = try Binary.run(["cleanup", "--root", setup.root, "--toolchain", "default"])
        #expect(cleanup.status == 0)
        #expect(cleanup.standardOutput.isEmpty)
        await setup.tree.remove()
    }

    @Test(
        "upgrade --remove-old keeps an old revision bind-mounted elsewhere, and its image, with a note; remove refuses it, naming the mount"
    )
    func removeOldKeepsMounted() async throws {
        try requireRealBackend()
        let setup = try Setup()
        let added = try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "1000:1000"])
        #expect(added.status == 0, "\(added.standardOutput)\(added.standardError)")
        let elsewhere = NSTemporaryDirectory() + "bound-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        try Shell.run(["mount", "--bind", setup.machine + "/m-1", elsewhere])
        defer { _ = try? Shell.run(["umount", "-l", elsewhere]) }

        let upgraded = try setup.machine(["upgrade", "default/m", "--stream", setup.incremental, "--owner", "1000", "--remove-old"])
        #expect(upgraded.status == 0, "\(upgraded.standardOutput)\(upgraded.standardError)")
        #expect(upgraded.outputLines.contains("  kept \(setup.machine)/m-1: mounted elsewhere: \(elsewhere)"), "\(upgraded.outputLines)")
        #expect(
            upgraded.outputLines.contains("  kept \(setup.machine)/m-1.received: m-1, which it goes with: mounted elsewhere: \(elsewhere)"),
            "\(upgraded.outputLines)")
        #expect(try setup.tree.names("machines/default/m") == ["m", "m-1", "m-1.received", "m-2", "m-2.received"])

        // remove stops at it, with the mount in its error.
        let removed = try setup.machine(["remove", "default/m", "--timeout", "0"])
        #expect(removed.status == 1, "\(removed.standardOutput)\(removed.standardError)")
        #expect(removed.standardOutput.contains("mounted elsewhere: \(elsewhere)"), "\(removed.standardOutput)")
        try Shell.run(["umount", elsewhere])
        #expect(setup.tree.exists("machines/default/m/m-1"))
        await setup.tree.remove()
    }

    @Test("add from standard input, as `btrfs send | ssh host buildos-clean machine add ... --stream -`")
    func addFromStandardInput() async throws {
        try requireRealBackend()
        let setup = try Setup()
        let output = try Shell.sh(
            "btrfs send -q '\(setup.tree.path("sender/m-1"))' | '\(Binary.path)' machine add default/m --stream - "
                + "--owner 0:0 --root '\(setup.root)'")
        #expect(output.hasPrefix("add default/m: done"))
        #expect(try setup.tree.names("machines/default/m") == ["m", "m-1", "m-1.received"])
        await setup.tree.remove()
    }

    @Test("bad input is refused before anything is touched, with its exit status", arguments: [
        (["add", "default/m", "--stream", "NOT-A-STREAM", "--owner", "0"], 64, "not a btrfs send stream"),
        (["add", "default/m", "--stream", "INCREMENTAL", "--owner", "0"], 64, "add needs a full stream"),
        (["add", "default/x", "--stream", "FULL", "--owner", "0"], 64, "not x-<N>"),
        (["add", "nowhere/m", "--stream", "FULL", "--owner", "0"], 64, "unknown volume nowhere"),
        (["add", "default/-m", "--stream", "FULL", "--owner", "0"], 64, "is not a machine name"),
        (["add", "default/m/x", "--stream", "FULL", "--owner", "0"], 64, "is not VOLUME/NAME"),
        (["add", "default/m", "--stream", "MISSING", "--owner", "0"], 66, "cannot read stream"),
        (["add", "default/m", "--stream", "FULL", "--owner", "0:"], 64, "--owner is USER or USER:GROUP"),
        (["upgrade", "default/m", "--stream", "FULL", "--owner", "0"], 64, "no machine default/m"),
        (["remove", "default/m"], 64, "no machine default/m"),
    ])
    func badInput(arguments: [String], status: Int32, message: String) async throws {
        try requireRealBackend()
        let setup = try Setup()
        try setup.tree.file("not-a-stream", "hello\n")
        let substituted = arguments.map { argument in
            switch argument {
            case "FULL": setup.full
            case "INCREMENTAL": setup.incremental
            case "NOT-A-STREAM": setup.tree.path("not-a-stream")
            case "MISSING": setup.tree.path("missing.stream")
            default: argument
            }
        }
        let before = try setup.everything()
        let result = try setup.machine(substituted)
        #expect(result.status == status, "\(result.standardError)")
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(try setup.everything() == before)
        await setup.tree.remove()
    }

    @Test("a machine that exists, and an upgrade whose parent is not the current revision, are refused")
    func refusalsAfterAdd() async throws {
        try requireRealBackend()
        let setup = try Setup()
        #expect(try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "0"]).status == 0)
        // An incremental stream against another image.
        try setup.tree.directory("other")
        try setup.tree.subvolume("other/m-5")
        try setup.tree.setReadOnly("other/m-5")
        try setup.tree.snapshot("other/m-5", "other/m-6", readOnly: true)
        try Shell.run([
            "btrfs", "send", "-q", "-p", setup.tree.path("other/m-5"), "-f", setup.tree.path("m-6.stream"),
            setup.tree.path("other/m-6"),
        ])
        let before = try setup.everything()
        let exists = try setup.machine(["add", "default/m", "--stream", setup.incremental, "--owner", "0"])
        #expect(exists.status == 64)
        let wrongParent = try setup.machine(["upgrade", "default/m", "--stream", setup.tree.path("m-6.stream"), "--owner", "0"])
        #expect(wrongParent.status == 64)
        #expect(wrongParent.standardError.contains("which is not the current revision m-1"))
        #expect(try setup.everything() == before)
        await setup.tree.remove()
    }

    @Test("an upgrade that btrfs receive applied to another copy of the image is undone; a truncated stream leaves nothing")
    func receivedAgainstACopy() async throws {
        try requireRealBackend()
        let setup = try Setup()
        // A copy of revision 1 received by hand before the machine's own:
        // the same received UUID, the lower id, which btrfs receive takes.
        try setup.tree.directory("copy")
        try Shell.run(["btrfs", "receive", "-q", "-f", setup.full, setup.tree.path("copy")])
        #expect(try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "0"]).status == 0)
        let upgrade = try setup.machine(["upgrade", "default/m", "--stream", setup.incremental, "--owner", "0"])
        #expect(upgrade.status == 1)
        #expect(upgrade.standardError.contains("applied the stream to another subvolume with the same received UUID"))
        #expect(try Shell.run(["ls", setup.machine]) == "m\nm-1\nm-1.received\n")
        #expect(try Shell.run(["readlink", setup.machine + "/m"]) == "m-1\n")
        // A stream cut short: its partial subvolume goes at once.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: setup.full))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: setup.tree.path("half.stream")))
        try setup.tree.directory("machines/v2")
        let half = try setup.machine(["add", "v2/m", "--stream", setup.tree.path("half.stream"), "--owner", "0"])
        #expect(half.status == 1)
        #expect(half.standardError.contains("the partial subvolume is deleted"), "\(half.standardError)")
        #expect(try Shell.run(["ls", setup.root + "/v2/m"]) == "")
        await setup.tree.remove()
    }

    @Test("a stream btrfs receive refuses before receiving anything: its error line is the cause, nothing was received")
    func receiveRefusesTheStream() async throws {
        try requireRealBackend()
        let setup = try Setup()
        // Version 3 in the header: this tool's check takes 1 to 3; the
        // btrfs-progs of Debian 12 refuses it.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: setup.full)))
        bytes.replaceSubrange(13..<17, with: [3, 0, 0, 0])
        let stream = setup.tree.path("v3.stream")
        try Data(bytes).write(to: URL(fileURLWithPath: stream))
        // What btrfs receive itself says of it, by hand.
        try setup.tree.directory("by-hand")
        let byHand = try Shell.sh("btrfs receive -q -f '\(stream)' '\(setup.tree.path("by-hand"))' 2>&1; echo \"exit $?\"")
        let error = byHand.split(separator: "\n").last { $0.hasPrefix("ERROR: ") }.map { String($0.dropFirst(7)) }
        let result = try setup.machine(["add", "default/m", "--stream", stream, "--owner", "0"])
        if let error {
            #expect(result.status == 1)
            #expect(result.standardError.contains(error), "\(result.standardError)")
            #expect(result.standardError.contains("nothing was received") || result.standardError.contains("partial subvolume"))
            #expect(!result.standardError.contains("running the command again finishes the job"))
            #expect(try setup.tree.names("machines/default/m").isEmpty)
        } else {
            // A btrfs-progs that takes version 3: the tool does too.
            #expect(result.status == 0, "\(result.standardError)")
        }
        await setup.tree.remove()
    }

    @Test("add writing its report to a closed pipe ends by SIGPIPE, as any tool: the receive does not leave it ignored")
    func closedPipeAfterReceive() async throws {
        try requireRealBackend()
        let setup = try Setup()
        // Only where this test's shell gets SIGPIPE at its default.
        let control = try Shell.run(["bash", "-c", "yes | true; echo ${PIPESTATUS[0]}"])
        if control == "141\n" {
            let result = try Shell.run([
                "bash", "-c",
                "'\(Binary.path)' machine add default/m --stream '\(setup.full)' --owner 0 --root '\(setup.root)' "
                    + "2>/dev/null | true; echo ${PIPESTATUS[0]}",
            ])
            #expect(result == "141\n")
        }
        // The machine was added all the same.
        #expect(try Shell.run(["readlink", setup.machine + "/m"]) == "m-1\n")
        await setup.tree.remove()
    }

    @Test("remove waits for a working snapshot that goes while it waits, then deletes the machine")
    func removeWaits() async throws {
        try requireRealBackend()
        let setup = try Setup()
        #expect(try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "0"]).status == 0)
        try setup.tree.snapshot("machines/default/m/m-1", "machines/default/m/m-default-4242-1")
        try setup.tree.snapshot("machines/default/m/m-1", "machines/default/m/m-gone-1-1")
        // An agent holds its machine lock while it builds; the build ends
        // in four seconds: it deletes its snapshot and releases the lock.
        // The snapshot of a toolchain whose lock nobody holds is stale.
        let snapshot = setup.machine + "/m-default-4242-1"
        let lock = setup.machine + "/m-default.lock"
        let ending = Process()
        ending.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        ending.arguments = [lock, "sh", "-c", "sleep 4; btrfs -q subvolume delete '\(snapshot)'; rm -f '\(lock)'"]
        try ending.run()
        // Until flock(1) holds it.
        for _ in 0..<200 {
            if (try? Shell.sh("flock -n '\(lock)' true && echo free || echo held")) == "held\n" { break }
            usleep(10_000)
        }
        let removed = try setup.machine(["remove", "default/m", "--timeout", "60"])
        ending.waitUntilExit()
        #expect(removed.status == 0, "\(removed.standardOutput)\(removed.standardError)")
        #expect(removed.standardError.contains("waiting for m-default-4242-1, m-default.lock (held): 0 s"))
        #expect(removed.outputLines.contains("  \(setup.machine)/m-gone-1-1: info: deleted subvolume"))
        #expect(try setup.tree.names("machines/default") == [])
        await setup.tree.remove()
    }

    @Test("one change at a time: a held lock stops cleanup and machine commands with 75; list and dry runs go on")
    func lockRules() async throws {
        try requireRealBackend()
        let setup = try Setup()
        #expect(try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "0"]).status == 0)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        let name = await ToolLock.fileName(for: setup.root, on: RealFileSystem())
        holder.arguments = [ToolLock.directory + "/" + name.rawValue, "sleep", "30"]
        try holder.run()
        defer { holder.terminate() }
        // flock needs a moment to take it.
        for _ in 0..<50 where (try? Shell.run(["sh", "-c", "grep -q FLOCK /proc/locks"])) == nil { usleep(20_000) }
        usleep(200_000)
        let remove = try setup.machine(["remove", "default/m", "--wait", "1"])
        #expect(remove.status == 75, "\(remove.standardError)")
        let cleanup = try Binary.run(["cleanup", "--root", setup.root, "--toolchain", "default"])
        #expect(cleanup.status == 75)
        #expect(cleanup.standardError.contains("another buildos-clean run holds the lock"))
        // With --format json, standard output holds the refusal's document.
        let json = try Binary.run(["cleanup", "--root", setup.root, "--toolchain", "default", "--format", "json"])
        #expect(json.status == 75)
        let document = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect(document?["status"] as? String == "refused")
        #expect(document?["exitStatus"] as? Int == 75)
        #expect((document?["error"] as? [String: String])?["code"] == "busy")
        // The same tree by another path (a link to it, `//`) is the same
        // lock: a run through it must not go beside a machine command.
        try Shell.run(["ln", "-s", setup.root, setup.tree.path("root-link")])
        let spelt = setup.tree.path("root-link")
        let doubled = setup.tree.path("") + "/machines"
        for other in [spelt, doubled, setup.root + "/"] {
            let through = try Binary.run(["cleanup", "--root", other, "--toolchain", "default"])
            #expect(through.status == 75, "\(other): \(through.standardError)")
            #expect(through.standardError.contains(name.rawValue), "\(through.standardError)")
        }
        #expect(try Binary.run(["machine", "remove", "default/m", "--root", spelt]).status == 75)
        // A dry run takes no lock.
        let dry = try Binary.run(["cleanup", "--root", setup.root, "--toolchain", "default", "--dry-run"])
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(dry.outputLines.first == "plan for \(setup.root) (toolchains: default)")
        #expect(try setup.machine(["list"]).status == 0)
        #expect(try setup.machine(["remove", "default/m", "--dry-run"]).status == 0)
        #expect(try Shell.run(["readlink", setup.machine + "/m"]) == "m-1\n")
        holder.terminate()
        holder.waitUntilExit()
        await setup.tree.remove()
    }

    @Test("add and upgrade killed mid-receive, then run again, finish the job", arguments: ["add", "upgrade"])
    func killedMidReceive(command: String) async throws {
        try requireRealBackend()
        let setup = try Setup()
        if command == "upgrade" {
            #expect(try setup.machine(["add", "default/m", "--stream", setup.full, "--owner", "0"]).status == 0)
        }
        let stream = command == "add" ? setup.full : setup.incremental
        // The stream stops after its first 200 bytes; the command is killed
        // while it waits for the rest.
        let fifo = setup.tree.path("stream.fifo")
        let script = """
            mkfifo '\(fifo)'
            '\(Binary.path)' machine \(command) default/m --stream '\(fifo)' --owner 0 --root '\(setup.root)' \
              >/dev/null 2>&1 &
            pid=$!
            exec 3>'\(fifo)'
            head -c 200 '\(stream)' >&3
            sleep 2
            kill -KILL $pid
            wait $pid
            exec 3>&-
            rm -f '\(fifo)'
            true
            """
        try Shell.sh(script)
        let revision = command == "add" ? "m-1" : "m-2"
        // Whatever is left is not linked.
        let link = try? Shell.run(["readlink", setup.machine + "/m"])
        #expect(link == nil || link == "m-1\n")
        let again = try setup.machine([command, "default/m", "--stream", stream, "--owner", "0"])
        #expect(again.status == 0, "\(again.standardOutput)\(again.standardError)")
        #expect(try Shell.run(["readlink", setup.machine + "/m"]) == "\(revision)\n")
        #expect(try setup.tree.isReadOnly("machines/default/m/\(revision)"))
        let cleanup = try Binary.run(["cleanup", "--root", setup.root, "--toolchain", "default"])
        #expect(cleanup.standardOutput.isEmpty, "\(cleanup.outputLines)")
        await setup.tree.remove()
    }

    @Test("a link put in place of the revision under receive is followed inside the machine directory only")
    func linkSwappedDuringReceive() async throws {
        try requireRealBackend()
        let setup = try Setup()
        let stream = try Array(Data(contentsOf: URL(fileURLWithPath: setup.full)))
        // The header (17 bytes), then the first command (10 bytes and its
        // payload, whose length is its first field): the subvolume.
        let firstLength = Int(stream[17]) | Int(stream[18]) << 8 | Int(stream[19]) << 16 | Int(stream[20]) << 24
        let first = 17 + 10 + firstLength
        try Data(stream[..<first]).write(to: URL(fileURLWithPath: setup.tree.path("first")))
        try Data(stream[first...]).write(to: URL(fileURLWithPath: setup.tree.path("rest")))
        let outside = setup.tree.path("outside")
        try setup.tree.directory("outside")
        // Once the subvolume is there, a writer of the machine directory
        // moves it aside and puts a link to a directory outside in its
        // name; then the stream goes on (its files are written by path).
        let fifo = setup.tree.path("stream.fifo")
        let script = """
            mkfifo '\(fifo)'
            '\(Binary.path)' machine add default/m --stream '\(fifo)' --owner 0 --root '\(setup.root)' \
              >/dev/null 2>&1 &
            pid=$!
            exec 3>'\(fifo)'
            cat '\(setup.tree.path("first"))' >&3
            for i in $(seq 100); do [ -d '\(setup.machine)/m-1' ] && break; sleep 0.1; done
            mv '\(setup.machine)/m-1' '\(setup.machine)/m-1.moved'
            ln -s '\(outside)' '\(setup.machine)/m-1'
            cat '\(setup.tree.path("rest"))' >&3
            exec 3>&-
            wait $pid
            rm -f '\(fifo)'
            true
            """
        try Shell.sh(script)
        #expect(try setup.tree.names("outside") == [])
        #expect(try Shell.run(["readlink", setup.machine + "/m-1"]) == "\(outside)\n")
        _ = try? Shell.run(["rm", setup.machine + "/m-1"])
        await setup.tree.remove()
    }
}
