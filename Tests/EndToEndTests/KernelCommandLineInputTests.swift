import Foundation
import Testing
import TestSupport

/// Malformed kernel command lines given to `cleanup --kernel-cmdline`:
/// each is refused with exit 64 and `FILE:LINE: `, and the machines root
/// is left as it was.
@Suite("kernel command lines as input")
struct KernelCommandLineInputTests {
    typealias Case = InputCase

    static let cases: [Case] = [
        Case(
            "an invalid toolchain name", "quiet buildos.toolchain_url.gcc-13=tftp://x\n",
            "invalid toolchain in kernel command line parameter 'buildos.toolchain_url.gcc-13'"),
        Case(
            "an empty toolchain name", "buildos.toolchain_url.=tftp://x\n",
            "parameter 'buildos.toolchain_url.': empty toolchain name"),
        Case(
            "a toolchain without its URL", "quiet buildos.toolchain_url.gcc\n",
            "parameter 'buildos.toolchain_url.gcc' has no value"),
        Case("the default toolchain with an empty URL", "buildos.toolchain_url= quiet\n", "has no value"),
        Case(
            "an unterminated quote", "quiet buildos.toolchain_url=\"tftp://x y\n",
            "unterminated double quote"),
        Case(
            "NUL-separated, as /proc/PID/cmdline", bytes: Array("quiet".utf8) + [0] + Array("buildos.toolchain_url=x".utf8),
            "NUL byte"),
        Case("the line of the parameter", "quiet\nro\nbuildos.toolchain_url.a/b=x\n", line: 3, "contains '/'"),
        Case("CRLF lines", "quiet\r\nbuildos.toolchain_url.a/b=x\r\n", line: 2, "contains '/'"),
        Case(
            "a line break inside quotes counts", "quiet x=\"a\nb\"\nbuildos.toolchain_url.a/b=x\n", line: 3,
            "contains '/'"),
        Case("a quoted value's first line names it", "buildos.toolchain_url.a/b=\"x\ny\"\n", line: 1, "contains '/'"),
        Case("no toolchain at all", "quiet root=/dev/sda\n", line: 0, "the kernel command line configures none"),
        Case("not UTF-8", bytes: Array("quiet\nbuildos.toolchain_url=".utf8) + [0xc3, 0x28], line: 2, "not UTF-8"),
    ]

    @Test("a malformed kernel command line is refused and nothing is touched", arguments: cases)
    func refused(_ input: Case) throws {
        let file = try InputTest.file("cmdline", input.bytes)
        let root = try InputTest.realRoot()
        let before = InputTest.snapshot(of: root)
        let result = try InputTest.run(["cleanup", "--root", root, "--kernel-cmdline", file])
        InputTest.expectRefused(result, location: input.line == 0 ? nil : "\(file):\(input.line)", message: input.message)
        #expect(InputTest.snapshot(of: root) == before)
    }

    @Test("machine list names the file and line of a kernel command line's problem too", arguments: cases)
    func refusedByList(_ input: Case) throws {
        let file = try InputTest.file("cmdline", input.bytes)
        let root = try InputTest.realRoot()
        let result = try InputTest.run(["machine", "list", "--root", root, "--kernel-cmdline", file])
        InputTest.expectRefused(result, location: input.line == 0 ? nil : "\(file):\(input.line)", message: input.message)
        // With --format json, the refusal is a document.
        let json = try InputTest.run(["machine", "list", "--root", root, "--kernel-cmdline", file, "--format", "json"])
        #expect(json.status == 64)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any], "\(json.standardOutput)")
        #expect(document["exitStatus"] as? Int == 64)
        #expect(((document["error"] as? [String: Any])?["message"] as? String)?.contains(input.message) == true)
    }

    @Test("the check that nothing is touched can fail: a valid command line removes the stale lock file")
    func control() throws {
        let file = try InputTest.file("cmdline", "quiet buildos.toolchain_url=tftp://x\n")
        let root = try InputTest.realRoot()
        let before = InputTest.snapshot(of: root)
        let result = try InputTest.run(["cleanup", "--root", root, "--kernel-cmdline", file])
        #expect(!result.timedOut)
        #expect(result.standardOutput.contains("m-default.lock: info: removed stale lock file"))
        #expect(InputTest.snapshot(of: root) != before)
    }

    @Test("40,000 toolchains are read in linear time")
    func manyToolchains() throws {
        let parameters = (0..<40_000).map { "buildos.toolchain_url.t\($0)=tftp://h/\($0)" }
        let file = try InputTest.file("cmdline", parameters.joined(separator: " ") + "\n")
        let layout = try InputTest.file("one.layout", "subvol v/m/m-1 ro\nlink v/m/m -> m-1\n")
        let result = try InputTest.run(["cleanup", "--layout", layout, "--kernel-cmdline", file])
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(result.standardError)")
    }

    @Test("an unreadable kernel command line exits 66", arguments: ["/nonexistent/cmdline", "/dev/zero"])
    func unreadable(_ path: String) throws {
        let result = try InputTest.run(["cleanup", "--root", "/nonexistent-root", "--kernel-cmdline", path])
        InputTest.expectRefused(result, status: 66, location: nil, message: "cannot read kernel command line \(path)")
    }
}
