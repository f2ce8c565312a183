/// What every fuzz target does with libFuzzer's bytes.
///
/// A target returns normally for any input the parser accepts or refuses
/// with an error; a trap is a finding. `violated` traps on purpose, when a
/// property that must hold for every accepted input does not.
public enum FuzzInput {
    /// The bytes libFuzzer passes, as an array.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// The bytes as text, or nil where the tool refuses the file before any
    /// parser sees it: `buildos-clean` reads every input file as UTF-8 and
    /// refuses one that is not (`InputFile.text`).
    public static func text(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String? {
        String(validating: bytes(data, size), as: UTF8.self)
    }

    /// Stops the run with a message: libFuzzer records the input as a
    /// crash.
    public static func violated(_ property: String, input: String) -> Never {
        fatalError("fuzz property violated: \(property)\n--- input ---\n\(input)\n--- end ---")
    }
}
