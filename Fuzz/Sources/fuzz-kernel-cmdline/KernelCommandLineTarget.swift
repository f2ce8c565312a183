import MachineLayout
import FuzzSupport

/// The kernel command line, as `cleanup --kernel-cmdline FILE` reads it:
/// `KernelCommandLine.parse` for the line of a problem, then
/// `ToolchainSet.resolve`.
///
/// Properties: both accept or refuse the same text; what `parse` finds is
/// what `resolve` configures, and every name is a valid toolchain.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKernelCommandLine(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = FuzzInput.text(data, size) else { return 0 }
    let parsed = try? KernelCommandLine.parse(text)
    let resolved: ToolchainSet?
    do {
        resolved = try ToolchainSet.resolve(names: [], kernelCommandLine: text, explicitlyNone: false)
    } catch {
        // Refused: by the parser, or because it configures no toolchain.
        if let parsed, !parsed.isEmpty {
            FuzzInput.violated("parse finds \(parsed) but resolve refuses: \(error)", input: text)
        }
        return 0
    }
    guard let parsed, let resolved else {
        FuzzInput.violated("resolve accepts what parse refuses", input: text)
    }
    if resolved != ToolchainSet(parsed) {
        FuzzInput.violated("parse finds \(parsed), resolve configures \(resolved.toolchains)", input: text)
    }
    if parsed.count != Set(parsed).count { FuzzInput.violated("parse lists a toolchain twice: \(parsed)", input: text) }
    for toolchain in parsed where Toolchain(rawValue: toolchain.rawValue) == nil {
        FuzzInput.violated("parse returns the invalid toolchain '\(toolchain.rawValue)'", input: text)
    }
    return 0
}
