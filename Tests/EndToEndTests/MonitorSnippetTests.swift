import Foundation
import Testing
import TestSupport

/// The lines docs/build-os.md gives to replace the cleanup block of the
/// Build OS monitor, taken from that file and run in bash beside an
/// `email` function like the monitor's, on simulated trees.
@Suite("the monitor's lines in docs/build-os.md")
struct MonitorSnippetTests {
    /// The bash block of the section "In the monitor script".
    func snippet() throws -> String {
        let text = try String(contentsOfFile: Binary.packageRoot() + "/docs/build-os.md", encoding: .utf8)
        let section = try #require(text.range(of: "## In the monitor script"))
        let rest = text[section.upperBound...]
        let start = try #require(rest.range(of: "```bash\n"))
        let end = try #require(rest[start.upperBound...].range(of: "```"))
        return String(rest[start.upperBound..<end.lowerBound])
    }

    /// Runs the monitor's part: `email` writes its subject and input to a
    /// file; after the lines, the monitor goes on (prints `monitoring`).
    func runMonitor(layout: String) throws -> (status: Int32, output: String, mail: String) {
        let directory = try InputTest.directory()
        let layoutFile = directory + "/machines.layout"
        try layout.write(toFile: layoutFile, atomically: true, encoding: .utf8)
        let cmdline = directory + "/cmdline"
        try "quiet buildos.toolchain_url=https://example.org/toolchain\n".write(
            toFile: cmdline, atomically: true, encoding: .utf8)
        let mail = directory + "/mail"
        let lines = try snippet()
        #expect(lines.contains("buildos-clean cleanup --kernel-cmdline /proc/cmdline"))
        let adapted = lines.replacingOccurrences(
            of: "buildos-clean cleanup --kernel-cmdline /proc/cmdline",
            with: "'\(Binary.path(of: .developer))' cleanup --layout '\(layoutFile)' --kernel-cmdline '\(cmdline)'")
        let script = """
            set -o errtrace
            trap 'exit 1' ERR
            function email () { { echo "subject: $1"; cat; } >'\(mail)'; }
            \(adapted)
            echo monitoring
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let mailText = (try? String(contentsOfFile: mail, encoding: .utf8)) ?? ""
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), mailText)
    }

    @Test("a tree to clean: the lines are printed and mailed, the monitor goes on")
    func cleans() throws {
        let run = try runMonitor(layout: "subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-7-1\n")
        #expect(run.status == 0, "\(run.output)")
        #expect(
            run.output == """
                cleaned up entries in /build/machines/
                  /build/machines/v/m/m-default-7-1: info: deleted subvolume
                monitoring

                """)
        #expect(
            run.mail == """
                subject: cleaned up entries in /build/machines/
                  /build/machines/v/m/m-default-7-1: info: deleted subvolume

                """)
    }

    @Test("a tree the cleanup does not recognise: mailed as halting, the monitor exits 1")
    func halts() throws {
        let run = try runMonitor(layout: "subvol v/m/m-2 ro\nlink v/m/m-latest -> m-2\n")
        #expect(run.status == 1, "\(run.output)")
        #expect(run.output.hasPrefix("invalid entries in /build/machines/, halting\n"))
        #expect(run.output.hasSuffix("correct and restart the monitor (systemctl restart buildos)\n"))
        #expect(!run.output.contains("monitoring"))
        #expect(run.mail.hasPrefix("subject: invalid entries in /build/machines/, halting\n  /build/machines/v/m: error:"))
    }
}
