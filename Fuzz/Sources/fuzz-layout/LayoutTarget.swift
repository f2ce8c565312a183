import FuzzSupport
import MachineLayout
import SimFS

/// The layout format, as `cleanup --layout FILE` reads it: the text is
/// parsed (`Layout.parse`), then loaded into a simulated host.
///
/// Properties: a layout that parses prints (`Layout.text`) and parses back
/// equal; a layout that loads is captured (`SimulatedHost.layout(root:)`)
/// as a layout that prints, parses back equal and loads into the same tree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLayout(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = FuzzInput.text(data, size) else { return 0 }
    guard let layout = try? Layout.parse(text) else { return 0 }
    let printed = layout.text
    do {
        let reparsed = try Layout.parse(printed)
        if reparsed != layout { FuzzInput.violated("a printed layout parses back to another layout:\n\(printed)", input: text) }
    } catch {
        FuzzInput.violated("a printed layout does not parse (\(error)):\n\(printed)", input: text)
    }
    guard let host = try? SimulatedHost(layout: layout) else { return 0 }
    let captured = host.layout(root: layout.root)
    let capturedText = captured.text
    do {
        let reparsed = try Layout.parse(capturedText)
        if reparsed != captured {
            FuzzInput.violated("a captured layout parses back to another layout:\n\(capturedText)", input: text)
        }
        let again = try SimulatedHost(layout: reparsed).layout(root: layout.root)
        if again != captured {
            FuzzInput.violated(
                "a captured layout loads into another tree:\n\(capturedText)\n--- captured again ---\n\(again.text)",
                input: text)
        }
    } catch {
        FuzzInput.violated("a captured layout does not load (\(error)):\n\(capturedText)", input: text)
    }
    return 0
}
