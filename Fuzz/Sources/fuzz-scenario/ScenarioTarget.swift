import FuzzSupport
import Simulation

/// The scenario file, as `scenario run FILE` reads it: the strict YAML
/// reader, then the checks and the initial host (`CompiledScenario.load`).
/// Nothing is run; any error is an answer, a trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenario(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = FuzzInput.text(data, size) else { return 0 }
    _ = try? CompiledScenario.load(yaml: text)
    return 0
}
