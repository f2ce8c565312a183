/// An invariant a run broke, where, and how.
public struct Violation: Hashable, Sendable, CustomStringConvertible {
    /// SPEC §6's number (1-8); 0 for the simulation itself (a livelock, a
    /// schedule that no longer fits, leftovers at the end).
    public var invariant: Int
    public var message: String
    /// The step at which it showed.
    public var step: Int

    public init(invariant: Int, message: String, step: Int) {
        self.invariant = invariant
        self.message = message
        self.step = step
    }

    public var description: String { "invariant \(invariant) (\(Violation.title(invariant))): \(message)" }

    /// The invariants of SPEC §6.
    public static func title(_ invariant: Int) -> String {
        switch invariant {
        case 1: "the target of a valid current link is never deleted"
        case 2: "no subvolume a live agent or VM uses is deleted by anyone else"
        case 3: "no destructive operation follows a symlink"
        case 4: "a published bootstrapped machine is complete: it only appears by rename"
        case 5: "nothing the cleanup keeps has its read-only property changed"
        case 6: "after a boot cleanup without agents only expected entries remain"
        case 7: "a deleted machine's directory is gone once its builds end"
        case 8: "a run with a crash converges to the end state of the run without"
        default: "the simulation itself"
        }
    }
}
