/// The start of a btrfs send stream: what `btrfs receive` will create, read
/// before anything is received.
///
/// A stream is the magic `btrfs-stream` with its NUL, a little-endian
/// 32-bit version, then commands. Each command is a 10-byte header
/// (payload length `UInt32`, command `UInt16`, CRC32C `UInt32` of the
/// header with the CRC zeroed and the payload, seed 0, no final
/// inversion) and a payload of attributes (type `UInt16`, length
/// `UInt16`, value). The first command names the subvolume: `SUBVOL`
/// (1) for a full stream, `SNAPSHOT` (2) for an incremental one, with
/// `PATH` (15), `UUID` (1) and `CTRANSID` (2), and for a snapshot the
/// parent's `CLONE_UUID` (20) and `CLONE_CTRANSID` (21). The UUID is the
/// sent subvolume's own, or its received UUID when it was itself
/// received; a receiver finds an incremental stream's parent by the
/// received UUID equal to `CLONE_UUID`.
public struct SendStreamHeader: Hashable, Sendable {
    /// The stream format version (1; 2 and 3 from newer kernels).
    public var version: UInt32
    /// The name `btrfs receive` gives the subvolume.
    public var name: EntryName
    /// The identity the received subvolume will carry as its received
    /// UUID.
    public var uuid: BtrfsUUID
    public var transactionID: UInt64
    /// For an incremental stream: the subvolume it applies to.
    public var parent: Parent?

    public struct Parent: Hashable, Sendable {
        public var uuid: BtrfsUUID
        public var transactionID: UInt64

        public init(uuid: BtrfsUUID, transactionID: UInt64) {
            self.uuid = uuid
            self.transactionID = transactionID
        }
    }

    public init(version: UInt32, name: EntryName, uuid: BtrfsUUID, transactionID: UInt64, parent: Parent? = nil) {
        self.version = version
        self.name = name
        self.uuid = uuid
        self.transactionID = transactionID
        self.parent = parent
    }

    public var isIncremental: Bool { parent != nil }

    static let magic: [UInt8] = Array("btrfs-stream".utf8) + [0]
    static let commandHeaderSize = 10
    /// The largest first command read: a v1 command is at most 64 KiB,
    /// and the header command needs a few dozen bytes.
    public static let maximumCommandSize = 65_536
    /// How many bytes of a stream `parse` may need.
    public static let maximumHeaderSize = 17 + 10 + maximumCommandSize

    /// `BTRFS_SEND_C_END`, the last command of a stream.
    static let endCommand: UInt16 = 21

    enum Command: UInt16 {
        case subvolume = 1
        case snapshot = 2
    }

    enum Attribute: UInt16 {
        case uuid = 1
        case transactionID = 2
        case path = 15
        case cloneUUID = 20
        case cloneTransactionID = 21
    }

    /// Reads the header from the first bytes of a stream (at least up to
    /// the end of its first command; more is ignored).
    public static func parse(_ bytes: [UInt8]) throws(SendStreamError) -> SendStreamHeader {
        var reader = ByteReader(bytes)
        guard bytes.count >= magic.count else {
            throw SendStreamError(offset: 0, "not a btrfs send stream: \(bytes.count) bytes, too short for its magic")
        }
        guard bytes.starts(with: magic) else {
            throw SendStreamError(offset: 0, "not a btrfs send stream: no 'btrfs-stream' magic")
        }
        reader.offset = magic.count
        let version = try reader.uint32("the stream version")
        guard (1...3).contains(version) else {
            throw SendStreamError(offset: magic.count, "unsupported send stream version \(version) (1 to 3 are known)")
        }
        let commandStart = reader.offset
        let length = try reader.uint32("the first command's length")
        let rawCommand = try reader.uint16("the first command")
        let crc = try reader.uint32("the first command's checksum")
        guard Int(length) <= maximumCommandSize else {
            throw SendStreamError(offset: commandStart, "first command of \(length) bytes is too long for a header")
        }
        guard let command = Command(rawValue: rawCommand) else {
            throw SendStreamError(
                offset: commandStart + 4,
                "the stream does not start with a subvolume: first command \(rawCommand), not SUBVOL (1) or SNAPSHOT (2)")
        }
        let payloadStart = reader.offset
        guard bytes.count - payloadStart >= Int(length) else {
            throw SendStreamError(
                offset: payloadStart, "the first command is cut short: \(length) bytes announced, \(bytes.count - payloadStart) there")
        }
        var checked = Array(bytes[commandStart..<(commandStart + commandHeaderSize)])
        checked.replaceSubrange(6..<10, with: [0, 0, 0, 0])
        let computed = CRC32C.update(CRC32C.update(0, checked), bytes[payloadStart..<(payloadStart + Int(length))])
        guard computed == crc else {
            throw SendStreamError(offset: commandStart + 6, "checksum mismatch in the first command: the stream is damaged")
        }
        var attributes: [Attribute: ArraySlice<UInt8>] = [:]
        let end = payloadStart + Int(length)
        while reader.offset < end {
            let at = reader.offset
            let rawType = try reader.uint16("an attribute type", limit: end)
            let size = Int(try reader.uint16("an attribute length", limit: end))
            let value = try reader.bytes(size, "an attribute value", limit: end)
            guard let type = Attribute(rawValue: rawType) else {
                throw SendStreamError(offset: at, "unexpected attribute \(rawType) in the first command")
            }
            guard attributes.updateValue(value, forKey: type) == nil else {
                throw SendStreamError(offset: at, "attribute \(rawType) given twice in the first command")
            }
        }
        func required(_ attribute: Attribute, _ what: String, size: Int? = nil) throws(SendStreamError) -> ArraySlice<UInt8> {
            guard let value = attributes[attribute] else {
                throw SendStreamError(offset: commandStart, "the first command has no \(what)")
            }
            if let size, value.count != size {
                throw SendStreamError(offset: commandStart, "the \(what) has \(value.count) bytes, not \(size)")
            }
            return value
        }
        let pathBytes = try required(.path, "subvolume name")
        guard let path = String(validating: pathBytes, as: UTF8.self) else {
            throw SendStreamError(offset: commandStart, "the subvolume name is not valid UTF-8")
        }
        guard pathBytes.count <= 255, let name = EntryName(path) else {
            throw SendStreamError(offset: commandStart, "the subvolume name '\(path)' is not a single name")
        }
        let uuid = BtrfsUUID(bytes: try required(.uuid, "subvolume UUID", size: 16))
        let transactionID = littleEndian(try required(.transactionID, "transaction id", size: 8))
        var parent: Parent?
        switch command {
        case .subvolume:
            if attributes[.cloneUUID] != nil || attributes[.cloneTransactionID] != nil {
                throw SendStreamError(offset: commandStart, "a full stream's first command names a parent")
            }
        case .snapshot:
            parent = Parent(
                uuid: BtrfsUUID(bytes: try required(.cloneUUID, "parent UUID", size: 16)),
                transactionID: littleEndian(try required(.cloneTransactionID, "parent transaction id", size: 8)))
        }
        return SendStreamHeader(version: version, name: name, uuid: uuid, transactionID: transactionID, parent: parent)
    }

    /// The header as a stream starts: magic, version and the first
    /// command, with its checksum (what `btrfs send` writes first).
    public var bytes: [UInt8] {
        var payload: [UInt8] = []
        func attribute(_ type: Attribute, _ value: [UInt8]) {
            payload += Self.littleEndianBytes(UInt64(type.rawValue), count: 2)
            payload += Self.littleEndianBytes(UInt64(value.count), count: 2)
            payload += value
        }
        attribute(.path, Array(name.rawValue.utf8))
        attribute(.uuid, uuid.bytes)
        attribute(.transactionID, Self.littleEndianBytes(transactionID, count: 8))
        if let parent {
            attribute(.cloneUUID, parent.uuid.bytes)
            attribute(.cloneTransactionID, Self.littleEndianBytes(parent.transactionID, count: 8))
        }
        let command = parent == nil ? Command.subvolume : Command.snapshot
        var header = Self.littleEndianBytes(UInt64(payload.count), count: 4)
        header += Self.littleEndianBytes(UInt64(command.rawValue), count: 2)
        let crc = CRC32C.update(CRC32C.update(0, header + [0, 0, 0, 0]), payload)
        header += Self.littleEndianBytes(UInt64(crc), count: 4)
        return Self.magic + Self.littleEndianBytes(UInt64(version), count: 4) + header + payload
    }

    static func littleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func littleEndianBytes(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// A send stream on its way to `FileSystem.receive`: its header, the bytes
/// read so far, and where the rest comes from.
public struct SendStream: Sendable {
    public let header: SendStreamHeader
    /// The stream's first bytes (at least its first command).
    public let prefix: [UInt8]
    /// A descriptor of this process to read the rest of the stream from (a
    /// file or standard input), or nil when `prefix` is the whole stream.
    public let remainder: Int32?
    /// Called while the stream is fed to `btrfs receive`, at most about
    /// once a second, with the bytes fed so far and the seconds since the
    /// receive began: a stream of a VM image takes minutes.
    public var progress: (@Sendable (_ bytes: UInt64, _ seconds: Double) -> Void)?

    /// A stream from its first bytes; throws when they do not start a send
    /// stream.
    public init(prefix: [UInt8], remainder: Int32? = nil) throws(SendStreamError) {
        header = try SendStreamHeader.parse(prefix)
        self.prefix = prefix
        self.remainder = remainder
    }

    /// Whether a whole stream, its first command to its end command, is in
    /// `bytes`: every command complete with a matching checksum. The
    /// content commands are checked, not interpreted.
    public static func isComplete(_ bytes: [UInt8]) -> Bool {
        guard (try? SendStreamHeader.parse(bytes)) != nil else { return false }
        var reader = ByteReader(bytes)
        reader.offset = SendStreamHeader.magic.count + 4
        while reader.offset < bytes.count {
            let start = reader.offset
            guard let length = try? reader.uint32("a command length"), let command = try? reader.uint16("a command"),
                let crc = try? reader.uint32("a checksum"), let payload = try? reader.bytes(Int(length), "a command")
            else { return false }
            var header = Array(bytes[start..<(start + SendStreamHeader.commandHeaderSize)])
            header.replaceSubrange(6..<10, with: [0, 0, 0, 0])
            guard CRC32C.update(CRC32C.update(0, header), payload) == crc else { return false }
            if command == SendStreamHeader.endCommand { return true }
        }
        return false
    }

    /// The stream a header and an end command make: a subvolume with
    /// nothing in it (what the tests and the simulation receive).
    public static func empty(_ header: SendStreamHeader) -> [UInt8] {
        var end: [UInt8] = [0, 0, 0, 0] + SendStreamHeader.littleEndianBytes(UInt64(SendStreamHeader.endCommand), count: 2)
        let crc = CRC32C.update(0, end + [0, 0, 0, 0])
        end += SendStreamHeader.littleEndianBytes(UInt64(crc), count: 4)
        return header.bytes + end
    }
}

/// A send stream that cannot be read: where and why.
public struct SendStreamError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The byte offset in the stream where the problem is.
    public var offset: Int
    public var message: String

    public init(offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "byte \(offset): \(message)" }
}

/// Little-endian reads that never go past the end they are given.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func bytes(_ count: Int, _ what: String, limit: Int? = nil) throws(SendStreamError) -> ArraySlice<UInt8> {
        let end = Swift.min(limit ?? bytes.count, bytes.count)
        guard count >= 0, end - offset >= count else {
            throw SendStreamError(offset: offset, "the stream ends inside \(what)")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func uint16(_ what: String, limit: Int? = nil) throws(SendStreamError) -> UInt16 {
        UInt16(SendStreamHeader.littleEndian(try bytes(2, what, limit: limit)))
    }

    mutating func uint32(_ what: String, limit: Int? = nil) throws(SendStreamError) -> UInt32 {
        UInt32(SendStreamHeader.littleEndian(try bytes(4, what, limit: limit)))
    }
}

/// CRC-32C (Castagnoli), as btrfs computes it: reflected polynomial
/// 0x82F63B78, the running value passed in and out without inversion.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func update<Bytes: Sequence<UInt8>>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 {
        var crc = crc
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc
    }
}
