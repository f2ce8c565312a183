import FSProtocol
import MachineLayout

/// Why the plan decided what it did about an entry.
public enum Reason: Hashable, Sendable {
    // Kept.
    case volume
    case machine
    case currentLink(target: String)
    case currentTarget
    case revision
    case configuredToolchain(Toolchain)
    /// A bootstrapped machine of an unconfigured toolchain, kept because
    /// the machine's current link is in error.
    case keptForLinkError(Toolchain)
    /// An entry of a machine directory whose layout is not recognised.
    case inUnrecognisedLayout
    /// The pristine received image a revision was made from.
    case receivedImage

    // Deleted or removed.
    case unconfiguredToolchain(Toolchain)
    case staleWorkingSnapshot(Toolchain)
    case machineWithoutLink
    case staleLockFile(Toolchain)
    case emptiedMachineDirectory
    /// A temporary link of a link switch that did not finish.
    case staleTemporaryLink

    // Reported.
    case invalidVolume(EntryKind)
    case invalidMachine(EntryKind)
    indirect case unreadableVolume(FSError)
    indirect case unreadableMachine(FSError)
    case unknownEntry(EntryKind)
    case notSubvolume(EntryKind)
    case otherSymlink
    case undecodableName
    case danglingLink(target: String)
    case linkOutsideMachine(target: String)
    case linkTargetNotSubvolume(target: String, kind: EntryKind)
    case linkNotSymlink(EntryKind)
    indirect case unreadableLink(FSError)
    case machineKeepsEntries
    /// A revision that is not read-only: an interrupted receive or
    /// ownership change.
    case incompleteRevision
    /// A received image whose revision is missing: an upgrade interrupted
    /// before it made the revision.
    case receivedImageWithoutRevision
    /// A machine without its current link that still holds another
    /// symbolic link naming one of its subvolumes (a stray `m-latest`, a
    /// link renamed by hand, a later Build OS layout): not a machine being
    /// deleted, so nothing of it is touched. `target` is nil when the link
    /// could not be read.
    case layoutNotRecognised(link: String, target: String?, subvolume: String?)

    /// A stable code for scripts.
    public var code: String {
        switch self {
        case .volume: "volume"
        case .machine: "machine"
        case .currentLink: "current-link"
        case .currentTarget: "current-target"
        case .revision: "revision"
        case .configuredToolchain: "configured-toolchain"
        case .keptForLinkError: "kept-for-link-error"
        case .inUnrecognisedLayout: "in-unrecognised-layout"
        case .receivedImage: "received-image"
        case .staleTemporaryLink: "stale-temporary-link"
        case .incompleteRevision: "incomplete-revision"
        case .receivedImageWithoutRevision: "received-image-without-revision"
        case .unconfiguredToolchain: "unconfigured-toolchain"
        case .staleWorkingSnapshot: "stale-working-snapshot"
        case .machineWithoutLink: "machine-without-link"
        case .staleLockFile: "stale-lock-file"
        case .emptiedMachineDirectory: "emptied-machine-directory"
        case .invalidVolume: "invalid-volume"
        case .invalidMachine: "invalid-machine"
        case .unreadableVolume: "unreadable-volume"
        case .unreadableMachine: "unreadable-machine"
        case .unknownEntry: "unknown-entry"
        case .notSubvolume: "not-subvolume"
        case .otherSymlink: "other-symlink"
        case .undecodableName: "undecodable-name"
        case .danglingLink: "dangling-link"
        case .linkOutsideMachine: "link-outside-machine"
        case .linkTargetNotSubvolume: "link-target-not-subvolume"
        case .linkNotSymlink: "link-not-symlink"
        case .unreadableLink: "unreadable-link"
        case .machineKeepsEntries: "machine-keeps-entries"
        case .layoutNotRecognised: "layout-not-recognised"
        }
    }

    /// Every code a reason can have, in the order of `code`, for coverage
    /// counts (`ReasonTests` checks that each is some reason's code).
    public static let allCodes = [
        "volume", "machine", "current-link", "current-target", "revision", "configured-toolchain",
        "kept-for-link-error", "in-unrecognised-layout", "received-image", "stale-temporary-link",
        "incomplete-revision", "received-image-without-revision", "unconfigured-toolchain", "stale-working-snapshot",
        "machine-without-link", "stale-lock-file", "emptied-machine-directory", "invalid-volume", "invalid-machine",
        "unreadable-volume", "unreadable-machine", "unknown-entry", "not-subvolume", "other-symlink",
        "undecodable-name", "dangling-link", "link-outside-machine", "link-target-not-subvolume", "link-not-symlink",
        "unreadable-link", "machine-keeps-entries", "layout-not-recognised",
    ]

    /// The reason in words, for the plan listing.
    public var text: String {
        switch self {
        case .volume: "volume"
        case .machine: "machine"
        case .currentLink(let target): "current machine link -> \(target)"
        case .currentTarget: "target of the current machine link"
        case .revision: "machine revision"
        case .configuredToolchain(let toolchain): "bootstrapped for configured toolchain \(toolchain)"
        case .keptForLinkError(let toolchain):
            "bootstrapped for toolchain \(toolchain), kept while the current machine link is in error"
        case .inUnrecognisedLayout: "kept: the layout of the machine directory is not recognised"
        case .receivedImage: "received image of a revision, kept for incremental upgrades"
        case .staleTemporaryLink: "temporary link of an interrupted link switch"
        case .unconfiguredToolchain(let toolchain): "bootstrapped for toolchain \(toolchain), which is not configured"
        case .staleWorkingSnapshot(let toolchain): "stale working snapshot of toolchain \(toolchain)"
        case .machineWithoutLink: "machine has no current link: being deleted"
        case .staleLockFile(let toolchain): "stale lock file of toolchain \(toolchain)"
        case .emptiedMachineDirectory: "directory of a deleted machine"
        default:
            if let (_, message, cause) = diagnostic { cause.map { "\(message): \($0)" } ?? message } else { code }
        }
    }

    /// The diagnostic a reported entry gets: level, message and cause.
    public var diagnostic: (level: Diagnostic.Level, message: String, cause: String?)? {
        switch self {
        case .invalidVolume(let kind): (.error, "invalid volume", Reason.describe(kind))
        case .invalidMachine(let kind): (.error, "invalid machine", Reason.describe(kind))
        case .unreadableVolume(let error): (.error, "unable to read volume", error.cause)
        case .unreadableMachine(let error): (.error, "unable to read machine directory", error.cause)
        case .unknownEntry(let kind): (.warning, "unknown entry (\(kind.phrase)), kept", nil)
        case .notSubvolume(let kind): (.warning, "not a subvolume (\(kind.phrase)), kept", nil)
        case .otherSymlink: (.warning, "symbolic link, kept, not followed", nil)
        case .undecodableName: (.warning, "name is not valid UTF-8, kept", nil)
        case .danglingLink(let target): (.error, "dangling current machine link to \(target)", nil)
        case .linkOutsideMachine(let target):
            (.error, "invalid current machine link to \(target)", "not the name of an entry of the machine directory")
        case .linkTargetNotSubvolume(let target, let kind):
            (.error, "current machine link target \(target) is not a subvolume (\(kind.phrase))", nil)
        case .linkNotSymlink(let kind): (.error, "current machine link is not a symbolic link (\(kind.phrase))", nil)
        case .unreadableLink(let error): (.error, "unable to read current machine link", error.cause)
        case .machineKeepsEntries: (.warning, "machine directory kept: it holds entries that are not removed", nil)
        case .incompleteRevision:
            (.warning, "revision is not read-only (an interrupted receive or ownership change), kept", nil)
        case .receivedImageWithoutRevision:
            (.warning, "received image without its revision (an interrupted upgrade), kept", nil)
        case .layoutNotRecognised(let link, let target, let subvolume):
            (
                .error, "layout not recognised, everything kept",
                target.map { "no current machine link, but the symbolic link \(link) -> \($0) names its subvolume \(subvolume ?? $0)" }
                    ?? "no current machine link, and the symbolic link \(link) cannot be read"
            )
        default: nil
        }
    }

    static func describe(_ kind: EntryKind) -> String {
        kind == .symlink ? "symbolic link, not followed" : "not a directory (\(kind.phrase))"
    }
}

extension EntryKind {
    /// The kind in words, as diagnostics name it.
    public var phrase: String {
        switch self {
        case .symlink: "symbolic link"
        case .subvolume: "subvolume"
        case .directory: "plain directory"
        case .file: "regular file"
        case .other: "special file"
        }
    }
}
