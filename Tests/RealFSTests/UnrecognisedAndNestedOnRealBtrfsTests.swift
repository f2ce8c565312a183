import Foundation
import Testing
import TestSupport

/// The hardening promises, on a real btrfs with the built binary as root:
/// a read-only stray holding nested subvolumes goes whole, and a tree the
/// tool does not recognise loses nothing.
@Suite(
    "Read-only strays with nested subvolumes and unrecognised layouts on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")))
struct UnrecognisedAndNestedOnRealBtrfsTests {
    @Test("a read-only stray holding nested subvolumes, one inside a plain directory, is deleted; exit 0")
    func readOnlyStrayWithNested() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "nested")
        try tree.directory("default/m")
        try tree.received("default/m/m-1")
        try tree.symlink("default/m/m", to: "m-1")
        try tree.snapshot("default/m/m-1", "default/m/m-default", readOnly: true)
        try tree.snapshot("default/m/m-1", "default/m/m-default-7-1")
        try tree.subvolume("default/m/m-default-7-1/inner")
        try tree.directory("default/m/m-default-7-1/plain")
        try tree.subvolume("default/m/m-default-7-1/plain/deep")
        try tree.subvolume("default/m/m-default-7-1/plain/deep/deeper")
        try tree.setReadOnly("default/m/m-default-7-1/plain/deep")
        try tree.setReadOnly("default/m/m-default-7-1")
        // Unchanged, the kernel refuses the nested delete: the fact the
        // cleanup works around.
        #expect(throws: Shell.Failure.self) {
            try Shell.run(["btrfs", "-q", "subvolume", "delete", tree.path("default/m/m-default-7-1/inner")])
        }

        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        let m = tree.path("default/m/m")
        #expect(
            result.outputLines == [
                "cleaned up entries in \(tree.root)/",
                "  \(m)-default-7-1/inner: info: deleted nested subvolume",
                "  \(m)-default-7-1/plain/deep/deeper: info: deleted nested subvolume",
                "  \(m)-default-7-1/plain/deep: info: deleted nested subvolume",
                "  \(m)-default-7-1: info: deleted subvolume",
            ])
        #expect(result.status == 0)
        #expect(try tree.names("default/m") == ["m", "m-1", "m-default"])
        #expect(try tree.isReadOnly("default/m/m-1"))
        #expect(try tree.isReadOnly("default/m/m-default"))
        #expect(try tree.receivedUUID("default/m/m-1").count == 36)
        await tree.remove()
    }

    @Test("names are bytes: a link to one spelling of a name beside the other dangles; a dot or dash volume or machine that a combining mark follows is skipped")
    func namesAreBytes() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "bytes")
        // Made with coreutils and btrfs-progs, which pass the bytes as given.
        try Shell.run(["mkdir", "-p", tree.path("default/m"), tree.path(".\u{301}v/n"), tree.path("default/-\u{301}m")])
        try tree.subvolume("default/m/m-1", readOnly: true)
        try tree.subvolume("default/m/cafe\u{301}", readOnly: true)
        try tree.subvolume("default/m/m-default")
        try tree.subvolume("default/m/m-default-4-1")
        try Shell.run(["ln", "-s", "caf\u{e9}", tree.path("default/m/m")])
        try tree.subvolume(".\u{301}v/n/n-default-1-1")
        try tree.subvolume("default/-\u{301}m/-\u{301}m-1")

        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(result.standardOutput.contains("\(tree.path("default/m/m")): error: dangling current machine link to caf\u{e9}"))
        #expect(result.status == 1)
        // The stale working snapshot goes; everything else stays.
        #expect(try tree.names("default/m").count == 4)
        #expect(!tree.exists("default/m/m-default-4-1"))
        #expect(tree.exists("default/m/m-default"))
        #expect(try tree.names(".\u{301}v/n").count == 1)
        #expect(try tree.names("default/-\u{301}m").count == 1)
        await tree.remove()
    }

    @Test(
        "a machine without its link but with a symlink to one of its subvolumes keeps everything and halts",
        arguments: ["m-2", "./m-2", "../m/m-2", "m-2/boot/..", "m-2/disk.img"])
    func linkToOwnSubvolume(target: String) async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "unrecognised")
        try tree.directory("default/m")
        try tree.subvolume("default/m/m-1", readOnly: true)
        try tree.subvolume("default/m/m-2")
        try tree.directory("default/m/m-2/boot")
        try tree.file("default/m/m-2/disk.img")
        try tree.setReadOnly("default/m/m-2")
        try tree.symlink("default/m/m-latest", to: target)
        try tree.snapshot("default/m/m-2", "default/m/m-default")
        try tree.snapshot("default/m/m-2", "default/m/m-default-7-1")
        try tree.file("default/m/m-default.lock")
        let before = try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"])

        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(
            result.outputLines == [
                "invalid entries in \(tree.root)/, halting",
                "  \(tree.path("default/m")): error: layout not recognised, everything kept: no current machine link, "
                    + "but the symbolic link m-latest -> \(target) names its subvolume m-2",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        #expect(result.status == 1)
        #expect(try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"]) == before)
        await tree.remove()
    }

    @Test(
        "a nested subvolume whose name is not UTF-8 and that holds another is never opened by its rendering, even beside an exact name that spells it: EILSEQ, the stray read-only again, exit 1"
    )
    func undecodableNestedHolder() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "undecodable-nested")
        try tree.directory("default/m")
        try tree.subvolume("default/m/m-1", readOnly: true)
        try tree.symlink("default/m/m", to: "m-1")
        try tree.subvolume("default/m/m-default-7-1")
        // n\377 holding inner, then the decoy: a name whose exact bytes
        // are n\xff, holding one too.
        _ = try Shell.sh(
            """
            cd '\(tree.path("default/m/m-default-7-1"))' && n="$(printf 'n\\377')" \\
              && btrfs -q subvolume create "$n" && btrfs -q subvolume create "$n/inner" \\
              && btrfs -q subvolume create 'n\\xff' && btrfs -q subvolume create 'n\\xff/inner'
            """)
        try tree.setReadOnly("default/m/m-default-7-1")
        let before = try Shell.sh("ls -b '\(tree.path("default/m/m-default-7-1"))'")

        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(
            result.outputLines.contains(
                "  \(tree.path("default/m/m"))-default-7-1: error: unable to delete subvolume: nested subvolume n\\xff: not valid UTF-8 (EILSEQ)"
            ), "\(result.outputLines)")
        #expect(!result.standardOutput.contains("deleted"))
        #expect(result.status == 1)
        #expect(try Shell.sh("ls -b '\(tree.path("default/m/m-default-7-1"))'") == before)
        #expect(try tree.isReadOnly("default/m/m-default-7-1"))
        await tree.remove()
    }

    @Test("a name that is not UTF-8 is reported in a \\xnn rendering and kept")
    func undecodableName() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "undecodable")
        try tree.directory("default/m")
        try tree.subvolume("default/m/m-1", readOnly: true)
        try tree.symlink("default/m/m", to: "m-1")
        try Shell.sh("btrfs -q subvolume create \"$(printf '\(tree.path("default/m"))/m-default-\\377')\"")
        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(
            result.outputLines == [
                "unexpected entries in \(tree.root)/, kept",
                "  \(tree.path("default/m"))/m-default-\\xff: warning: name is not valid UTF-8, kept",
            ])
        #expect(result.status == 0)
        #expect(try Shell.run(["ls", tree.path("default/m")]).split(separator: "\n").count == 3)
        await tree.remove()
    }

    @Test("a link-less machine whose other link has a target or a name that is not UTF-8 loses nothing")
    func unreadableLinks() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "unreadable-links")
        try tree.directory("default/m")
        try tree.directory("default/n")
        try tree.subvolume("default/m/m-1", readOnly: true)
        try tree.subvolume("default/n/n-1", readOnly: true)
        try tree.subvolume("default/n/n-2", readOnly: true)
        let m = tree.path("default/m")
        try Shell.sh("btrfs -q subvolume create \"$(printf '\(m)/m-2\\377')\"")
        try Shell.sh("cd \(m) && ln -s \"$(printf 'm-2\\377')\" m-latest")
        try Shell.sh("cd \(tree.path("default/n")) && ln -s n-2 \"$(printf 'n-latest\\377')\"")
        let before = try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"])
        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(
            result.outputLines == [
                "invalid entries in \(tree.root)/, halting",
                "  \(m): error: layout not recognised, everything kept: no current machine link, "
                    + "and the symbolic link m-latest cannot be read",
                "  \(tree.path("default/n")): error: layout not recognised, everything kept: no current machine link, "
                    + "and the symbolic link n-latest\\xff cannot be read",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        #expect(result.status == 1)
        #expect(try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"]) == before)
        await tree.remove()
    }

    @Test("live mode: a FIFO under a lock's name is not opened for its lock; it stays, and so do its toolchain's entries")
    func fifoUnderALocksName() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "fifo-lock")
        try tree.directory("default/m")
        try tree.subvolume("default/m/m-1", readOnly: true)
        try tree.symlink("default/m/m", to: "m-1")
        try tree.subvolume("default/m/m-default-7-1")
        try Shell.run(["mkfifo", tree.path("default/m/m-default.lock")])
        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default", "--mode", "live"])
        #expect(
            result.outputLines.contains(
                "  \(tree.path("default/m/m-default.lock")): error: unable to take machine lock: invalid argument (EINVAL)"),
            "\(result.outputLines)")
        #expect(result.status == 1)
        #expect(try Shell.run(["stat", "-c", "%F", tree.path("default/m/m-default.lock")]) == "fifo\n")
        #expect(FileManager.default.fileExists(atPath: tree.path("default/m/m-default-7-1")))
        await tree.remove()
    }

    @Test("a machine of the later layout (<m>-<P> -> <m>-<P>.<R>) loses nothing")
    func laterLayout() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "later")
        try tree.directory("default/windows_10-msvc_14")
        let m = "default/windows_10-msvc_14/windows_10-msvc_14"
        try tree.subvolume("\(m)-1.2", readOnly: true)
        try tree.subvolume("\(m)-1.3", readOnly: true)
        try tree.symlink("\(m)-1", to: "windows_10-msvc_14-1.3")
        try tree.snapshot("\(m)-1.3", "\(m)-default")
        let before = try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"])

        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(result.status == 1)
        #expect(
            result.outputLines.contains(
                "  \(tree.path("default/windows_10-msvc_14")): error: layout not recognised, everything kept: "
                    + "no current machine link, but the symbolic link windows_10-msvc_14-1 -> windows_10-msvc_14-1.3 "
                    + "names its subvolume windows_10-msvc_14-1.3"))
        #expect(try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"]) == before)
        // A digit-led toolchain would have read m-1.3 as bootstrapped for
        // it: refused before anything is looked at.
        let digitLed = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "1"])
        #expect(digitLed.status == 64)
        #expect(digitLed.standardError.contains("does not start with an ASCII letter"))
        #expect(try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"]) == before)
        await tree.remove()
    }
}
