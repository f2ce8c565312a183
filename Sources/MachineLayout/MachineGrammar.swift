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
/// | `<m>-<digits>.received`| the received image a revision was made from  |
/// | `<m>.link-<rest>`      | a temporary link of a link switch            |
/// | anything else          | unknown                                      |
///
/// The last two are left by `buildos-clean machine add` and `upgrade`
/// (docs/administration.md).
public enum MachineEntryName: Hashable, Sendable {
    case currentLink
    case revision(String)
    case bootstrapped(Toolchain)
    case workingSnapshot(Toolchain, suffix: String)
    case lockFile(Toolchain)
    /// The pristine received image of revision `<N>` (it keeps its
    /// received UUID for incremental upgrades; the revision is a snapshot
    /// of it with the build user as owner).
    case receivedImage(String)
    /// A temporary link made to switch the current link atomically.
    case temporaryLink
    case unknown

    /// Classifies `name` found in the directory of machine `machine`.
    ///
    /// It works on the UTF-8 bytes and allocates only the strings it
    /// returns: it runs for every entry of every machine.
    public init(classifying name: EntryName, machine: EntryName) {
        guard name.isExact else {
            self = .unknown
            return
        }
        let classified = name.rawValue.utf8.withContiguousStorageIfAvailable { text in
            machine.rawValue.utf8.withContiguousStorageIfAvailable { prefix in
                MachineEntryName(bytes: text, machine: prefix)
            }
        }
        if let classified = classified ?? nil {
            self = classified
        } else {
            self = MachineEntryName(bytes: Array(name.rawValue.utf8), machine: Array(machine.rawValue.utf8))
        }
    }

    init(bytes text: UnsafeBufferPointer<UInt8>, machine prefix: UnsafeBufferPointer<UInt8>) {
        if EntryName.bytesEqual(text, prefix) {
            self = .currentLink
            return
        }
        let temporaryLink = MachineNaming.temporaryLinkInfix
        if text.count > prefix.count + temporaryLink.count,
            EntryName.bytesEqual(UnsafeBufferPointer(rebasing: text[..<prefix.count]), prefix),
            temporaryLink.withUnsafeBufferPointer({
                EntryName.bytesEqual(UnsafeBufferPointer(rebasing: text[prefix.count..<(prefix.count + $0.count)]), $0)
            })
        {
            self = .temporaryLink
            return
        }
        guard text.count > prefix.count + 1, text[prefix.count] == UInt8(ascii: "-"),
            EntryName.bytesEqual(UnsafeBufferPointer(rebasing: text[..<prefix.count]), prefix)
        else {
            self = .unknown
            return
        }
        let rest = UnsafeBufferPointer(rebasing: text[(prefix.count + 1)...])
        var dash: Int?
        var allDigits = true
        for (index, byte) in rest.enumerated() {
            if byte == UInt8(ascii: "-") {
                dash = index
                break
            }
            if !Toolchain.isDigit(byte) { allDigits = false }
        }
        if let dash {
            let word = UnsafeBufferPointer(rebasing: rest[..<dash])
            let suffix = UnsafeBufferPointer(rebasing: rest[(dash + 1)...])
            if !suffix.isEmpty, let toolchain = Toolchain(bytes: word) {
                self = .workingSnapshot(toolchain, suffix: String(decoding: suffix, as: UTF8.self))
            } else {
                self = .unknown
            }
        } else if allDigits {
            self = .revision(String(decoding: rest, as: UTF8.self))
        } else if let digits = MachineEntryName.receivedRevision(rest) {
            self = .receivedImage(digits)
        } else if rest.count > 5, Toolchain.endsInLock(rest) {
            let word = UnsafeBufferPointer(rebasing: rest[..<(rest.count - 5)])
            self = Toolchain(bytes: word).map { .lockFile($0) } ?? .unknown
        } else {
            self = Toolchain(bytes: rest).map { .bootstrapped($0) } ?? .unknown
        }
    }

    /// The revision number of `<digits>.received`, or nil.
    static func receivedRevision(_ rest: UnsafeBufferPointer<UInt8>) -> String? {
        let suffix = MachineNaming.receivedSuffix
        guard rest.count > suffix.count else { return nil }
        let digits = UnsafeBufferPointer(rebasing: rest[..<(rest.count - suffix.count)])
        guard suffix.withUnsafeBufferPointer({ EntryName.bytesEqual(UnsafeBufferPointer(rebasing: rest[(rest.count - $0.count)...]), $0) }),
            digits.allSatisfy(Toolchain.isDigit)
        else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }

    init(bytes text: [UInt8], machine prefix: [UInt8]) {
        self = text.withUnsafeBufferPointer { text in
            prefix.withUnsafeBufferPointer { prefix in MachineEntryName(bytes: text, machine: prefix) }
        }
    }
}

/// The names of a machine's entries, for the code that creates them.
public enum MachineNaming {
    /// Whether `name` can name a machine: not starting with `.` or `-`.
    public static func isMachineName(_ name: EntryName) -> Bool {
        name.isExact && !name.rawValue.startsWithBytes(".") && !name.rawValue.startsWithBytes("-")
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

    static let receivedSuffix = Array(".received".utf8)
    static let temporaryLinkInfix = Array(".link-".utf8)

    /// `<m>-<N>.received`, the received image of revision `<N>`.
    public static func receivedImage(_ machine: EntryName, revision: String) -> EntryName? {
        EntryName(machine.rawValue + "-" + revision + ".received")
    }

    /// `<m>.link-<unique>`, a temporary link for a link switch.
    public static func temporaryLink(_ machine: EntryName, unique: String) -> EntryName? {
        EntryName(machine.rawValue + ".link-" + unique)
    }

    /// `<m>-<N>` for a revision number given as digits.
    public static func revision(_ machine: EntryName, digits: String) -> EntryName? {
        guard !digits.isEmpty, digits.utf8.allSatisfy(Toolchain.isDigit) else { return nil }
        return EntryName(machine.rawValue + "-" + digits)
    }

    private static func entry(_ machine: EntryName, _ suffix: String) -> EntryName {
        guard let name = EntryName(machine.rawValue + "-" + suffix) else {
            preconditionFailure("a machine name and a suffix make one name")
        }
        return name
    }
}

extension MachineNaming {
    /// FNV-1a of a text's UTF-8 bytes: a hash that stays the same across
    /// runs, builds and hosts (Swift's `Hasher` is seeded per process),
    /// for names and identities derived from a path.
    public static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
