import MachineLayout
import Cleanup
import Testing

@Suite("The toolchain set")
struct ToolchainSetTests {
    @Test("holds exactly its members, for every size", arguments: [0, 1, 2, 3, 8, 33])
    func membership(size: Int) throws {
        let names = (0..<size).map { "tc\($0 * 2)" }
        let set = ToolchainSet(try names.map { name in try #require(Toolchain(rawValue: name)) })
        for index in 0..<(size * 2 + 2) {
            let toolchain = try #require(Toolchain(rawValue: "tc\(index)"))
            #expect(set.contains(toolchain) == (index % 2 == 0 && index < size * 2), "tc\(index)")
        }
        #expect(!set.contains(try #require(Toolchain(rawValue: "a"))))
        #expect(!set.contains(try #require(Toolchain(rawValue: "zz"))))
    }
}
