import Foundation
import Testing
import TestSupport

/// Malformed layout files given to `cleanup --layout`: each is refused
/// with exit 64 and `FILE:LINE: ` naming what is wrong, without a trap or
/// a hang.
@Suite("layout files as input")
struct LayoutInputTests {
    typealias Case = InputCase

    static let long255 = String(repeating: "a", count: 255)
    static let long256 = String(repeating: "a", count: 256)
    static let target4096 = String(repeating: "t", count: 4096)
    static let deepPath = Array(repeating: "d", count: 2100).joined(separator: "/")
    static let halfPath = Array(repeating: "d", count: 1040).joined(separator: "/")

    static let cases: [Case] = [
        Case("a bare flag given a value", "subvol v/m/m-1 ro=yes\n", "flag 'ro' takes no value"),
        Case("a bare flag given an empty value", "subvol v/m/m-1 received=\n", "flag 'received' takes no value"),
        Case("a flag with no name", "subvol v/m/m-1 =x\n", "flag '=x' has no name"),
        Case("a lone '='", "subvol v/m/m-1 =\n", "flag '=' has no name"),
        Case("owner without a value", "dir v/m owner=\n", "flag 'owner' needs a value"),
        Case("owner as a bare word", "dir v/m owner\n", "flag 'owner' needs a value"),
        Case("owner without its group", "dir v/m owner=5:\n", "owner needs UID:GID"),
        Case("owner without its user", "dir v/m owner=:5\n", "owner needs UID:GID"),
        Case("a negative owner", "dir v/m owner=-1:0\n", "owner needs UID:GID"),
        Case("an owner with a sign", "dir v/m owner=+5:5\n", "owner needs UID:GID"),
        Case("the reserved id 2^32-1", "dir v/m owner=4294967295:0\n", "owner needs UID:GID"),
        Case("an owner past 32 bits", "dir v/m owner=99999999999\n", "owner needs UID:GID"),
        Case("a mode that is not octal", "dir v/m mode=0999\n", "mode needs an octal number"),
        Case("a mode with a sign", "dir v/m mode=+7\n", "mode needs an octal number"),
        Case("a mode past 07777", "dir v/m mode=17777\n", "mode needs an octal number"),
        Case("a flag given twice", "subvol v/m/m-1 ro ro\n", "flag 'ro' is given twice"),
        Case("a valued flag without its value", "subvol v/m/m-2 snapshot-of\n", "flag 'snapshot-of' needs a value"),
        Case("an unknown flag", "subvol v/m/m-1 readonly\n", "unknown flag 'readonly'"),
        Case("a flag of another kind", "dir v/m ro\n", "flag 'ro' does not apply to dir"),
        Case("CRLF line ends still count lines", "subvol v/m/m-1 ro\r\nbogus x\r\n", line: 2, "unknown kind 'bogus'"),
        Case("a carriage return inside a line", "subvol v/m/m-1\rlink v/m/m -> m-1\n", "carriage return inside a line"),
        Case("a carriage return inside quotes", "subvol \"v/m/m-1\r\"\n", "carriage return inside quotes"),
        Case("a 256-byte name", "subvol v/m/\(long256)\n", "is 256 bytes long (at most 255)"),
        Case("a path past 4095 bytes", "dir v/\(deepPath)\n", "bytes long (at most 4095)"),
        Case("a 4096-byte link target", "subvol v/m/m-1\nlink v/m/m -> \(target4096)\n", line: 2, "it is 4096 bytes long"),
        Case("an empty link target", "link v/m/m -> \"\"\n", "invalid link target: it is empty"),
        Case("a link without its target", "link v/m/m ->\n", "link needs '-> TARGET'"),
        Case("a NUL byte in a link target", Array("link v/m/m -> m-1".utf8) + [0] + Array("x\n".utf8), "NUL byte"),
        Case("a NUL byte in a name", Array("dir v/m".utf8) + [0] + Array("\n".utf8), "NUL byte"),
        Case("an unknown escape", "dir \"v/m\\x\"\n", "unknown escape '\\x'"),
        Case("an unterminated quote", "dir \"v/m\n", "unterminated quote"),
        Case("a '..' component", "subvol v/../m-1\n", "invalid path 'v/../m-1': it holds '..'"),
        Case("an empty path", "dir \"\"\n", "invalid path '': no entry name"),
        Case("root given twice", "root /a\nroot /b\n", line: 2, "root is given twice"),
        Case("a relative root", "root a/b\n", "root needs an absolute path"),
        Case("bytes that are not UTF-8", Array("dir v/a\ndir v/b\ndir v/".utf8) + [0xff, 0x0a], line: 3, "not UTF-8 text"),
        Case("an entry given twice", "subvol v/m/m-1\nsubvol v/m/m-1\n", line: 2, "/build/machines/v/m/m-1: already exists"),
        Case(
            "a snapshot that is received", "subvol v/m/m-1 ro\nsubvol v/m/m-2 snapshot-of=v/m/m-1 received\n", line: 2,
            "'received' does not combine with snapshot-of"),
        Case(
            "a snapshot of nothing", "dir v/m\nsubvol v/m/m-2 snapshot-of=v/m/m-9\n", line: 2,
            "/build/machines/v/m/m-9: not a subvolume"),
        Case(
            "two default subvolumes on one filesystem", "subvol v/m/a default\nsubvol v/m/b default\n", line: 2,
            "already its default"),
        Case(
            "a snapshot inside its source holding a path past 4095 bytes (found by fuzzing)",
            "subvol v/s\ndir v/s/\(halfPath)\nsubvol v/s/\(halfPath)/snap snapshot-of=v/s\n", line: 3,
            "the snapshot would hold a path 4189 bytes long (at most 4095)"),
        Case("a subvolume off btrfs", "tmpfs /var/x\nsubvol /var/x/s\n", line: 2, "not on a btrfs filesystem"),
        Case("an entry below a file", "file v/f\ndir v/f/d\n", line: 2, "f is not a directory"),
        Case("a volume given twice", "volume v\nvolume v\n", line: 2, "/build/machines/v: already a mount point"),
        Case("a volume after its contents", "subvol v/m/m-1\nvolume v owner=1000\n", line: 2, "already a mount point"),
        Case("a mount over entries", "subvol v/m/m-1\nmount v/m\n", line: 2, "/build/machines/v/m: not empty: a mount here would hide"),
        Case("a mount over the machines root's parent", "tmpfs /build\n", "/build: not empty"),
    ]

    @Test("a malformed layout is refused with its line", arguments: cases)
    func refused(_ input: Case) throws {
        let file = try InputTest.file("bad.layout", input.bytes)
        let result = try InputTest.run(["cleanup", "--layout", file, "--toolchain", "default"])
        InputTest.expectRefused(result, location: "\(file):\(input.line)", message: input.message)
    }

    @Test("CRLF line ends are line ends: no name gets a carriage return")
    func carriageReturnLineFeed() throws {
        let file = try InputTest.file("crlf.layout", "subvol v/m/m-1 ro\r\nlink v/m/m -> m-1\r\nsubvol v/m/m-default-1-1\r\n")
        let result = try InputTest.run(["cleanup", "--layout", file, "--toolchain", "default"])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(
            result.outputLines == [
                "cleaned up entries in /build/machines/", "  /build/machines/v/m/m-default-1-1: info: deleted subvolume",
            ])
    }

    @Test("a byte order mark that an editor put first is no part of a layout, a kernel command line or a scenario")
    func byteOrderMark() throws {
        let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
        let layout = try InputTest.file("bom.layout", mark + Array("volume v\nsubvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\n".utf8))
        let commandLine = try InputTest.file("cmdline", mark + Array("buildos.toolchain_url=tftp://x\n".utf8))
        let cleaned = try InputTest.run(["cleanup", "--layout", layout, "--kernel-cmdline", commandLine])
        #expect(cleaned.status == 0, "\(cleaned.standardError)")
        #expect(cleaned.outputLines.last == "  /build/machines/v/m/m-default-1-1: info: deleted subvolume", "\(cleaned.outputLines)")
        let scenario = try InputTest.file(
            "bom.yaml",
            mark + Array(ScenarioInputTests.scenario().utf8))
        let ran = try InputTest.run(["scenario", "run", scenario])
        #expect(ran.status == 0, "\(ran.standardOutput)\(ran.standardError)")
    }

    @Test("the limits themselves are accepted: a 255-byte name, a 4095-byte target, bare owner=UID")
    func limits() throws {
        let target = String(repeating: "t", count: 4095)
        let file = try InputTest.file(
            "limits.layout", "subvol v/m/\(Self.long255) owner=1000\nsubvol v/m/m-1 ro\nlink v/m/l -> \(target)\n")
        let result = try InputTest.run(["cleanup", "--layout", file, "--toolchain", "default", "--dry-run"])
        #expect(result.status == 0 || result.status == 1, "\(result.standardError)")
        #expect(result.standardError.isEmpty)
        #expect(result.standardOutput.contains(Self.long255))
    }

    @Test(
        "a layout that cannot be read exits 66, without waiting on a device or a FIFO",
        arguments: ["missing", "directory", "/dev/zero", "fifo"])
    func unreadable(_ kind: String) throws {
        let directory = try InputTest.directory()
        let path: String
        switch kind {
        case "missing": path = directory + "/missing.layout"
        case "directory": path = directory
        case "fifo":
            path = directory + "/fifo"
            #expect(mkfifo(path, 0o600) == 0)
        default: path = kind
        }
        let result = try InputTest.run(["cleanup", "--layout", path, "--toolchain", "default"])
        InputTest.expectRefused(result, status: 66, location: nil, message: "cannot read layout \(path)")
    }

    @Test("a layout larger than 16 MiB is refused")
    func tooLarge() throws {
        let path = try InputTest.directory() + "/huge.layout"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 17 << 20)
        try handle.close()
        let result = try InputTest.run(["cleanup", "--layout", path, "--toolchain", "default"])
        InputTest.expectRefused(result, location: nil, message: "larger than 16777216 bytes")
    }

    @Test("a layout of exactly 16 MiB is read; one byte more is refused")
    func sixteenMiBEdge() throws {
        // A valid line, then comment lines up to the byte.
        let head = "subvol v/m/m-1 ro\nlink v/m/m -> m-1\n"
        let line = String(repeating: "#", count: 1023) + "\n"
        var text = head
        text.reserveCapacity(16 << 20)
        while text.utf8.count + line.utf8.count <= 16 << 20 { text += line }
        text += String(repeating: "#", count: (16 << 20) - text.utf8.count - 1) + "\n"
        #expect(text.utf8.count == 16 << 20)
        let exact = try InputTest.file("exact.layout", text)
        let read = try InputTest.run(["cleanup", "--layout", exact, "--toolchain", "default", "--dry-run"])
        #expect(read.status == 0, "\(read.standardError)")
        let over = try InputTest.file("over.layout", text + "#")
        InputTest.expectRefused(
            try InputTest.run(["cleanup", "--layout", over, "--toolchain", "default"]), location: nil,
            message: "larger than 16777216 bytes")
    }
}
