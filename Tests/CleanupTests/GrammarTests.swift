import Cleanup
import FSProtocol
import MachineLayout
import Testing

@Suite("The machine directory grammar")
struct GrammarTests {
    static let cases: [(String, MachineEntryName)] = [
        ("m", .currentLink),
        ("m-1", .revision("1")),
        ("m-042", .revision("042")),
        ("m-default", .bootstrapped(.default)),
        ("m-gcc_13.1", .bootstrapped(Toolchain(rawValue: "gcc_13.1")!)),
        ("m-gcc13", .bootstrapped(Toolchain(rawValue: "gcc13")!)),
        // A later Build OS revision <m>-<P>.<R> and anything led by a digit
        // or a non-letter is no toolchain: unknown, so kept.
        ("m-12abc", .unknown),
        ("m-1.3", .unknown),
        ("m-1.3-4242-1", .unknown),
        ("m-1.3.lock", .unknown),
        ("m-_x", .unknown),
        ("m-default-4242-1", .workingSnapshot(.default, suffix: "4242-1")),
        ("m-default-x", .workingSnapshot(.default, suffix: "x")),
        ("m-default--rf", .workingSnapshot(.default, suffix: "-rf")),
        ("m-default.lock", .lockFile(.default)),
        // The shortest toolchain's lock: one letter.
        ("m-a.lock", .lockFile(Toolchain(rawValue: "a")!)),
        ("m-a", .bootstrapped(Toolchain(rawValue: "a")!)),
        ("m-a-1-1", .workingSnapshot(Toolchain(rawValue: "a")!, suffix: "1-1")),
        ("m-default-1.lock", .workingSnapshot(.default, suffix: "1.lock")),
        ("m-", .unknown),
        ("m--force", .unknown),
        ("m-.hidden", .unknown),
        ("m-1-2", .unknown),
        ("m-default-", .unknown),
        ("m-.lock", .unknown),
        ("mm-1", .unknown),
        ("n-1", .unknown),
        (".m-1", .unknown),
        ("latest", .unknown),
        ("m-2.received", .receivedImage("2")),
        ("m-02.received", .receivedImage("02")),
        ("m-.received", .unknown),
        ("m-x.received", .bootstrapped(Toolchain(rawValue: "x.received")!)),
        ("m-2.received.old", .unknown),
        // The suffix is checked byte for byte, not only its length.
        ("m-2.receivex", .unknown),
        ("m-2Xreceived", .unknown),
        ("m-12.recEived", .unknown),
        ("m.link-4242-1", .temporaryLink),
        ("m.link-", .unknown),
        ("m.link", .unknown),
        ("mm.link-1", .unknown),
    ]

    @Test("entries of machine 'm' classify by name", arguments: cases)
    func classify(name: String, expected: MachineEntryName) throws {
        let entry = try #require(EntryName(name))
        #expect(MachineEntryName(classifying: entry, machine: "m") == expected)
    }

    @Test("a machine name with dashes and dots is a plain prefix")
    func dashedMachine() {
        let machine: EntryName = "linux_debian_12-gcc_13.1"
        #expect(MachineEntryName(classifying: "linux_debian_12-gcc_13.1-2", machine: machine) == .revision("2"))
        #expect(
            MachineEntryName(classifying: "linux_debian_12-gcc_13.1-default-7-1", machine: machine)
                == .workingSnapshot(.default, suffix: "7-1"))
        #expect(MachineEntryName(classifying: "linux_debian_12-gcc_13.1", machine: machine) == .currentLink)
        #expect(MachineEntryName(classifying: "linux_debian_12", machine: machine) == .unknown)
    }

    @Test("a name that is not valid UTF-8 is unknown")
    func undecodable() {
        #expect(MachineEntryName(classifying: EntryName(undecodable: "m-\\xff"), machine: "m") == .unknown)
    }

    @Test("names built for entries parse back")
    func roundTrip() {
        let toolchain = Toolchain(rawValue: "clang")!
        #expect(MachineEntryName(classifying: MachineNaming.revision("m", 3), machine: "m") == .revision("3"))
        #expect(MachineEntryName(classifying: MachineNaming.bootstrapped("m", toolchain), machine: "m") == .bootstrapped(toolchain))
        #expect(
            MachineEntryName(classifying: MachineNaming.workingSnapshot("m", toolchain, pid: 12, counter: 3), machine: "m")
                == .workingSnapshot(toolchain, suffix: "12-3"))
        #expect(MachineEntryName(classifying: MachineNaming.lockFile("m", toolchain), machine: "m") == .lockFile(toolchain))
    }

    @Test("machine names never start with a dot or a dash")
    func machineNames() {
        #expect(MachineNaming.isMachineName("linux-gcc_6"))
        #expect(!MachineNaming.isMachineName(".snapshots"))
        #expect(!MachineNaming.isMachineName("-rf"))
    }
}
