import FSProtocol
import Foundation
import TestSupport
import Testing

@testable import RealFS

/// Reading `/proc/self/mountinfo` and finding the mount points inside a
/// directory: pure functions, no btrfs needed.
@Suite("Mount table")
struct MountTableTests {
    @Test("the fifth field of each line, unescaped, in byte order; the parent ids")
    func parsesMountPoints() {
        let mountinfo = """
            46 45 0:50 / /mnt/build\\040machines/v/m/m-1/mnt rw shared:31 - tmpfs tmpfs rw
            22 1 0:21 / / rw,relatime shared:1 - btrfs /dev/vda1 rw
            45 22 7:0 / /mnt/build\\040machines rw,relatime shared:30 - btrfs /dev/loop0 rw

            """
        let snapshot = MountTable.parse(Array(mountinfo.utf8))
        #expect(snapshot.mountPoints == ["/", "/mnt/build machines", "/mnt/build machines/v/m/m-1/mnt"])
        #expect(snapshot.parents == [1, 22, 45])
        #expect(
            snapshot.devices == [
                46: MountTable.Device(major: 0, minor: 50), 22: MountTable.Device(major: 0, minor: 21),
                45: MountTable.Device(major: 7, minor: 0),
            ])
    }

    @Test("a btrfs mount's root subvolume: subvolid= of the superblock options, by the filesystem's device; bind mounts too")
    func subvolumeMounts() {
        let mountinfo = """
            22 1 0:21 / / rw,relatime shared:1 - btrfs /dev/vda1 rw,subvolid=5,subvol=/
            42 43 0:39 /v/m/m-gcc-1-1 /b/v/m/m-2 rw,relatime shared:7 master:3 - btrfs /dev/loop1 rw,space_cache=v2,subvolid=258,subvol=/v/m/m-gcc-1-1
            47 43 0:39 /v/m/m-gcc-1-1/d /elsewhere rw,relatime - btrfs /dev/loop1 rw,subvolid=258,subvol=/v/m/m-gcc-1-1
            48 43 0:50 / /b/v/m/m-gcc-1-1/mnt rw - tmpfs subvolid=9 rw
            49 43 0:39 / /odd - rw - btrfs /dev/loop1 rw,subvolid=300
            50 43 0:39 /a,subvolid=9 /comma rw - btrfs /dev/loop1 rw,subvolid=301,subvol=/a,subvolid=9

            """
        let snapshot = MountTable.parse(Array(mountinfo.utf8))
        let loop = MountTable.Device(major: 0, minor: 39)
        #expect(
            snapshot.subvolumeMounts == [
                MountTable.SubvolumeMount(device: MountTable.Device(major: 0, minor: 21), id: 5): ["/"],
                MountTable.SubvolumeMount(device: loop, id: 258): ["/b/v/m/m-2", "/elsewhere"],
                MountTable.SubvolumeMount(device: loop, id: 300): ["/odd"],
                // The first subvolid= only: a subvol= path (unescaped by
                // older kernels) can hold a comma and the word.
                MountTable.SubvolumeMount(device: loop, id: 301): ["/comma"],
            ])
        #expect(snapshot.mountPoints.count == 6)
        #expect(MountTable.device(of: "/b/v/m/m-2/deep/er", in: snapshot) == loop)
        #expect(MountTable.device(of: "/b/v/m/m-gcc-1-1/mnt/x", in: snapshot) == MountTable.Device(major: 0, minor: 50))
        #expect(MountTable.device(of: "/else", in: snapshot) == MountTable.Device(major: 0, minor: 21))
    }

    @Test("a mount point's component that is not UTF-8 reads as a listing renders its name")
    func undecodableMountPoints() {
        let line = Array("46 45 0:50 / /b/m-1/".utf8) + [0xFF, 0x28] + Array("/x\\040y rw - tmpfs tmpfs rw\n".utf8)
        let plain = Array("47 45 0:51 / /b/m-2/".utf8) + [0xE9] + Array(" rw - tmpfs tmpfs rw\n".utf8)
        #expect(MountTable.parse(line + plain).mountPoints == ["/b/m-1/\\xff(/x y", "/b/m-2/\\xe9"])
    }

    @Test("at the path or below it; a sibling sharing the prefix is not inside")
    func mountPointsUnder() {
        let sorted = ["/", "/a", "/a/b", "/a/b-c", "/a/b/c", "/a/b/c/d", "/a/bc", "/z"]
        #expect(MountTable.mountPoints(sorted, under: "/a/b") == ["/a/b", "/a/b/c", "/a/b/c/d"])
        #expect(MountTable.mountPoints(sorted, under: "/a/b/c/d") == ["/a/b/c/d"])
        #expect(MountTable.mountPoints(sorted, under: "/") == sorted)
        #expect(MountTable.mountPoints(sorted, under: "/y").isEmpty)
        #expect(MountTable.mountPoints([], under: "/a").isEmpty)
    }

    @Test("the binary search finds what a scan of every mount point finds")
    func matchesAScan() {
        var random = SeededGenerator(seed: 7)
        let letters: [Character] = ["a", "b", "-", "/", "é"]
        func path() -> String {
            "/" + String((0..<Int.random(in: 0..<6, using: &random)).map { _ in letters[Int.random(in: letters.indices, using: &random)] })
        }
        for _ in 0..<500 {
            let sorted = (0..<Int.random(in: 0..<12, using: &random)).map { _ in path() }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let directory = path()
            let scanned = sorted.filter { point in
                let bytes = Array(point.utf8)
                let prefix = Array(directory.utf8)
                return bytes.starts(with: prefix)
                    && (bytes.count == prefix.count || prefix.last == UInt8(ascii: "/")
                        || bytes[prefix.count] == UInt8(ascii: "/"))
            }
            #expect(MountTable.mountPoints(sorted, under: directory) == scanned, "\(sorted) under \(directory)")
        }
    }

    @Test("a table that could not be read is read again on the next call, not taken as empty")
    func failedReadIsRetried() throws {
        let directory = NSTemporaryDirectory() + "mountinfo-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/mountinfo"
        // A directory opens, and its read fails (EISDIR).
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let table = MountTable(path: path)
        #expect(throws: FSError.Kind.self) { try table.snapshot() }
        #expect(throws: FSError.Kind.self) { try table.snapshot() }
        try FileManager.default.removeItem(atPath: path)
        try "46 45 0:50 / /b/v/m/m-1/mnt rw - tmpfs tmpfs rw\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try table.snapshot().mountPoints == ["/b/v/m/m-1/mnt"])
    }
}
