import FSProtocol

/// What an entry of a machine directory `<m>/` is, by its name alone.
///
/// With toolchain names free of `-` (see `Toolchain`), every name parses
/// without the host's configuration:
///
/// | name                   | meaning                                      |
/// |------------------------|----------------------------------------------|
/// | `<m>`                  | the current-machine link                     |
/// | `<m>-<digits>`         | a revision                                   |
/// | `<m>-<tc>`             | the machine bootstrapped for toolchain `<tc>`|
/// | `<m>-<tc>-<rest>`      | a working snapshot of `<m>-<tc>`             |
/// | `<m>-<tc>.lock`        | the build agent's lock file                  |
/// | anything else          | unknown                                      |
public enum MachineEntryName: Hashable, Sendable {
    case currentLink
    case revision(String)
    case bootstrapped(Toolchain)
    case workingSnapshot(Toolchain, suffix: String)
    case lockFile(Toolchain)
    case unknown

    /// Classifies `name` found in the directory of machine `machine`.
    public init(classifying name: EntryName, machine: EntryName) {
        guard name.isExact else {
            self = .unknown
            return
        }
        let text = name.rawValue
        let machineText = machine.rawValue
        if text == machineText {
            self = .currentLink
            return
        }
        guard text.utf8.count > machineText.utf8.count + 1, text.hasPrefix(machineText + "-") else {
            self = .unknown
            return
        }
        let rest = String(decoding: text.utf8.dropFirst(machineText.utf8.count + 1), as: UTF8.self)
        if rest.allSatisfy(\.isASCIIDigit) {
            self = .revision(rest)
        } else if let dash = rest.firstIndex(of: "-") {
            let word = String(rest[..<dash])
            let suffix = String(rest[rest.index(after: dash)...])
            if let toolchain = Toolchain(rawValue: word), !suffix.isEmpty {
                self = .workingSnapshot(toolchain, suffix: suffix)
            } else {
                self = .unknown
            }
        } else if rest.hasSuffix(".lock"), let toolchain = Toolchain(rawValue: String(rest.dropLast(5))) {
            self = .lockFile(toolchain)
        } else if let toolchain = Toolchain(rawValue: rest) {
            self = .bootstrapped(toolchain)
        } else {
            self = .unknown
        }
    }
}

/// The names of a machine's entries, for the code that creates them.
public enum MachineNaming {
    /// Whether `name` can name a machine: not starting with `.` or `-`.
    public static func isMachineName(_ name: EntryName) -> Bool {
        name.isExact && !name.rawValue.hasPrefix(".") && !name.rawValue.hasPrefix("-")
    }

    public static func revision(_ machine: EntryName, _ number: Int) -> EntryName {
        entry(machine, String(number))
    }

    public static func bootstrapped(_ machine: EntryName, _ toolchain: Toolchain) -> EntryName {
        entry(machine, toolchain.rawValue)
    }

    /// `<m>-<tc>-<pid>-<counter>`, as the build agent names a working
    /// snapshot.
    public static func workingSnapshot(_ machine: EntryName, _ toolchain: Toolchain, pid: Int32, counter: Int)
        -> EntryName
    {
        entry(machine, "\(toolchain.rawValue)-\(pid)-\(counter)")
    }

    public static func lockFile(_ machine: EntryName, _ toolchain: Toolchain) -> EntryName {
        entry(machine, toolchain.rawValue + ".lock")
    }

    private static func entry(_ machine: EntryName, _ suffix: String) -> EntryName {
        guard let name = EntryName(machine.rawValue + "-" + suffix) else {
            preconditionFailure("a machine name and a suffix make one name")
        }
        return name
    }
}
