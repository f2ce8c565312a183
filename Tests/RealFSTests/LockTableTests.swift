import Testing

@testable import RealFS

/// Reading `/proc/locks`: a pure function, no btrfs needed.
@Suite("Lock table")
struct LockTableTests {
    /// `makedev` as glibc encodes it.
    static func device(major: UInt64, minor: UInt64) -> UInt64 {
        (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
    }

    @Test("a FLOCK on the inode, on the file's device or an anonymous one (btrfs names its filesystem's)")
    func holds() {
        let table = """
            1: POSIX  ADVISORY  WRITE 900 08:01:4242 0 EOF
            2: FLOCK  ADVISORY  WRITE 1234 fd:03:726 0 EOF
            3: FLOCK  ADVISORY  WRITE 1235 00:2d:257 0 EOF
            3: -> FLOCK  ADVISORY  WRITE 1236 00:2d:258 0 EOF

            """
        let disk = LockTableTests.device(major: 0xfd, minor: 3)
        #expect(LockTable.holds(table, inode: 726, device: disk))
        // The same inode number on another device is another file.
        #expect(!LockTable.holds(table, inode: 726, device: LockTableTests.device(major: 0xfd, minor: 4)))
        #expect(!LockTable.holds(table, inode: 726, device: LockTableTests.device(major: 8, minor: 3)))
        // btrfs: the lock names the filesystem's anonymous device, fstat
        // the subvolume's; the inode decides.
        #expect(LockTable.holds(table, inode: 257, device: LockTableTests.device(major: 0, minor: 0x31)))
        // Not a FLOCK, a blocked waiter, no such inode.
        #expect(!LockTable.holds(table, inode: 4242, device: LockTableTests.device(major: 8, minor: 1)))
        #expect(!LockTable.holds(table, inode: 258, device: LockTableTests.device(major: 0, minor: 0x2d)))
        #expect(!LockTable.holds(table, inode: 72, device: disk))
        #expect(!LockTable.holds("", inode: 726, device: disk))
    }

    @Test("with the filesystem's device from the mount table, only that device matches")
    func holdsOnTheFilesystem() {
        let table = "1: FLOCK  ADVISORY  WRITE 1235 00:2d:257 0 EOF\n"
        let subvolume = LockTableTests.device(major: 0, minor: 0x31)
        #expect(LockTable.holds(table, inode: 257, device: subvolume, filesystem: MountTable.Device(major: 0, minor: 0x2d)))
        // Inode 257 of another btrfs (another machine volume) is another
        // file, anonymous as both devices are.
        #expect(!LockTable.holds(table, inode: 257, device: subvolume, filesystem: MountTable.Device(major: 0, minor: 0x2e)))
        #expect(!LockTable.holds(table, inode: 258, device: subvolume, filesystem: MountTable.Device(major: 0, minor: 0x2d)))
    }

    @Test("major and minor as glibc's gnu_dev_major and gnu_dev_minor read them")
    func deviceNumbers() {
        for (major, minor) in [(0, 0x2d), (8, 1), (0xfd, 3), (259, 65_537), (4_095, 255)] as [(UInt64, UInt64)] {
            let device = LockTableTests.device(major: major, minor: minor)
            #expect(LockTable.devMajor(device) == major && LockTable.devMinor(device) == minor, "\(major):\(minor)")
        }
    }
}
