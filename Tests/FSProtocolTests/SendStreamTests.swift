import FSProtocol
import Testing

/// The header of a btrfs send stream, read before anything is received.
@Suite("btrfs send stream headers")
struct SendStreamTests {
    /// The first bytes of `btrfs send s1` (btrfs-progs 6.2, kernel 6.x).
    static let full: [UInt8] = [
        0x62, 0x74, 0x72, 0x66, 0x73, 0x2d, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x26, 0x00,
        0x00, 0x00, 0x01, 0x00, 0xd3, 0x29, 0x48, 0x97, 0x0f, 0x00, 0x02, 0x00, 0x73, 0x31, 0x01, 0x00, 0x10, 0x00, 0xc3,
        0x67, 0xc8, 0x12, 0x35, 0x2f, 0x5a, 0x4b, 0x9f, 0xc4, 0x68, 0xf8, 0xe7, 0xe3, 0x55, 0x82, 0x02, 0x00, 0x08, 0x00,
        0x2b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]
    /// The first bytes of `btrfs send -p s1 s2`.
    static let incremental: [UInt8] = [
        0x62, 0x74, 0x72, 0x66, 0x73, 0x2d, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x46, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x35, 0x60, 0xf8, 0x5d, 0x0f, 0x00, 0x02, 0x00, 0x73, 0x32, 0x01, 0x00, 0x10, 0x00, 0x72,
        0xe4, 0x6a, 0xce, 0x08, 0x12, 0x60, 0x40, 0xaa, 0x38, 0x17, 0x3a, 0x05, 0xa1, 0x9f, 0x4e, 0x02, 0x00, 0x08, 0x00,
        0x2e, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x10, 0x00, 0xc3, 0x67, 0xc8, 0x12, 0x35, 0x2f, 0x5a,
        0x4b, 0x9f, 0xc4, 0x68, 0xf8, 0xe7, 0xe3, 0x55, 0x82, 0x15, 0x00, 0x08, 0x00, 0x2b, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ]

    @Test("a full stream names its subvolume and UUID, and no parent")
    func fullStream() throws {
        let header = try SendStreamHeader.parse(Self.full + [0x1c, 0x00, 0x00])
        #expect(header.version == 1)
        #expect(header.name == "s1")
        #expect(header.uuid.description == "c367c812-352f-5a4b-9fc4-68f8e7e35582")
        #expect(header.transactionID == 299)
        #expect(header.parent == nil)
        #expect(!header.isIncremental)
    }

    @Test("an incremental stream names its parent")
    func incrementalStream() throws {
        let header = try SendStreamHeader.parse(Self.incremental)
        #expect(header.name == "s2")
        #expect(header.uuid.description == "72e46ace-0812-6040-aa38-173a05a19f4e")
        #expect(header.parent?.uuid.description == "c367c812-352f-5a4b-9fc4-68f8e7e35582")
        #expect(header.parent?.transactionID == 299)
        #expect(header.transactionID == 302)
    }

    @Test("a header written is what btrfs send writes, and reads back", arguments: [full, incremental])
    func roundTrip(bytes: [UInt8]) throws {
        let header = try SendStreamHeader.parse(bytes)
        #expect(header.bytes == bytes)
        #expect(try SendStreamHeader.parse(header.bytes) == header)
    }

    @Test("every prefix shorter than the first command is refused, never read past", arguments: 0..<full.count)
    func truncated(length: Int) {
        #expect(throws: SendStreamError.self) { try SendStreamHeader.parse(Array(Self.full.prefix(length))) }
    }

    /// A header with changed fields, its checksum made right again.
    static func written(_ change: (inout SendStreamHeader) -> Void) -> [UInt8] {
        guard var header = try? SendStreamHeader.parse(full) else { return [] }
        change(&header)
        return header.bytes
    }

    /// `full` with its first command's payload replaced, checksum fixed.
    static func withPayload(_ payload: [UInt8], command: UInt8 = 1) -> [UInt8] {
        var header: [UInt8] = [UInt8(payload.count & 0xff), UInt8(payload.count >> 8), 0, 0, command, 0]
        let crc = crc32c(header + [0, 0, 0, 0] + payload)
        header += (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }
        return Array(full.prefix(17)) + header + payload
    }

    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc
    }

    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        [UInt8(type & 0xff), UInt8(type >> 8), UInt8(value.count & 0xff), UInt8(value.count >> 8)] + value
    }

    static let uuid = attribute(1, Array(repeating: 7, count: 16))
    static let transaction = attribute(2, Array(repeating: 0, count: 8))

    static let malformed: [(String, [UInt8], String)] = [
        ("empty", [], "too short for its magic"),
        ("a tar file", Array("ustar\0\0\0\0\0\0\0\0\0\0\0\0\0\0".utf8), "no 'btrfs-stream' magic"),
        ("version 0", Array(full.prefix(13)) + [0, 0, 0, 0] + Array(full.dropFirst(17)), "unsupported send stream version 0"),
        ("version 4", Array(full.prefix(13)) + [4, 0, 0, 0] + Array(full.dropFirst(17)), "unsupported send stream version 4"),
        ("a flipped bit", Array(full.prefix(40)) + [full[40] ^ 1] + Array(full.dropFirst(41)), "checksum mismatch"),
        ("another first command", withPayload(attribute(15, Array("m-1".utf8)) + uuid + transaction, command: 3),
         "does not start with a subvolume"),
        ("no name", withPayload(uuid + transaction), "no subvolume name"),
        ("an empty name", withPayload(attribute(15, []) + uuid + transaction), "is not a single name"),
        ("a path", withPayload(attribute(15, Array("a/m-1".utf8)) + uuid + transaction), "is not a single name"),
        ("dot-dot", withPayload(attribute(15, Array("..".utf8)) + uuid + transaction), "is not a single name"),
        ("a 256-byte name", withPayload(attribute(15, Array(repeating: 0x61, count: 256)) + uuid + transaction),
         "is not a single name"),
        ("not UTF-8", withPayload(attribute(15, [0x6d, 0xff]) + uuid + transaction), "not valid UTF-8"),
        ("no UUID", withPayload(attribute(15, Array("m-1".utf8)) + transaction), "no subvolume UUID"),
        ("a short UUID", withPayload(attribute(15, Array("m-1".utf8)) + attribute(1, [1, 2]) + transaction),
         "subvolume UUID has 2 bytes, not 16"),
        ("no transaction", withPayload(attribute(15, Array("m-1".utf8)) + uuid), "no transaction id"),
        ("a name twice", withPayload(attribute(15, Array("m-1".utf8)) + attribute(15, Array("m-2".utf8)) + uuid + transaction),
         "given twice"),
        ("an unknown attribute", withPayload(attribute(15, Array("m-1".utf8)) + uuid + transaction + attribute(99, [])),
         "unexpected attribute 99"),
        ("an attribute past the command", withPayload(attribute(15, Array("m-1".utf8)) + uuid + [2, 0, 9, 0, 0]),
         "ends inside an attribute value"),
        ("a full stream with a parent",
         withPayload(attribute(15, Array("m-1".utf8)) + uuid + transaction + attribute(20, Array(repeating: 1, count: 16))),
         "names a parent"),
        ("a snapshot without parent", withPayload(attribute(15, Array("m-1".utf8)) + uuid + transaction, command: 2),
         "no parent UUID"),
        ("a short transaction id", withPayload(attribute(15, Array("m-1".utf8)) + uuid + attribute(2, [0, 0, 0, 0])),
         "the transaction id has 4 bytes, not 8"),
        ("a short parent UUID",
         withPayload(
            attribute(15, Array("m-1".utf8)) + uuid + transaction + attribute(20, Array(repeating: 1, count: 15))
                + attribute(21, Array(repeating: 0, count: 8)), command: 2),
         "the parent UUID has 15 bytes, not 16"),
        ("a short parent transaction id",
         withPayload(
            attribute(15, Array("m-1".utf8)) + uuid + transaction + attribute(20, Array(repeating: 1, count: 16))
                + attribute(21, Array(repeating: 0, count: 4)), command: 2),
         "has 4 bytes, not 8"),
        ("a full stream with a parent's transaction",
         withPayload(attribute(15, Array("m-1".utf8)) + uuid + transaction + attribute(21, Array(repeating: 0, count: 8))),
         "names a parent"),
        ("a huge first command", Array(full.prefix(17)) + [0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0, 0, 0], "too long for a header"),
        ("a first command one byte past 64 KiB", Array(full.prefix(17)) + [0x01, 0, 0x01, 0, 1, 0, 0, 0, 0, 0],
         "first command of 65537 bytes is too long"),
        // 64 KiB itself is a command btrfs send may write: read, and here cut.
        ("a first command of 64 KiB, cut", Array(full.prefix(17)) + [0, 0, 0x01, 0, 1, 0, 0, 0, 0, 0], "cut short"),
        ("a cut first command", Array(full.prefix(17)) + [0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2], "cut short"),
    ]

    @Test("malformed headers are refused with the place and the reason", arguments: malformed)
    func malformedHeaders(name: String, bytes: [UInt8], message: String) {
        do {
            _ = try SendStreamHeader.parse(bytes)
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.message.contains(message), "\(name): \(error)")
            #expect(error.offset >= 0 && error.offset <= bytes.count)
        }
    }

    /// A command as btrfs send writes it: length, type, checksum, payload.
    static func command(_ type: UInt16, _ payload: [UInt8] = []) -> [UInt8] {
        var header: [UInt8] = [UInt8(payload.count & 0xff), UInt8(payload.count >> 8), 0, 0, UInt8(type & 0xff), UInt8(type >> 8)]
        let crc = crc32c(header + [0, 0, 0, 0] + payload)
        header += (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }
        return header + payload
    }

    @Test("a stream is whole from its first command to its end command (21), every checksum right")
    func completeStreams() throws {
        let header = try SendStreamHeader.parse(Self.full)
        let end = Self.command(21)
        #expect(SendStream.empty(header) == Self.full + end)
        #expect(SendStream.isComplete(Self.full + end))
        #expect(SendStream.isComplete(Self.full + Self.command(3, Array("m-1/f".utf8)) + end))
        // Cut before the end, or ended by another command.
        #expect(!SendStream.isComplete(Self.full))
        #expect(!SendStream.isComplete(Self.full + Self.command(3, Array("m-1/f".utf8))))
        #expect(!SendStream.isComplete(Self.full + Self.command(20)))
        #expect(!SendStream.isComplete(Self.full + end.dropLast()))
        // A damaged command, or a damaged end.
        var damaged = Self.command(3, Array("m-1/f".utf8))
        damaged[damaged.count - 1] ^= 1
        #expect(!SendStream.isComplete(Self.full + damaged + end))
        var badEnd = end
        badEnd[6] ^= 1
        #expect(!SendStream.isComplete(Self.full + badEnd))
        #expect(!SendStream.isComplete(Array(Self.full.dropLast()) + end))
    }

    @Test("the parser's own written headers of every shape read back")
    func writtenShapes() throws {
        let incrementalLong = Self.written {
            $0.name = EntryName(String(repeating: "x", count: 255))!
            $0.parent = .init(uuid: .init(high: 1, low: 2), transactionID: .max)
        }
        let parsed = try SendStreamHeader.parse(incrementalLong)
        #expect(parsed.name.rawValue.utf8.count == 255)
        #expect(parsed.parent?.transactionID == .max)
    }
}
