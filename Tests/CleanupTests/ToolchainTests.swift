import MachineLayout
import Cleanup
import Testing

@Suite("Toolchain configuration")
struct ToolchainTests {
    @Test(
        "invalid toolchain names are refused with the reason",
        arguments: [
            ("", "empty toolchain name"),
            ("gcc-13", "toolchain name 'gcc-13' contains '-'"),
            ("a/b", "toolchain name 'a/b' contains '/'"),
            (".hidden", "toolchain name '.hidden' does not start with an ASCII letter"),
            ("2024", "toolchain name '2024' does not start with an ASCII letter"),
            ("1.3", "toolchain name '1.3' does not start with an ASCII letter"),
            ("12abc", "toolchain name '12abc' does not start with an ASCII letter"),
            ("_gcc", "toolchain name '_gcc' does not start with an ASCII letter"),
            ("\u{e9}t\u{e9}", "toolchain name '\u{e9}t\u{e9}' does not start with an ASCII letter"),
            ("x.lock", "toolchain name 'x.lock' ends in '.lock'"),
            ("a b", "toolchain name 'a b' contains a blank or control character"),
            ("a\u{7F}b", "toolchain name 'a\u{7F}b' contains a blank or control character"),
            ("a\tb", "toolchain name 'a\tb' contains a blank or control character"),
        ])
    func invalidNames(name: String, problem: String) {
        #expect(Toolchain(rawValue: name) == nil)
        #expect(Toolchain.problem(with: name) == problem)
    }

    @Test("valid names", arguments: ["default", "gcc_13.1", "clang17", "Z9", "a.lock.b", "x", "clock", "unlock", "block", "alock"])
    func validNames(name: String) {
        #expect(Toolchain(rawValue: name)?.rawValue == name)
    }

    @Test("an empty set is refused unless stated explicitly")
    func emptySet() throws {
        #expect(throws: ConfigurationError.self) {
            try ToolchainSet.resolve(names: [], kernelCommandLine: nil, explicitlyNone: false)
        }
        #expect(throws: ConfigurationError.self) {
            try ToolchainSet.resolve(names: [], kernelCommandLine: "quiet root=/dev/sda", explicitlyNone: false)
        }
        #expect(try ToolchainSet.resolve(names: [], kernelCommandLine: nil, explicitlyNone: true) == .none)
        #expect(throws: ConfigurationError.self) {
            try ToolchainSet.resolve(names: ["default"], kernelCommandLine: nil, explicitlyNone: true)
        }
        // Explicitly none combines with nothing, a kernel command line
        // included (it would configure toolchains the flag denies).
        #expect(throws: ConfigurationError.self) {
            try ToolchainSet.resolve(names: [], kernelCommandLine: "buildos.toolchain_url=x", explicitlyNone: true)
        }
    }

    @Test("only buildos.toolchain_url and buildos.toolchain_url.<name> configure: not a longer parameter name")
    func parameterNames() throws {
        let line = "quiet buildos.toolchain_url_backup=tftp://x buildos.toolchain_urlx=y buildos.toolchain_url=tftp://y"
        #expect(try KernelCommandLine.toolchains(in: line).map(\.rawValue) == ["default"])
    }

    @Test("every kernel blank separates parameters: space, tab, LF, VT, FF, CR", arguments: [" ", "\t", "\n", "\u{0B}", "\u{0C}", "\r"])
    func kernelBlanks(blank: String) throws {
        let line = "buildos.toolchain_url.a=x" + blank + "buildos.toolchain_url.b=y"
        #expect(try KernelCommandLine.toolchains(in: line).map(\.rawValue) == ["a", "b"])
    }

    @Test("names and the kernel command line combine, sorted and unique")
    func combine() throws {
        let set = try ToolchainSet.resolve(
            names: ["gcc", "default"], kernelCommandLine: "buildos.toolchain_url=tftp://x buildos.toolchain_url.clang=y",
            explicitlyNone: false)
        #expect(set.toolchains.map(\.rawValue) == ["clang", "default", "gcc"])
    }

    @Test("an invalid name fails the whole configuration")
    func invalidInConfiguration() {
        #expect(throws: ConfigurationError("invalid toolchain: toolchain name 'gcc-13' contains '-'")) {
            try ToolchainSet.resolve(names: ["gcc-13"], kernelCommandLine: nil, explicitlyNone: false)
        }
    }

    @Test("the kernel command line configures default and named toolchains")
    func kernelCommandLine() throws {
        let line = """
            BOOT_IMAGE=/vmlinuz quiet buildos.toolchain_url=tftp://h/default.bootstrap \
            buildos.toolchain_url.stage="tftp://h/stage path" buildos.toolchain_trust.stage=x \
            buildos.toolchain_url=again buildos.toolchain_url.gcc13=tftp://h/g
            """
        #expect(try KernelCommandLine.toolchains(in: line).map(\.rawValue) == ["default", "stage", "gcc13"])
        #expect(try KernelCommandLine.toolchains(in: "root=/dev/vda ro").isEmpty)
        #expect(throws: ConfigurationError.self) {
            try KernelCommandLine.toolchains(in: "buildos.toolchain_url.bad-name=x")
        }
    }

    @Test(
        "quotes go as the kernel's next_arg drops them: opening the parameter or its value, and then closing it",
        arguments: [
            ("buildos.toolchain_url.g\"c\"c=x", ["g\"c\"c"]),
            ("\"buildos.toolchain_url.gcc=x y\"", ["gcc"]),
            ("buildos.toolchain_url.gcc=\"x y\"", ["gcc"]),
            ("\"buildos.toolchain_url.gcc\"=x", ["gcc\""]),
        ])
    func kernelQuotes(line: String, toolchains: [String]) throws {
        #expect(try KernelCommandLine.toolchains(in: line).map(\.rawValue) == toolchains)
    }

    @Test(
        "a value that is only quotes is no value; a quote that starts a toolchain's name is kept, and refused",
        arguments: ["buildos.toolchain_url=\"\"", "\"buildos.toolchain_url=\"", "buildos.toolchain_url.\"gcc\"=x"])
    func quotesRefused(line: String) {
        #expect(throws: ConfigurationError.self) { try KernelCommandLine.toolchains(in: line) }
    }

    @Test("the kernel splits at byte 0xA0 (a blank to its isspace), inside a UTF-8 character too; a toolchain it cuts is refused")
    func byteA0() throws {
        func toolchains(_ bytes: [UInt8]) throws -> [String] {
            try KernelCommandLine.toolchains(in: String(decoding: bytes, as: UTF8.self)).map(\.rawValue)
        }
        let agrave: [UInt8] = [0xC3, 0xA0]
        // A parameter after the cut is one of its own.
        #expect(try toolchains(Array("foo".utf8) + agrave + Array("buildos.toolchain_url.y=z".utf8)) == ["y"])
        // A cut in a value leaves the toolchain as it is.
        #expect(try toolchains(Array("buildos.toolchain_url.gcc=tftp://h".utf8) + agrave + Array("/x".utf8)) == ["gcc"])
        // A cut before the parameter's name is complete: no toolchain.
        #expect(
            try toolchains(Array("buildos.toolch".utf8) + agrave + Array("in_url.gcc=x buildos.toolchain_url=t".utf8))
                == ["default"])
        // Inside quotes, no cut.
        #expect(try toolchains(Array("a=\"".utf8) + agrave + Array(" x\" buildos.toolchain_url=t".utf8)) == ["default"])
        // A toolchain's name cut: Build OS would see another name. (Its
        // piece has no value either; the cut is what the message names.)
        for prefix in ["buildos.toolchain_url.gcc", "\"buildos.toolchain_url.\"gcc"] {
            do {
                _ = try toolchains(Array(prefix.utf8) + agrave + Array("x=t".utf8))
                Issue.record("\(prefix): a cut toolchain name is taken")
            } catch let error as ConfigurationError {
                #expect(error.message.contains("is cut by the kernel at U+00E0 (bytes \\xc3\\xa0)"), "\(error.message)")
                #expect(error.message.contains("gcc...' is cut"), "\(error.message)")
                #expect(!error.message.contains("\u{FFFD}"), "\(error.message)")
            } catch {
                Issue.record("\(error)")
            }
        }
        // A character with 0xA0 elsewhere in its bytes (U+0800: E0 A0 80).
        #expect(try toolchains(Array("buildos.toolchain_url.a=x\u{800}y buildos.toolchain_url.b=z".utf8)) == ["a", "b"])
    }

    @Test("a configured name holds no C1 control, line separator or Unicode blank; entry names keep the byte grammar")
    func configurable() throws {
        for name in ["a\u{85}b", "a\u{2028}b", "a\u{A0}b", "a\u{3000}b"] {
            #expect(Toolchain(rawValue: name) != nil, "\(name): the grammar takes it")
            #expect(Toolchain.configurationProblem(with: name)?.contains("blank or control character") == true)
            #expect(throws: ConfigurationError.self) {
                try ToolchainSet.resolve(names: [name], kernelCommandLine: nil, explicitlyNone: false)
            }
            #expect(throws: ConfigurationError.self) {
                try ToolchainSet.resolve(names: [], kernelCommandLine: "buildos.toolchain_url.\(name)=x", explicitlyNone: false)
            }
        }
        #expect(Toolchain.configurationProblem(with: "gcc\u{E9}") == nil)
        #expect(Toolchain.configurationProblem(with: "gcc") == nil)
    }

}
