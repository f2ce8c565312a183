import CBtrfsUtil
import FSProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The mount points of this process's mount namespace, from
/// `/proc/self/mountinfo`.
///
/// The file stays open: the kernel marks it with a priority event
/// (`POLLPRI`) whenever a mount or unmount changes it, so a query costs one
/// `poll` unless the table changed, and then one read.
final class MountTable: Sendable {
    private struct State {
        var descriptor: Int32 = -1
        var mountPoints: [String] = []
    }

    private let state = Mutex(State())

    deinit {
        state.withLock { state in
            if state.descriptor >= 0 { LibC.close(state.descriptor) }
        }
    }

    /// Every mount point, current as of this call.
    func mountPoints() throws(FSError.Kind) -> [String] {
        try state.withLock { (state: inout State) throws(FSError.Kind) in
            if state.descriptor < 0 {
                state.descriptor = try LibC.open("/proc/self/mountinfo", O_RDONLY)
            } else if !(try LibC.pollPriority(state.descriptor)) {
                return state.mountPoints
            }
            state.mountPoints = MountTable.mountPoints(in: try LibC.readAll(state.descriptor, from: 0))
            return state.mountPoints
        }
    }

    /// The mount point field (the fifth) of each line, unescaped.
    static func mountPoints(in mountinfo: [UInt8]) -> [String] {
        var result: [String] = []
        for line in mountinfo.split(separator: UInt8(ascii: "\n")) {
            var field = 0
            var start = line.startIndex
            for index in line.indices where line[index] == UInt8(ascii: " ") {
                if field == 4 {
                    result.append(unescape(line[start..<index]))
                    break
                }
                field += 1
                start = line.index(after: index)
            }
        }
        return result
    }

    /// The mount points at `path` or below it, sorted.
    static func mountPoints(_ mountPoints: [String], under path: String) -> [String] {
        let prefix = path == "/" ? "/" : path + "/"
        return mountPoints.filter { $0 == path || $0.hasPrefix(prefix) }.sorted()
    }

    /// Undoes the kernel's octal escapes (`\040` for a blank, `\011`,
    /// `\012`, `\134`).
    static func unescape(_ field: ArraySlice<UInt8>) -> String {
        guard field.contains(UInt8(ascii: "\\")) else { return String(decoding: field, as: UTF8.self) }
        var bytes: [UInt8] = []
        var rest = field
        while let byte = rest.popFirst() {
            if byte == UInt8(ascii: "\\"), rest.count >= 3,
                let value = UInt8(String(decoding: rest.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                rest = rest.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
