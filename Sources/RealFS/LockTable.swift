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
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1:", "FLOCK", "ADVISORY", "WRITE", pid, dev:inode, ...; a
            // blocked waiter's line starts with "->".
            guard fields.count >= 6, fields[1] == "FLOCK" else { continue }
            let parts = fields[5].split(separator: ":")
            guard parts.count == 3, let major = UInt64(parts[0], radix: 16), let minor = UInt64(parts[1], radix: 16),
                let number = UInt64(parts[2]), number == inode
            else { continue }
            if let filesystem {
                if major == filesystem.major, minor == filesystem.minor { return true }
            } else if major == 0 || (major == devMajor(device) && minor == devMinor(device)) {
                return true
            }
        }
        return false
    }

    /// glibc's `gnu_dev_major` and `gnu_dev_minor`.
    static func devMajor(_ device: UInt64) -> UInt64 { ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff) }
    static func devMinor(_ device: UInt64) -> UInt64 { (device & 0xff) | ((device >> 12) & ~0xff) }
}
