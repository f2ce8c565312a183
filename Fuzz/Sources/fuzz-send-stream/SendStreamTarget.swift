import FSProtocol
import FuzzSupport

/// The btrfs send stream, as `receive` reads it: the header before
/// anything is received (`SendStreamHeader.parse`, `SendStream(prefix:)`)
/// and the check that a whole stream is there (`SendStream.isComplete`).
///
/// Properties: a header that parses re-serialises (`header.bytes`) and
/// parses back equal; a complete stream has a header; the stream
/// `SendStream.empty` makes of a header is complete.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSendStream(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput.bytes(data, size)
    let complete = SendStream.isComplete(bytes)
    guard let header = try? SendStreamHeader.parse(bytes) else {
        if complete { FuzzInput.violated("a stream without a header is complete", input: "\(bytes)") }
        return 0
    }
    _ = try? SendStream(prefix: bytes)
    do {
        let again = try SendStreamHeader.parse(header.bytes)
        if again != header {
            FuzzInput.violated("a re-serialised header parses back as \(again), not \(header)", input: "\(bytes)")
        }
    } catch {
        FuzzInput.violated("a re-serialised header does not parse: \(error)", input: "\(bytes)")
    }
    if SendStream.isComplete(header.bytes) {
        FuzzInput.violated("a header alone is a complete stream", input: "\(bytes)")
    }
    if !SendStream.isComplete(SendStream.empty(header)) {
        FuzzInput.violated("the empty stream of a header is not complete", input: "\(bytes)")
    }
    return 0
}
