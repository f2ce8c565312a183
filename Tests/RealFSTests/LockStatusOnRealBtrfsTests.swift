import FSProtocol
import Foundation
import Testing
import TestSupport

/// `isLockHeld` against locks other processes hold on a real btrfs: it
/// reads `/proc/locks`, whose lines name the filesystem and an inode
/// number, then the holder's descriptors (`/proc/PID/fdinfo`) to tell this
/// file from another subvolume's file of the same number
/// (`ContractConformance`). What it cannot tell counts as held.
@Suite(
    "Lock status on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")))
struct LockStatusOnRealBtrfsTests {
    struct HolderDidNotStart: Error {
        var script: String
    }

    /// Runs `script` under bash in the background; it writes the pids to
    /// kill, one a line, into `ready` once it holds what it holds. Its
    /// processes wait ten minutes, far longer than a test can be held up
    /// on a loaded machine (the holder must still be there when the test
    /// looks), and are killed at its end.
    func holding(_ script: String, ready: String) async throws -> [Int32] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        try process.run()
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: ready, encoding: .utf8), text.hasSuffix("\n") {
                return text.split(separator: "\n").compactMap { Int32($0) } + [process.processIdentifier]
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw HolderDidNotStart(script: script)
    }

    func status(of path: String, in directory: String) async throws -> Bool {
        let fs = RealFileSystemForTests.make()
        let handle = try await fs.openRoot(directory)
        do {
            let held = try await fs.withFile(EntryName(path)!, in: handle) { file throws(FSError) in
                try await fs.isLockHeld(file)
            }
            await fs.close(handle)
            return held
        } catch {
            await fs.close(handle)
            throw error
        }
    }

    /// Kills the holders; true once the lock reads free (their files close
    /// as they exit, which a loaded machine may take a while to get to).
    func endFrees(_ pids: [Int32], lock name: String, in directory: String) async throws -> Bool {
        for pid in pids { kill(pid, SIGKILL) }
        for _ in 0..<100 {
            if try await !status(of: name, in: directory) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    @Test("a lock another process holds is held, and free once that process ends")
    func heldByAnother() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.file("v/m/m-default.lock")
        let lock = tree.path("v/m/m-default.lock")
        let ready = tree.path("ready")
        let pids = try await holding(
            "exec flock \(lock) bash -c 'printf \"%s\\n%s\\n\" $PPID $$ > \(ready); exec sleep 600'", ready: ready)
        // Whatever happens below, the holders do not outlive the test.
        defer { for pid in pids { kill(pid, SIGKILL) } }
        #expect(try await status(of: "m-default.lock", in: tree.path("v/m")))
        #expect(try await endFrees(pids, lock: "m-default.lock", in: tree.path("v/m")))
        await tree.remove()
    }

    @Test("a lock whose taker is gone, or kept only through a descriptor it passed on, is held")
    func heldThroughAnotherDescriptor() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.file("v/m/m-default.lock")
        let lock = tree.path("v/m/m-default.lock")
        // flock(1) locks bash's descriptor 9 and exits: /proc/locks names
        // a pid that is gone.
        let gone = tree.path("gone")
        let first = try await holding("exec 9>>\(lock); flock 9; echo $$ > \(gone); exec sleep 600", ready: gone)
        defer { for pid in first { kill(pid, SIGKILL) } }
        #expect(try await status(of: "m-default.lock", in: tree.path("v/m")))
        #expect(try await endFrees(first, lock: "m-default.lock", in: tree.path("v/m")))
        // The taker lives on without the descriptor; its child has it.
        let passed = tree.path("passed")
        // perl (Debian's perl-base is essential): flock(2), fork, close.
        let script = """
            use Fcntl qw(:flock); open(my $f, "<", "\(lock)") or die; flock($f, LOCK_EX) or die;
            my $child = fork(); if ($child == 0) { sleep 600; exit 0; }
            close($f); open(my $r, ">", "\(passed)") or die; print $r "$child\\n$$\\n"; close($r); sleep 600;
            """
        let second = try await holding("exec perl -e '\(script)'", ready: passed)
        defer { for pid in second { kill(pid, SIGKILL) } }
        #expect(try await status(of: "m-default.lock", in: tree.path("v/m")))
        #expect(try await endFrees(second, lock: "m-default.lock", in: tree.path("v/m")))
        await tree.remove()
    }

    @Test("a POSIX lock is no flock: the holder's fcntl lock on another subvolume's file of the same inode number leaves it free")
    func posixLockIsNoFlock() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.subvolume("m-1")
        try tree.subvolume("m-2")
        try tree.file("m-1/x.lock")
        try tree.file("m-2/x.lock")
        let one = tree.path("m-1/x.lock")
        let two = tree.path("m-2/x.lock")
        let ready = tree.path("ready")
        // One process: flock(2) on m-1's file, fcntl(F_SETLK) on m-2's
        // (both inode 257): /proc/PID/fdinfo shows a POSIX line for the
        // second, which is not a lock this tool takes.
        let script = """
            use Fcntl qw(:flock :DEFAULT F_SETLK F_WRLCK SEEK_SET); open(my $a, "<", "\(one)") or die; flock($a, LOCK_EX) or die;
            open(my $b, "+<", "\(two)") or die; my $l = pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0); fcntl($b, F_SETLK, $l) or die;
            open(my $r, ">", "\(ready)") or die; print $r "$$\n"; close($r); sleep 600;
            """
        let pids = try await holding("exec perl -e '\(script)'", ready: ready)
        defer { for pid in pids { kill(pid, SIGKILL) } }
        #expect(try await status(of: "x.lock", in: tree.path("m-1")))
        #expect(try await !status(of: "x.lock", in: tree.path("m-2")))
        await tree.remove()
    }
}
