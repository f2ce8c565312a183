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
}
