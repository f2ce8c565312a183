/// Reading `/proc/locks`.
enum LockTable {
    /// Whether the table has a `FLOCK` lock on `inode`. A line reads
    /// `1: FLOCK  ADVISORY  WRITE 1234 00:27:726 0 EOF`: the holder's pid,
    /// then `MAJOR:MINOR:INODE` in hexadecimal, hexadecimal and decimal.
    ///
    /// The device there is the filesystem's (`filesystem`, from the mount
    /// table): it must match exactly, as another filesystem (another
    /// machine volume) may well hold a file of the same inode number. When
    /// the mount table does not name it, the device must be the file's
    /// (`device`, from `fstat`), unless it is anonymous (major 0): btrfs
    /// names the filesystem's anonymous device there, not the subvolume's.
    static func holds(_ table: String, inode: UInt64, device: UInt64, filesystem: MountTable.Device? = nil) -> Bool {
        !holders(table, inode: inode, device: device, filesystem: filesystem).isEmpty
    }

    /// The holders' pids of the `FLOCK` locks `holds` finds. On btrfs the
    /// line names the filesystem and the inode number, which each
    /// subvolume counts from 257 again: a line may be another subvolume's
    /// file of the same number, which only its holder's descriptors tell.
    static func holders(_ table: String, inode: UInt64, device: UInt64, filesystem: MountTable.Device? = nil)
        -> [Int32]
    {
        var pids: [Int32] = []
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1:", "FLOCK", "ADVISORY", "WRITE", pid, dev:inode, ...; a
            // blocked waiter's line starts with "->".
            guard fields.count >= 6, fields[1] == "FLOCK" else { continue }
            let parts = fields[5].split(separator: ":")
            guard parts.count == 3, let major = UInt64(parts[0], radix: 16), let minor = UInt64(parts[1], radix: 16),
                let number = UInt64(parts[2]), number == inode
            else { continue }
            let matches =
                if let filesystem {
                    major == filesystem.major && minor == filesystem.minor
                } else {
                    major == 0 || (major == devMajor(device) && minor == devMinor(device))
                }
            // A pid that does not read as one (0 from another pid
            // namespace) is kept: it cannot be looked at, so it counts.
            if matches { pids.append(Int32(fields[4]) ?? 0) }
        }
        return pids
    }

    /// glibc's `gnu_dev_major` and `gnu_dev_minor`.
    static func devMajor(_ device: UInt64) -> UInt64 { ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff) }
    static func devMinor(_ device: UInt64) -> UInt64 { (device & 0xff) | ((device >> 12) & ~0xff) }
}
