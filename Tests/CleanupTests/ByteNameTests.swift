import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing

/// Names are bytes to the kernel and to the original shell in the C locale;
/// Swift's `String` compares them by canonical equivalence and by
/// `Character`. The cleanup must see what the kernel sees.
@Suite("Names compared as bytes")
struct ByteNameTests {
    @Test("a current link to \"caf\\u{e9}\" dangles beside a subvolume \"cafe\\u{301}\": nothing of the machine goes")
    func linkTargetIsBytes() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol "default/m/cafe\u{301}" ro
            subvol default/m/m-default
            link   default/m/m -> "caf\u{e9}"
            """)
        let before = host.layout()
        let report = await cleanup(host)
        #expect(lines(report).contains("\(machine)/m: error: dangling current machine link to caf\u{e9}"))
        #expect(report.exitStatus == 1)
        #expect(host.layout() == before)
        let decoy: EntryName = "cafe\u{301}"
        let decision = try #require(report.decisions.first { $0.item.path.entry == decoy })
        #expect(decision.item.reason != .currentTarget)
    }

    /// A volume whose name starts with a dot byte, and a machine whose
    /// name starts with a dash byte, each followed by a combining mark (one
    /// `Character` with it): the original skips both, and so must this.
    @Test(
        "a dot volume and a dash machine that a combining mark follows are skipped, never cleaned",
        arguments: [".\u{301}v/m", "default/-\u{301}m"])
    func markedDotOrDashIsBytes(directory: String) async throws {
        let machine = String(EntryName.components(of: directory).last!)
        let host = try makeHost(
            """
            subvol "\(directory)/\(machine)-1" ro
            subvol "\(directory)/\(machine)-default-4-1"
            """)
        let before = host.layout()
        let report = await cleanup(host)
        #expect(host.layout() == before)
        #expect(!report.decisions.contains { $0.item.action == .deleteSubvolume })
    }

    @Test("the layout format keeps the two spellings apart")
    func layoutKeepsSpellings() throws {
        let layout = try Layout.parse(
            """
            dir "default/caf\u{e9}"
            dir "default/cafe\u{301}"
            """)
        #expect(layout.entries.count == 2)
        #expect(layout.entries[0] != layout.entries[1])
        let host = try SimulatedHost(layout: layout)
        #expect(host.names(at: Layout.defaultRoot + "/default")?.count == 2)
    }

    @Test("the kernel command line's toolchain names are bytes: a combining mark after the dot is the name's, and refused")
    func kernelCommandLineIsBytes() {
        #expect(throws: ConfigurationError.self) {
            try KernelCommandLine.toolchains(in: "buildos.toolchain_url.\u{301}x=tftp://h/x")
        }
        #expect(throws: ConfigurationError.self) {
            try KernelCommandLine.toolchains(in: "buildos.toolchain_url.a-\u{301}b=tftp://h/x")
        }
    }

    @Test("a path splits at its / bytes: a '.' component is seen, long names are measured one by one")
    func layoutPathsAreBytes() throws {
        #expect(Layout.pathProblem("v/./\u{301}m") == "it holds '.'")
        let long = String(repeating: "a", count: 200) + "/\u{301}" + String(repeating: "b", count: 200)
        #expect(Layout.pathProblem(long) == nil)
    }

    @Test("a layout flag's value is cut after the = byte: a combining mark after it is the value's, and refused")
    func layoutFlagIsBytes() {
        #expect(throws: LayoutError.self) { try Layout.parse("subvol default/m/m-1 owner=\u{301}1000:1000") }
    }

    @Test("a name with a line break stays on one line of the text report, escaped; the JSON keeps it exact")
    func controlCharactersEscaped() async throws {
        let host = try makeHost(
            """
            subvol "default/m\\nx/m\\nx-1" ro
            subvol "default/m\\tx/m\\tx-1" ro
            link   "default/m\\tx/m\\tx" -> "m\\tx-9\\r"
            """)
        let report = await cleanup(host)
        #expect(
            report.textLines == [
                "invalid entries in /build/machines/, halting",
                "  /build/machines/default/m\\tx/m\\tx: error: dangling current machine link to m\\tx-9\\r",
                "  /build/machines/default/m\\nx/m\\nx-1: info: deleted subvolume",
                "  /build/machines/default/m\\nx: info: deleted machine directory",
                Report.haltAdvice,
            ])
        #expect(report.diagnostics.map(\.path).contains("/build/machines/default/m\nx/m\nx-1"))
        #expect(Diagnostic.escapingControlCharacters("a\u{1}b\u{7f}") == "a\\x01b\\x7f")
        #expect(Diagnostic.escapingControlCharacters("a\u{85}b\u{2028}c\u{2029}") == "a\\u{85}b\\u{2028}c\\u{2029}")
        #expect(Diagnostic.escapingControlCharacters("caf\u{e9} \\xff") == "caf\u{e9} \\xff")
        // The edges of printable ASCII, which is passed on as it is.
        #expect(Diagnostic.escapingControlCharacters(" ~a/b: c") == " ~a/b: c")
        #expect(Diagnostic.escapingControlCharacters("a\u{1f}") == "a\\x1f")
        #expect(Diagnostic.escapingControlCharacters("\u{7f}") == "\\x7f")
    }

    @Test("machine list: a name with a line break stays on its line; twin spellings are two machines with their own problems")
    func listingIsBytes() async throws {
        let host = try makeHost(
            """
            subvol "default/m\\nx/m\\nx-1" ro
            link   "default/m\\nx/m\\nx" -> "m\\nx-1"
            subvol "default/caf\u{e9}/caf\u{e9}-1" ro
            link   "default/caf\u{e9}/caf\u{e9}" -> "cafe\u{301}-1"
            subvol "default/cafe\u{301}/cafe\u{301}-1" ro
            link   "default/cafe\u{301}/cafe\u{301}" -> "cafe\u{301}-1"
            """)
        let listing = try await MachineListing.list(
            fileSystem: host.spawn(), root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
        #expect(listing.textLines.allSatisfy { !$0.utf8.contains(0x0A) && !$0.utf8.contains(0x0D) })
        #expect(listing.textLines.contains("default/m\\nx: current m\\nx-1"))
        let problems = listing.machines.map { (Array($0.name.utf8), $0.problems.count) }
        #expect(problems.count == 3)
        #expect(problems.contains { $0.0 == Array("caf\u{e9}".utf8) && $0.1 == 1 })
        #expect(problems.contains { $0.0 == Array("cafe\u{301}".utf8) && $0.1 == 0 })
    }

    @Test("toolchain names are bytes: twin spellings are two toolchains, each keeping its own bootstrapped machine")
    func toolchainsAreBytes() async throws {
        let composed = try #require(Toolchain(rawValue: "gcc\u{e9}"))
        let decomposed = try #require(Toolchain(rawValue: "gcce\u{301}"))
        #expect(composed != decomposed)
        let line = "buildos.toolchain_url.gcce\u{301}=x buildos.toolchain_url.gcc\u{e9}=y"
        #expect(try KernelCommandLine.toolchains(in: line).count == 2)
        let both = ToolchainSet([decomposed, composed])
        #expect(both.contains(composed) && both.contains(decomposed))
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-gcc\u{e9}
            subvol default/m/m-gcce\u{301}
            """)
        _ = await cleanup(host, toolchains: ["gcce\u{301}", "gcc\u{e9}"])
        #expect(names(host, machine)?.count == 4)
        // Only the composed one configured: the decomposed one goes.
        _ = await cleanup(host, toolchains: ["gcc\u{e9}"])
        let left = names(host, machine)?.map { Array($0.utf8) }
        #expect(left == [Array("m".utf8), Array("m-1".utf8), Array("m-gcc\u{e9}".utf8)])
    }

    @Test("a root's trailing slashes are trimmed by bytes, whatever the name before them joins to its slash")
    func trailingSlashesAreBytes() {
        #expect(Array(EntryPath.trimmingTrailingSlashes("/srv/x\u{600}//").utf8) == Array("/srv/x\u{600}".utf8))
        #expect(EntryPath.trimmingTrailingSlashes("/") == "")
        #expect(EntryPath.trimmingTrailingSlashes("/build/machines") == "/build/machines")
    }

    @Test("the plan's header names a root of slashes only as /", arguments: ["/", "///"])
    func rootOfSlashes(root: String) {
        #expect(Plan(root: root, toolchains: .none, items: []).textLines == ["plan for / (toolchains: none)"])
    }

    @Test("an exact name and the rendering of an undecodable one with the same text are ordered, exact first")
    func orderAgreesWithEquality() throws {
        let exact: EntryName = "a\\xff"
        let rendered = EntryName(undecodable: "a\\xff")
        #expect(exact != rendered)
        #expect(exact < rendered && !(rendered < exact))
        #expect([rendered, exact].sorted() == [exact, rendered])
    }

    @Test("a run of bytes is found by bytes, as the simulation's fault and script paths match")
    func containsBytes() {
        #expect("/a/caf\u{e9}/x".containsBytes("caf\u{e9}"))
        #expect(!"/a/cafe\u{301}/x".containsBytes("caf\u{e9}"))
        #expect("/a/\u{301}m".containsBytes("/"))
        #expect("x".containsBytes(""))
    }

    @Test("prefixes, suffixes and single bytes of a String are tested on its bytes, as of any other text")
    func stringByteTests() {
        // The `String` overloads work on contiguous bytes; the generic
        // ones (a `Substring` takes them) must give the same answers.
        let cases: [(String, String)] = [
            ("/\u{301}x", "/"), ("caf\u{e9}", "caf"), ("cafe\u{301}", "caf\u{e9}"), ("", ""), ("a", ""), ("", "a"),
            ("m-1.lock", ".lock"), ("a\u{600}-", "-"), ("ab", "abc"), ("x\u{301}", "\u{301}"),
        ]
        for (text, part) in cases {
            #expect(text.startsWithBytes(part) == Substring(text).startsWithBytes(part), "\(text) starts with \(part)")
            #expect(text.endsWithBytes(part) == Substring(text).endsWithBytes(part), "\(text) ends with \(part)")
            #expect(text.startsWithBytes(part) == Array(text.utf8).starts(with: Array(part.utf8)))
            #expect(text.endsWithBytes(part) == Array(text.utf8).reversed().starts(with: Array(part.utf8).reversed()))
        }
        #expect("/\u{301}x".startsWithBytes("/"))
        #expect(!"cafe\u{301}".endsWithBytes("\u{e9}"))
        #expect("a\u{600}-".endsWithBytes("-"))
        #expect("a/\u{301}".containsByte("/"))
        #expect(!"caf\u{e9}".containsByte("e"))
    }

    @Test("an entry name is not empty, not . or .., and holds no / or NUL byte")
    func entryNameValidity() {
        for text in ["", ".", "..", "a/b", "/", "a\0b", "\0", "/\u{301}", "x/"] {
            #expect(EntryName(text) == nil, "\(text.debugDescription)")
        }
        for text in ["a", "...", ".a", "..a", "a.", ".\u{301}", "-", "m-1.lock", String(repeating: "x", count: 255)] {
            #expect(EntryName(text)?.rawValue == text, "\(text.debugDescription)")
        }
    }

    @Test("a path's components are the runs between its / bytes, empty ones left out")
    func components() {
        #expect(EntryName.components(of: "//a/\u{301}b//c/") == ["a", "\u{301}b", "c"])
        #expect(EntryName.components(of: "").isEmpty)
        #expect(EntryName.components(of: "///").isEmpty)
        #expect(EntryName.components(of: "x\u{600}/y") == ["x\u{600}", "y"])
        // Each part is its bytes, not a canonical equivalent.
        #expect(EntryName.components(of: "cafe\u{301}/m").first.map { Array($0.utf8) } == Array("cafe\u{301}".utf8))
    }

    @Test("VOLUME/NAME splits at the / byte")
    func machineAddressIsBytes() throws {
        let parsed = try MachineAddress(parsing: "default/\u{301}m")
        #expect(parsed.volume == "default")
        #expect(parsed.machine == EntryName("\u{301}m"))
    }

    @Test("add names a revision's image by bytes, whatever the machine's name joins to its dash")
    func revisionImageIsBytes() async throws {
        // U+0600 is a prepended mark: it and the '-' after it are one
        // Character, so a cut by Characters took the digit too.
        let machine = try MachineAddress(parsing: "default/a\u{600}")
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let name: EntryName = "a\u{600}-1"
        let header = SendStreamHeader(version: 1, name: name, uuid: BtrfsUUID(high: 1, low: 1), transactionID: 7)
        let report = await Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: HostClock())
            .add(machine, stream: try SendStream(prefix: SendStream.empty(header)), owner: Ownership(user: 1000, group: 1000))
        #expect(report.error == nil)
        #expect(names(host, "/build/machines/default/a\u{600}") == ["a\u{600}", "a\u{600}-1", "a\u{600}-1.received"])
    }
}
