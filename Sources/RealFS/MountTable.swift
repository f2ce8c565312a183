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
    /// What the table held when last read.
    struct Snapshot {
        /// Every mount point, in byte order.
        var mountPoints: [String] = []
        /// The ids of the mounts that have a mount on top of some directory
        /// of theirs (the second field, the parent id, of some line).
        var parents: Set<UInt64> = []
        /// Each mount's filesystem device (the third field, `MAJOR:MINOR`),
        /// by mount id (the first): on btrfs, the filesystem's own, which
        /// `/proc/locks` names, not a subvolume's, which `fstat` gives.
        var devices: [UInt64: Device] = [:]
        /// The mount points of each btrfs subvolume that is a mount's root,
        /// or holds a mount's root (a bind mount of a directory in it): by
        /// its filesystem's device and its id (the `subvolid=` of the
        /// superblock options, which names the subvolume of the mount's
        /// root, a bind mount's too).
        var subvolumeMounts: [SubvolumeMount: [String]] = [:]
        /// Each mount point's filesystem device (the last line of a mount
        /// point stacked on another: the one on top).
        var deviceByMountPoint: [String: Device] = [:]
    }

    struct SubvolumeMount: Hashable {
        var device: Device
        var id: UInt64
    }

    struct Device: Hashable {
        var major: UInt64
        var minor: UInt64
    }

    private struct State {
        var descriptor: Int32 = -1
        var snapshot = Snapshot()
    }

    private let state = Mutex(State())
    /// `/proc/self/mountinfo`, or another file for a test.
    private let path: String

    init(path: String = "/proc/self/mountinfo") {
        self.path = path
    }

    deinit {
        state.withLock { state in
            if state.descriptor >= 0 { LibC.close(state.descriptor) }
        }
    }

    /// The table, current as of this call.
    ///
    /// A table that could not be read whole is no table: the descriptor is
    /// closed, so that the next call opens and reads the file again. (Kept
    /// open, it would raise no priority event until the next mount change,
    /// and the next calls would answer with the table before the failure,
    /// or an empty one: mounts unseen.)
    func snapshot() throws(FSError.Kind) -> Snapshot {
        try state.withLock { (state: inout State) throws(FSError.Kind) in
            do throws(FSError.Kind) {
                if state.descriptor < 0 {
                    state.descriptor = try LibC.open(path, O_RDONLY)
                } else if !(try LibC.pollPriority(state.descriptor)) {
                    return state.snapshot
                }
                state.snapshot = MountTable.parse(try LibC.readAll(state.descriptor, from: 0))
                return state.snapshot
            } catch {
                if state.descriptor >= 0 { LibC.close(state.descriptor) }
                state.descriptor = -1
                state.snapshot = Snapshot()
                throw error
            }
        }
    }

    /// Each line's mount point (the fifth field, unescaped), parent id
    /// (the second) and device (the third, by the first, the mount id);
    /// for a btrfs mount, the subvolume of its root (`subvolid=` among the
    /// superblock options, the last field, after the `-` that ends the
    /// optional fields, the filesystem type and the source).
    static func parse(_ mountinfo: [UInt8]) -> Snapshot {
        var snapshot = Snapshot()
        for line in mountinfo.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count >= 5 else { continue }
            let mount = UInt64(String(decoding: fields[0], as: UTF8.self))
            if let parent = UInt64(String(decoding: fields[1], as: UTF8.self)) { snapshot.parents.insert(parent) }
            let numbers = fields[2].split(separator: UInt8(ascii: ":"))
            var device: Device?
            if numbers.count == 2, let major = UInt64(String(decoding: numbers[0], as: UTF8.self)),
                let minor = UInt64(String(decoding: numbers[1], as: UTF8.self))
            {
                device = Device(major: major, minor: minor)
                if let mount { snapshot.devices[mount] = device }
            }
            let mountPoint = unescape(fields[4])
            snapshot.mountPoints.append(mountPoint)
            if let device { snapshot.deviceByMountPoint[mountPoint] = device }
            // The optional fields end at a lone "-": then the type, the
            // source and the superblock options.
            guard let separator = fields.indices.dropFirst(6).first(where: { fields[$0].elementsEqual("-".utf8) }),
                separator + 3 < fields.count, fields[separator + 1].elementsEqual("btrfs".utf8), let device
            else { continue }
            // The first: the kernel writes `subvolid=` before `subvol=`,
            // whose path could hold a comma and such a word.
            if let option = fields[separator + 3].split(separator: UInt8(ascii: ",")).first(where: {
                $0.starts(with: "subvolid=".utf8)
            }), let id = UInt64(String(decoding: option.dropFirst("subvolid=".utf8.count), as: UTF8.self)) {
                snapshot.subvolumeMounts[SubvolumeMount(device: device, id: id), default: []].append(mountPoint)
            }
        }
        snapshot.mountPoints.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for key in snapshot.subvolumeMounts.keys {
            snapshot.subvolumeMounts[key]?.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        return snapshot
    }

    /// The device of the filesystem `path` is on: that of its longest
    /// mount point (at `path` or above it, whole components).
    static func device(of path: String, in snapshot: Snapshot) -> Device? {
        var candidate = path
        while true {
            if let device = snapshot.deviceByMountPoint[candidate] { return device }
            guard candidate != "/", let slash = candidate.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
            candidate = slash == candidate.utf8.startIndex ? "/" : String(Substring(candidate.utf8[..<slash]))
        }
    }

    /// The mount points at `path` or below it, from mount points in byte
    /// order. Paths are bytes: those starting with `path`'s bytes form one
    /// run of the sorted list, found by a binary search (one cleanup asks
    /// once per subvolume it deletes).
    static func mountPoints(_ sorted: [String], under path: String) -> [String] {
        let path = Array(path.utf8)
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle].utf8.lexicographicallyPrecedes(path) { low = middle + 1 } else { high = middle }
        }
        var result: [String] = []
        for mountPoint in sorted[low...] {
            let bytes = mountPoint.utf8
            guard bytes.starts(with: path) else { break }
            // At `path` itself, or below it: the next byte is a slash.
            let rest = bytes.dropFirst(path.count)
            if rest.isEmpty || path.last == UInt8(ascii: "/") || rest.first == UInt8(ascii: "/") {
                result.append(mountPoint)
            }
        }
        return result
    }

    /// Undoes the kernel's octal escapes (`\040` for a blank, `\011`,
    /// `\012`, `\134`); a component that is not UTF-8 is rendered as
    /// its name is in a listing (`\xff`).
    static func unescape(_ field: ArraySlice<UInt8>) -> String {
        guard field.contains(UInt8(ascii: "\\")) else { return EntryName.pathRendering(of: field) }
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
        return EntryName.pathRendering(of: bytes)
    }
}
