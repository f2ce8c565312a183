import FSProtocol
@testable import Fuzzing
import MachineLayout
import Testing

/// The second statement of the keep rules, on trees whose verdict SPEC
/// §1–§3 gives by hand.
@Suite("the rules model")
struct RulesModelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var layout: String
        var toolchains = ["default"]
        var removed: Set<ExactText>
        var lines: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "a machine: revisions and configured bootstraps stay, strays go",
            layout: """
                dir    default/m
                subvol default/m/m-1 ro
                subvol default/m/m-2 ro
                link   default/m/m -> m-2
                subvol default/m/m-default
                subvol default/m/m-gcc
                subvol default/m/m-default-12-1
                file   default/m/m-default.lock
                """,
            removed: ["default/m/m-gcc", "default/m/m-default-12-1", "default/m/m-default.lock"],
            lines: ["default/m/m-default-12-1 info", "default/m/m-default.lock info", "default/m/m-gcc info"]),
        Case(
            name: "a machine without its link goes whole",
            layout: """
                dir    default/m
                subvol default/m/m-1 ro
                subvol default/m/m-default
                """,
            removed: ["default/m/m-1", "default/m/m-default", "default/m"],
            lines: ["default/m info", "default/m/m-1 info", "default/m/m-default info"]),
        Case(
            name: "a link-less machine with a link to its own subvolume is not recognised: all kept",
            layout: """
                dir    default/m
                subvol default/m/m-2.1 ro
                link   default/m/m-2 -> m-2.1
                """,
            removed: [], lines: ["default/m error"]),
        Case(
            name: "a dangling link keeps revisions and every bootstrap",
            layout: """
                dir    default/m
                subvol default/m/m-1 ro
                link   default/m/m -> m-9
                subvol default/m/m-gcc
                subvol default/m/m-gcc-1-1
                """,
            removed: ["default/m/m-gcc-1-1"], lines: ["default/m/m error", "default/m/m-gcc-1-1 info"]),
        Case(
            name: "names are bytes: a link to the other spelling dangles, the other spelling's machine is its own",
            layout: """
                dir    "default/d\u{e9}bian"
                subvol "default/d\u{e9}bian/d\u{e9}bian-1" ro
                subvol "default/d\u{e9}bian/de\u{301}bian-2" ro
                link   "default/d\u{e9}bian/d\u{e9}bian" -> "de\u{301}bian-1"
                subvol "default/d\u{e9}bian/d\u{e9}bian-gcc-1-1"
                dir    "default/de\u{301}bian"
                """,
            removed: ["default/d\u{e9}bian/d\u{e9}bian-gcc-1-1", "default/de\u{301}bian"],
            lines: [
                "default/d\u{e9}bian/d\u{e9}bian error", "default/d\u{e9}bian/d\u{e9}bian-gcc-1-1 info",
                "default/d\u{e9}bian/de\u{301}bian-2 warning", "default/de\u{301}bian info",
            ]),
        Case(
            name: "a target named outside the grammar is kept; a stray link is reported, its target kept",
            layout: """
                dir    default/m
                subvol default/m/image ro
                link   default/m/m -> image
                subvol default/m/m-gcc
                link   default/m/m-latest -> m-gcc
                """,
            removed: ["default/m/m-gcc"], lines: ["default/m/m-gcc info", "default/m/m-latest warning"]),
        Case(
            name: "names: long revisions, received images, temporary links, odd rests",
            layout: """
                dir    default/m
                subvol default/m/m-18446744073709551616 ro
                subvol default/m/m-18446744073709551616.received ro received
                subvol default/m/m-7.received ro received
                link   default/m/m -> m-18446744073709551616
                link   default/m/m.link-x -> m-1
                subvol default/m/m-A-
                subvol default/m/m-1.3
                dir    default/m/m-gcc-1-1
                """,
            removed: ["default/m/m.link-x"],
            lines: [
                "default/m/m-1.3 warning", "default/m/m-7.received warning", "default/m/m-A- warning",
                "default/m/m-gcc-1-1 warning", "default/m/m.link-x info",
            ]),
        Case(
            name: "volumes and machines that are none",
            layout: """
                volume .snapshots
                dir    .snapshots/m
                file   README
                file   default/m
                dir    default/-m
                """,
            removed: [], lines: [".snapshots warning", "README error", "default/-m warning", "default/m error"]),
        Case(
            name: "a stray with a mount inside stays, and so does its machine directory",
            layout: """
                dir    default/m
                subvol default/m/m-default-1-1
                dir    default/m/m-default-1-1/d
                subvol default/m/m-default-1-1/d/inner
                subvol default/m/m-default-2-2
                mount  default/m/m-default-2-2/mnt
                """,
            removed: ["default/m/m-default-1-1"],
            lines: [
                "default/m error", "default/m/m-default-1-1 info", "default/m/m-default-1-1/d/inner info",
                "default/m/m-default-2-2 error",
            ]),
    ]

    @Test("the verdict", arguments: cases)
    func verdict(_ example: Case) throws {
        let layout = try Layout.parse(example.layout)
        let verdict = RulesModel(root: layout.root, toolchains: example.toolchains).verdict(layout)
        #expect(!verdict.refused)
        #expect(verdict.removed == example.removed)
        #expect(verdict.lines.map { ExactText($0) } == example.lines.map { ExactText($0) }.sorted())
    }

    @Test("the model's spelling is one scalar per byte, and back")
    func byteSpelling() {
        let texts = ["default/m", "caf\u{e9}", "cafe\u{301}", "/\u{301}m", "機械-1", "a\u{600}-1", "\r\n", "🖥"]
        for text in texts {
            let spelt = ByteSpelling.spell(text)
            #expect(spelt.unicodeScalars.map(\.value) == text.utf8.map(UInt32.init))
            #expect(Array(ByteSpelling.unspell(spelt).utf8) == Array(text.utf8))
        }
        #expect(ByteSpelling.spell("caf\u{e9}") != ByteSpelling.spell("cafe\u{301}"))
        #expect(ByteSpelling.spell("/\u{301}m").split(separator: "/").count == 1)
        #expect(ByteSpelling.spell("x/\u{301}m").split(separator: "/").count == 2)
    }

    @Test("configurations: an empty list only when stated, every name valid")
    func configurations() {
        #expect(!RulesModel.configurationRefused(["default", "x.y", "Gcc_9"], explicitlyNone: false))
        #expect(!RulesModel.configurationRefused([], explicitlyNone: true))
        for refused in [[], ["1abc"], ["a-b"], ["x.lock"], ["a b"], ["a/b"], [""], ["é"], ["a\u{85}b"], ["a\u{A0}b"]] {
            #expect(RulesModel.configurationRefused(refused, explicitlyNone: false), "\(refused)")
        }
        #expect(RulesModel.configurationRefused(["default"], explicitlyNone: true))
        // A verdict judges the names as configured, not as the model spells
        // their bytes ("機" is E6 A9 9F: spelled, its last byte is U+009F).
        let configured = RulesModel(root: "/build/machines", toolchains: ["gcc\u{6A5F}", "gcc\u{E9}"])
        #expect(!configured.verdict(Layout()).refused)
        #expect(!RulesModel.configurationRefused(["gcc\u{6A5F}", "gcc\u{E9}"], explicitlyNone: false))
    }

    @Test("live mode: a held lock keeps what it guards, and a machine that goes")
    func live() throws {
        let layout = try Layout.parse(
            """
            dir    default/m
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-gcc-1-1
            subvol default/m/m-old-1-1
            file   default/m/m-gcc.lock
            dir    default/n
            subvol default/n/n-1 ro
            file   default/n/n-default.lock
            """)
        let model = RulesModel(
            root: layout.root, toolchains: ["default"], live: true,
            heldLocks: ["default/m/m-gcc.lock", "default/n/n-default.lock"])
        #expect(model.verdict(layout).removed == ["default/m/m-old-1-1"])
    }
}
