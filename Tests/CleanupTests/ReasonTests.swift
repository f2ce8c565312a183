import Cleanup
import FSProtocol
import MachineLayout
import Testing

/// The code lists the fuzzer counts branches by: every reason and outcome
/// there is, each once.
@Suite("reason and outcome codes")
struct ReasonTests {
    static let toolchain = Toolchain.default
    static let error = FSError(.ioError, .list)

    /// One reason of each case (a new case must be added here, to
    /// `Reason.code` and to `Reason.allCodes`).
    static let reasons: [Reason] = [
        .volume, .machine, .currentLink(target: "m-1"), .currentTarget, .revision, .configuredToolchain(toolchain),
        .keptForLinkError(toolchain), .inUnrecognisedLayout, .receivedImage, .unconfiguredToolchain(toolchain),
        .staleWorkingSnapshot(toolchain), .machineWithoutLink, .staleLockFile(toolchain), .emptiedMachineDirectory,
        .staleTemporaryLink, .invalidVolume(.file), .invalidMachine(.symlink), .unreadableVolume(error),
        .unreadableMachine(error), .unknownEntry(.file), .notSubvolume(.directory), .otherSymlink, .undecodableName,
        .danglingLink(target: "m-9"), .linkOutsideMachine(target: "/x"),
        .linkTargetNotSubvolume(target: "m-d", kind: .directory), .linkNotSymlink(.directory),
        .unreadableLink(error), .machineKeepsEntries, .incompleteRevision, .receivedImageWithoutRevision,
        .layoutNotRecognised(link: "m-2", target: "m-2.1", subvolume: "m-2.1"),
    ]

    static let outcomes: [Outcome] = [
        .planned, .kept, .reported, .deleted(nested: []), .removed, .vanished, .changed, .failed(error),
        .refused(mountPoints: ["mnt"]), .locked(nil),
    ]

    @Test("every reason's code is listed once, and every listed code is some reason's")
    func reasonCodes() {
        #expect(Set(Self.reasons.map(\.code)) == Set(Reason.allCodes))
        #expect(Self.reasons.count == Reason.allCodes.count)
        #expect(Set(Reason.allCodes).count == Reason.allCodes.count)
    }

    @Test("every outcome's code is listed once, and every listed code is some outcome's")
    func outcomeCodes() {
        #expect(Set(Self.outcomes.map(\.code)) == Set(Outcome.allCodes))
        #expect(Self.outcomes.count == Outcome.allCodes.count)
        #expect(Set(Outcome.allCodes).count == Outcome.allCodes.count)
    }

    /// Each code by hand, so that two codes swapped between their cases
    /// (a set of codes that stays the same) show: scripts key on them.
    @Test("each reason and each outcome has its own documented code")
    func codesByCase() {
        #expect(
            Self.reasons.map(\.code) == [
                "volume", "machine", "current-link", "current-target", "revision", "configured-toolchain",
                "kept-for-link-error", "in-unrecognised-layout", "received-image", "unconfigured-toolchain",
                "stale-working-snapshot", "machine-without-link", "stale-lock-file", "emptied-machine-directory",
                "stale-temporary-link", "invalid-volume", "invalid-machine", "unreadable-volume", "unreadable-machine",
                "unknown-entry", "not-subvolume", "other-symlink", "undecodable-name", "dangling-link",
                "link-outside-machine", "link-target-not-subvolume", "link-not-symlink", "unreadable-link",
                "machine-keeps-entries", "incomplete-revision", "received-image-without-revision",
                "layout-not-recognised",
            ])
        #expect(
            Self.outcomes.map(\.code) == [
                "planned", "kept", "reported", "deleted", "removed", "vanished", "changed", "failed", "refused", "locked",
            ])
    }

    @Test("a reason's text carries its cause, and a kept reason says why it is kept")
    func reasonTexts() {
        #expect(
            Reason.linkOutsideMachine(target: "../m/m-1").text
                == "invalid current machine link to ../m/m-1: not the name of an entry of the machine directory")
        #expect(
            Reason.keptForLinkError(Toolchain(rawValue: "gcc")!).text
                == "bootstrapped for toolchain gcc, kept while the current machine link is in error")
        #expect(Reason.receivedImage.text == "received image of a revision, kept for incremental upgrades")
        #expect(Reason.inUnrecognisedLayout.text == "kept: the layout of the machine directory is not recognised")
    }
}
