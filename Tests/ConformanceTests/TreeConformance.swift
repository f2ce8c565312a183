import FSProtocol
import Testing
import TestSupport

/// SPEC §5: how entries look, how directories open, and how files lock,
/// on every backend.
@Suite("Conformance: entries, links and locks")
struct TreeConformance {
    @Test(
        "a subvolume root is inode 256 with its own device; its info needs its root, its id any directory",
        arguments: Backends.all)
    func subvolumeIdentity(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("plain", in: s)
            let subvolume = try await fs.status(of: "s", in: directory)
            let parent = try await fs.status(of: directory)
            let plain = try await fs.status(of: "plain", in: s)
            #expect(subvolume.kind == .subvolume)
            #expect(subvolume.identity.inode == subvolumeRootInode)
            #expect(subvolume.identity.device != parent.identity.device)
            #expect(plain.kind == .directory)
            #expect(plain.identity.device == subvolume.identity.device)
            #expect(plain.identity.inode != subvolumeRootInode)
            #expect(try await fs.status(of: s) == subvolume)
            #expect(try await fs.subvolumeID(of: s) == fs.subvolumeInfo(of: s).id)
            let plainDirectory = try await fs.openDirectory("plain", in: s)
            #expect(try await fs.subvolumeID(of: plainDirectory) == fs.subvolumeInfo(of: s).id)
            await #expect(throws: FSError(.invalidArgument, .subvolumeInfo)) {
                try await fs.subvolumeInfo(of: plainDirectory)
            }
            await fs.close(plainDirectory)
            await fs.close(s)
        }
    }

    @Test("a listing names each subvolume by its id, as btrfs's readdir does", arguments: Backends.all)
    func listingNamesSubvolumeIDs(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await fs.makeDirectory("plain", in: directory)
            let id = try await fs.withDirectory("s", in: directory) { s throws(FSError) in try await fs.subvolumeInfo(of: s).id }
            let entries = try await fs.list(directory)
            #expect(entries.map(\.subvolumeID) == [nil, id])
            // A new subvolume may get the device number of a deleted one,
            // never its id.
            try await fs.deleteSubvolume("s", in: directory)
            try await fs.createSubvolume("s", in: directory)
            let renewed = try #require(try await fs.list(directory).last?.subvolumeID)
            #expect(renewed != id)
        }
    }

    @Test("a listing is sorted by bytes and shows each entry as lstat does", arguments: Backends.all)
    func listing(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("m-2", in: directory)
            try await fs.createSymlink("m", in: directory, target: "m-2")
            try await fs.makeDirectory("M", in: directory)
            try await fs.writeFile("m-default.lock", in: directory, "")
            try await fs.makeDirectory(".hidden", in: directory)
            try await fs.createSymlink("dangling", in: directory, target: "nowhere")
            let entries = try await fs.list(directory)
            #expect(entries.map(\.name.rawValue) == [".hidden", "M", "dangling", "m", "m-2", "m-default.lock"])
            #expect(entries.map(\.kind) == [.directory, .directory, .symlink, .symlink, .subvolume, .file])
            #expect(try await fs.readLink("m", in: directory) == "m-2")
            await #expect(throws: FSError(.invalidArgument, .readLink, name: "m-2")) {
                try await fs.readLink("m-2", in: directory)
            }
        }
    }

    @Test("opening never follows a link", arguments: Backends.all)
    func openingDoesNotFollow(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("target", in: directory)
            try await fs.createSymlink("link", in: directory, target: "target")
            try await fs.writeFile("file", in: directory, "x")
            try await fs.createSymlink("filelink", in: directory, target: "file")
            await #expect(throws: FSError(.notDirectory, .openDirectory, name: "link")) {
                try await fs.openDirectory("link", in: directory)
            }
            await #expect(throws: FSError(.notDirectory, .openDirectory, name: "file")) {
                try await fs.openDirectory("file", in: directory)
            }
            await #expect(throws: FSError(.symlinkLoop, .openFile, name: "filelink")) {
                try await fs.openFile("filelink", in: directory, options: [.write])
            }
            await #expect(throws: FSError(.isDirectory, .openFile, name: "target")) {
                try await fs.openFile("target", in: directory, options: [])
            }
        }
    }

    @Test("the status and the owner of a link are the link's own, never its target's", arguments: Backends.all)
    func linkStatusAndOwner(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.writeFile("file", in: directory, "x")
            try await fs.createSymlink("link", in: directory, target: "file")
            try await fs.createSymlink("dangling", in: directory, target: "nowhere")
            let file = try await fs.status(of: "file", in: directory)
            let link = try await fs.status(of: "link", in: directory)
            #expect(link.kind == .symlink)
            #expect(link.identity != file.identity)
            #expect(try await fs.status(of: "dangling", in: directory).kind == .symlink)
            // A lock file's owner is set by name (`MachineLock`): a link
            // planted there must not hand its target to the build user.
            try await fs.changeOwner(of: "link", in: directory, owner: 1000, group: 1000)
            let changed = try await fs.status(of: "link", in: directory)
            #expect(changed.owner == 1000 && changed.group == 1000)
            let target = try await fs.status(of: "file", in: directory)
            #expect(target.owner == file.owner && target.group == file.group)
            try await fs.changeOwner(of: "dangling", in: directory, owner: 1000, group: 1000)
            #expect(try await fs.status(of: "dangling", in: directory).owner == 1000)
        }
    }

    @Test("a name that is not UTF-8 is listed rendered with \\xNN, and no call takes it", arguments: Backends.all)
    func undecodableNames(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await sandbox.makeDirectory(named: [0x6D, 0x2D, 0xFF, 0x28])
            let listed = try await fs.list(directory)
            #expect(listed.count == 1)
            let entry = try #require(listed.first)
            #expect(entry.name.rawValue == "m-\\xff(")
            #expect(!entry.name.isExact)
            #expect(entry.kind == .directory)
            await #expect(throws: FSError(.invalidArgument, .openDirectory, name: entry.name)) {
                try await fs.openDirectory(entry.name, in: directory)
            }
            await #expect(throws: FSError(.invalidArgument, .removeDirectory, name: entry.name)) {
                try await fs.removeDirectory(entry.name, in: directory)
            }
        }
    }

    @Test(
        "a nested subvolume's path renders a name that is not UTF-8 with \\xNN, as a listing does, and says it is not exact",
        arguments: Backends.all)
    func undecodableNestedPaths(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            try await sandbox.makeSubvolume(named: [0x61, 0xFF], in: "outer")
            try await sandbox.makeSubvolume(named: Array("a\\xff".utf8), in: "outer")
            try await sandbox.makeSubvolume(named: Array("\u{e9}".utf8), in: "outer")
            let outer = try await fs.openDirectory("outer", in: directory)
            let nested = try await fs.nestedSubvolumes(of: outer)
            #expect(
                nested.map { "\($0.path) \($0.isExact)" }.sorted(by: EntryName.precedesInBytes) == [
                    "a\\xff false", "a\\xff true", "\u{e9} true",
                ])
            for subvolume in nested { try await fs.deleteSubvolume(id: subvolume.id, via: directory) }
            await fs.close(outer)
            try await fs.deleteSubvolume("outer", in: directory)
        }
    }

    @Test("a link's target that is not UTF-8 reads as EILSEQ and is followed by its bytes; a link so named is listed and not read", arguments: Backends.all)
    func undecodableLinks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await sandbox.makeDirectory(named: [0x64, 0xFF])
            try await sandbox.makeSymlink(named: Array("l".utf8), target: [0x64, 0xFF])
            await #expect(throws: FSError(.notUTF8, .readLink, name: "l")) { try await fs.readLink("l", in: directory) }
            // A lookup of the rendering finds nothing: it is another name.
            try await sandbox.makeSymlink(named: Array("r".utf8), target: Array("d\\xff".utf8))
            await #expect(throws: FSError(.noEntry, .openRoot, path: sandbox.path + "/r")) {
                try await fs.openRoot(sandbox.path + "/r")
            }
            let followed = try await fs.openRoot(sandbox.path + "/l")
            let reached = try await fs.status(of: followed)
            let listed = try await fs.list(directory)
            #expect(listed.first { $0.name.rawValue == "d\\xff" }?.status.identity == reached.identity)
            await fs.close(followed)

            try await sandbox.makeSymlink(named: [0x6B, 0xFF], target: Array("l".utf8))
            let link = try #require(try await fs.list(directory).first { $0.name.rawValue == "k\\xff" })
            #expect(link.kind == .symlink && !link.name.isExact)
            await #expect(throws: FSError(.invalidArgument, .readLink, name: link.name)) {
                try await fs.readLink(link.name, in: directory)
            }
        }
    }

    @Test("a path splits at every / byte, even one a combining mark follows", arguments: Backends.all)
    func pathsSplitAtBytes(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            // "\u{301}m" starts with a combining acute accent: in Swift,
            // "/\u{301}" is one Character, but the kernel sees the byte '/'.
            let name: EntryName = "\u{301}m"
            try await fs.createSubvolume(name, in: directory)
            let outer = try await fs.openDirectory(name, in: directory)
            try await fs.createSubvolume("inner", in: outer)
            await fs.close(outer)
            let opened = try await fs.openRoot(sandbox.path + "/\u{301}m/inner")
            #expect(try await fs.status(of: opened).kind == .subvolume)
            await fs.close(opened)
        }
    }

    @Test("names are bytes: two canonically equivalent spellings are two entries", arguments: Backends.all)
    func namesAreBytes(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            // "é" precomposed (C3 A9) and "e" plus a combining acute
            // (65 CC 81): equal as Swift strings, two names to the kernel.
            let composed: EntryName = "caf\u{e9}"
            let decomposed: EntryName = "cafe\u{301}"
            try await fs.createSubvolume(composed, in: directory)
            try await fs.makeDirectory(decomposed, in: directory)
            try await fs.createSymlink("link", in: directory, target: "cafe\u{301}")
            let listed = try await fs.list(directory)
            #expect(listed.count == 3)
            #expect(listed.contains { $0.name == composed && $0.kind == .subvolume })
            #expect(listed.contains { $0.name == decomposed && $0.kind == .directory })
            #expect(Array(try await fs.readLink("link", in: directory).utf8) == Array("cafe\u{301}".utf8))
            #expect(try await fs.status(of: composed, in: directory).kind == .subvolume)
            #expect(try await fs.status(of: decomposed, in: directory).kind == .directory)
            try await fs.removeDirectory(decomposed, in: directory)
            #expect(try await fs.status(of: composed, in: directory).kind == .subvolume)
            await #expect(throws: FSError(.noEntry, .status, name: decomposed)) {
                try await fs.status(of: decomposed, in: directory)
            }
            try await fs.deleteSubvolume(composed, in: directory)
        }
    }

    @Test("nested subvolumes are listed deepest first, by path from the outer one", arguments: Backends.all)
    func nestedOrder(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            let outer = try await fs.openDirectory("outer", in: directory)
            try await fs.makeDirectory("dir", in: outer)
            try await fs.withDirectory("dir", in: outer) { dir throws(FSError) in
                try await fs.createSubvolume("a", in: dir)
                try await fs.withDirectory("a", in: dir) { a throws(FSError) in try await fs.createSubvolume("deep", in: a) }
            }
            try await fs.createSubvolume("b", in: outer)
            try await fs.createSymlink("link", in: outer, target: "b")
            let nested = try await fs.nestedSubvolumes(of: outer)
            #expect(nested.map(\.path) == ["dir/a/deep", "dir/a", "b"])
            let dir = try await fs.openDirectory("dir", in: outer)
            await #expect(throws: FSError(.invalidArgument, .nestedSubvolumes)) { try await fs.nestedSubvolumes(of: dir) }
            await fs.close(dir)
            for subvolume in nested { try await fs.deleteSubvolume(id: subvolume.id, via: directory) }
            try await fs.deleteSubvolume("outer", in: directory)
            await fs.close(outer)
        }
    }

    @Test("a lock is held per open file: a second open cannot take it until the first closes", arguments: Backends.all)
    func locks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let first = try await fs.openFile("m-default.lock", in: directory, options: [.create, .write])
            let second = try await fs.openFile("m-default.lock", in: directory, options: [.create, .write])
            #expect(try await fs.tryLock(first))
            #expect(try await fs.tryLock(first))
            #expect(try await !fs.tryLock(second))
            let other = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let otherDirectory = try await sandbox.open(as: other)
            let third = try await other.openFile("m-default.lock", in: otherDirectory, options: [])
            #expect(try await !other.tryLock(third))
            #expect(try await fs.status(of: first).identity == fs.status(of: "m-default.lock", in: directory).identity)
            await fs.close(first)
            #expect(try await fs.tryLock(second))
            #expect(try await !other.tryLock(third))
            try await fs.unlink("m-default.lock", in: directory)
            #expect(try await fs.tryLock(second))
            await fs.close(second)
            await other.close(third)
            await other.close(otherDirectory)
        }
    }

    @Test(
        "a file created for an owner appears with that owner, open for writing; a taken name gives EEXIST; only root gives a file away",
        arguments: Backends.all)
    func createOwnedFile(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let file = try await fs.createFile("m-default.lock", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
            let status = try await fs.status(of: "m-default.lock", in: directory)
            #expect(status.kind == .file && status.owner == unprivilegedUser && status.group == unprivilegedUser)
            #expect(try await fs.status(of: file).identity == status.identity)
            try await fs.write(Array("pid".utf8), to: file)
            #expect(try await fs.tryLock(file))
            await fs.close(file)
            // The name is taken: by that file, by a link, by a directory.
            try await fs.createSymlink("link", in: directory, target: "nowhere")
            try await fs.makeDirectory("dir", in: directory)
            for taken: EntryName in ["m-default.lock", "link", "dir"] {
                await #expect(throws: FSError(.exists, .createFile, name: taken)) {
                    _ = try await fs.createFile(taken, in: directory, owner: 0, group: 0)
                }
            }
            #expect(try await fs.readLink("link", in: directory) == "nowhere")
            // In a directory of its own, a user may not give one away.
            try await fs.makeDirectory("mine", in: directory)
            try await fs.changeOwner(of: "mine", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
            let other = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let otherDirectory = try await sandbox.open(as: other)
            let mine = try await other.openDirectory("mine", in: otherDirectory)
            await #expect(throws: FSError(.notPermitted, .createFile, name: "given")) {
                _ = try await other.createFile("given", in: mine, owner: 0, group: 0)
            }
            let own = try await other.createFile("own", in: mine, owner: unprivilegedUser, group: unprivilegedUser)
            await other.close(own)
            #expect(try await other.names(mine) == ["own"])
            await other.close(mine)
            await other.close(otherDirectory)
        }
    }

    @Test("whether a lock is held shows without taking it, through any open file of the inode", arguments: Backends.all)
    func lockStatus(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let holder = try await fs.openFile("m-default.lock", in: directory, options: [.create, .write])
            let other = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let otherDirectory = try await sandbox.open(as: other)
            let looker = try await other.openFile("m-default.lock", in: otherDirectory, options: [])
            #expect(try await !other.isLockHeld(looker))
            #expect(try await fs.tryLock(holder))
            #expect(try await other.isLockHeld(looker))
            #expect(try await fs.isLockHeld(holder))
            // Looking took nothing: the holder still has it, the looker
            // cannot take it, and once released it is free.
            #expect(try await !other.tryLock(looker))
            await fs.close(holder)
            #expect(try await !other.isLockHeld(looker))
            #expect(try await other.tryLock(looker))
            await other.close(looker)
            await other.close(otherDirectory)
        }
    }

    @Test("a lock is seen through its own file only, not another filesystem's of the same inode", arguments: Backends.all)
    func lockStatusPerFilesystem(backend: any ConformanceBackend) async throws {
        // Two machine volumes: each a btrfs of its own, whose first files
        // get the same inode numbers.
        try await withSandbox(backend, SandboxOptions(crashable: true)) { first, firstDirectory in
            try await withSandbox(backend, SandboxOptions(crashable: true)) { second, secondDirectory in
                // (On the real backend both roots are this process.)
                let (fs, other) = (first.root, second.root)
                let holder = try await fs.openFile("m-default.lock", in: firstDirectory, options: [.create, .write])
                let looker = try await other.openFile("m-default.lock", in: secondDirectory, options: [.create, .write])
                let (held, free) = (try await fs.status(of: holder), try await other.status(of: looker))
                if backend is RealBackend { #expect(held.identity.inode == free.identity.inode) }
                #expect(try await fs.tryLock(holder))
                #expect(try await fs.isLockHeld(holder))
                #expect(try await !other.isLockHeld(looker))
                await fs.close(holder)
                await other.close(looker)
            }
        }
    }

    @Test("a process that runs exists; an id nobody has does not", arguments: Backends.all)
    func processExists(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, _ in
            let fs = sandbox.root
            #expect(await fs.processExists(fs.processID))
            #expect(await !fs.processExists(2_000_000_000))
            #expect(await !fs.processExists(0))
            // A third user's process exists too (the kernel answers EPERM
            // to the unprivileged signal), until it ends.
            let other = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let pid = try await sandbox.startProcess(as: unprivilegedUser + 1)
            #expect(await other.processExists(pid))
            #expect(await fs.processExists(pid))
            await sandbox.stopProcess(pid)
            #expect(await !other.processExists(pid))
            #expect(await !fs.processExists(pid))
        }
    }

    @Test("an exclusive create fails on any entry of the name, a dangling link too", arguments: Backends.all)
    func exclusiveCreate(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.writeFile("file", in: directory, "x")
            try await fs.createSymlink("dangling", in: directory, target: "nowhere")
            for name: EntryName in ["file", "dangling"] {
                await #expect(throws: FSError(.exists, .openFile, name: name)) {
                    try await fs.openFile(name, in: directory, options: [.create, .write, .exclusive])
                }
            }
            #expect(try await fs.names(directory) == ["dangling", "file"])
            await fs.close(try await fs.openFile("new", in: directory, options: [.create, .write, .exclusive]))
            #expect(try await fs.status(of: "new", in: directory).kind == .file)
        }
    }

    @Test("a FIFO is no file: opening it gives EINVAL at once, read-only or not; an exclusive create, EEXIST", arguments: Backends.all)
    func fifoIsNoFile(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await sandbox.makeFifo("m-default.lock")
            #expect(try await fs.status(of: "m-default.lock", in: directory).kind == .other)
            // A read-only open of a FIFO waits for a writer: it must not.
            for options: FileOpenOptions in [[], [.write], [.create, .write]] {
                await #expect(throws: FSError(.invalidArgument, .openFile, name: "m-default.lock")) {
                    try await fs.openFile("m-default.lock", in: directory, options: options)
                }
            }
            await #expect(throws: FSError(.exists, .openFile, name: "m-default.lock")) {
                try await fs.openFile("m-default.lock", in: directory, options: [.create, .write, .exclusive])
            }
            #expect(try await fs.status(of: "m-default.lock", in: directory).kind == .other)
        }
    }

    @Test(
        "btrfs calls on another filesystem (a tmpfs): ENOTTY, or libbtrfsutil's 'not btrfs' for info and nested",
        arguments: Backends.all)
    func notBtrfs(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("t", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            let t = try await fs.openDirectory("t", in: directory)
            try await fs.makeDirectory("d", in: t)
            await #expect(throws: FSError(.notSupported, .subvolumeID)) { try await fs.subvolumeID(of: t) }
            await #expect(throws: FSError(.notSupported, .createSubvolume, name: "s")) {
                try await fs.createSubvolume("s", in: t)
            }
            await #expect(throws: FSError(.notSupported, .deleteSubvolume, name: "d")) {
                try await fs.deleteSubvolume("d", in: t)
            }
            await #expect(throws: FSError(.notSupported, .setReadOnly)) { try await fs.setReadOnly(true, of: t) }
            await #expect(throws: FSError(.notSupported, .sync)) { try await fs.sync(t) }
            await #expect(throws: FSError(.notBtrfs, .subvolumeInfo)) { try await fs.subvolumeInfo(of: t) }
            await #expect(throws: FSError(.notBtrfs, .nestedSubvolumes)) { try await fs.nestedSubvolumes(of: t) }
            await fs.close(t)
            try await sandbox.unmount("t")
        }
    }

    @Test("a mount inside a subvolume is listed, and a delete tears it away", arguments: Backends.all)
    func mountInside(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("mnt", in: s)
            #expect(try await fs.mountPoints(inside: s).isEmpty)
            try await sandbox.mountTmpfs(at: "s/mnt")
            #expect(try await fs.mountPoints(inside: s) == [sandbox.path + "/s/mnt"])
            #expect(try await fs.mountPoints(inside: directory) == [sandbox.path + "/s/mnt"])
            // A tmpfs inside is not a mount of the subvolume: nothing
            // mounts `s` itself, here or elsewhere.
            #expect(try await fs.mountPoints(of: s).isEmpty)
            #expect(try await fs.status(of: "mnt", in: s).kind == .directory)
            try await fs.deleteSubvolume("s", in: directory)
            #expect(try await fs.mountPoints(inside: directory).isEmpty)
            try await sandbox.unmount("s/mnt")
            await fs.close(s)
        }
    }

    @Test("an unlinked file's lock stays held by its open file until that closes", arguments: Backends.all)
    func lockSurvivesUnlink(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let holder = try await fs.openFile("l", in: directory, options: [.create, .write])
            let other = try await fs.openFile("l", in: directory, options: [])
            #expect(try await fs.tryLock(holder))
            try await fs.unlink("l", in: directory)
            #expect(try await !fs.tryLock(other))
            await fs.close(holder)
            #expect(try await fs.tryLock(other))
            await fs.close(other)
        }
    }

    @Test("a lock on a file in a deleted subvolume stays held by its open file", arguments: Backends.all)
    func lockSurvivesSubvolumeDelete(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            let holder = try await fs.openFile("l", in: s, options: [.create, .write])
            let other = try await fs.openFile("l", in: s, options: [])
            #expect(try await fs.tryLock(holder))
            try await fs.deleteSubvolume("s", in: directory)
            #expect(try await !fs.tryLock(other))
            await fs.close(holder)
            #expect(try await fs.tryLock(other))
            await fs.close(other)
            await fs.close(s)
        }
    }

    @Test("a write through a descriptor opened read-only gives EBADF", arguments: Backends.all)
    func writeReadOnlyDescriptor(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.writeFile("f", in: directory, "x")
            let file = try await fs.openFile("f", in: directory, options: [])
            await #expect(throws: FSError(.badDescriptor, .write)) { try await fs.write([1], to: file) }
            #expect(try await fs.readAll(file) == Array("x".utf8))
            await fs.close(file)
        }
    }

    @Test("new entries belong to their creator: directories and subvolumes 0755, files 0644, links 0777", arguments: Backends.all)
    func newEntryAttributes(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.makeDirectory("d", in: home)
            try await user.createSubvolume("s", in: home)
            try await user.writeFile("f", in: home, "x")
            try await user.createSymlink("l", in: home, target: "f")
            let expected: [(EntryName, EntryKind, UInt16)] = [
                ("d", .directory, 0o755), ("s", .subvolume, 0o755), ("f", .file, 0o644), ("l", .symlink, 0o777),
            ]
            for (name, kind, permissions) in expected {
                let status = try await user.status(of: name, in: home)
                #expect(status.kind == kind)
                #expect(status.owner == unprivilegedUser && status.group == unprivilegedUser)
                #expect(status.permissions == permissions, "\(name)")
            }
        }
    }

    @Test("a taken name gives EEXIST before a read-only subvolume's EROFS; an empty link target ENOENT", arguments: Backends.all)
    func createChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("taken", in: s)
            await #expect(throws: FSError(.exists, .makeDirectory, name: "taken")) { try await fs.makeDirectory("taken", in: s) }
            await #expect(throws: FSError(.exists, .createSymlink, name: "taken")) {
                try await fs.createSymlink("taken", in: s, target: "x")
            }
            await #expect(throws: FSError(.exists, .createSubvolume, name: "taken")) { try await fs.createSubvolume("taken", in: s) }
            await #expect(throws: FSError(.noEntry, .createSymlink, name: "empty")) {
                try await fs.createSymlink("empty", in: s, target: "")
            }
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.exists, .makeDirectory, name: "taken")) { try await fs.makeDirectory("taken", in: s) }
            await #expect(throws: FSError(.exists, .createSubvolume, name: "taken")) { try await fs.createSubvolume("taken", in: s) }
            await #expect(throws: FSError(.readOnly, .makeDirectory, name: "new")) { try await fs.makeDirectory("new", in: s) }
            await #expect(throws: FSError(.readOnly, .createSymlink, name: "new")) {
                try await fs.createSymlink("new", in: s, target: "x")
            }
            await #expect(throws: FSError(.readOnly, .createSubvolume, name: "new")) { try await fs.createSubvolume("new", in: s) }
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
        }
    }

    @Test("opening a file: missing gives ENOENT, missing permission bits EACCES", arguments: Backends.all)
    func openFileChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            await #expect(throws: FSError(.noEntry, .openFile, name: "missing")) {
                try await fs.openFile("missing", in: directory, options: [.write])
            }
            try await fs.writeFile("f", in: directory, "x")
            try await fs.writeFile("secret", in: directory, "x")
            try await sandbox.setPermissions("secret", 0o600)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .openFile, name: "f")) {
                try await user.openFile("f", in: top, options: [.write])
            }
            await #expect(throws: FSError(.accessDenied, .openFile, name: "secret")) {
                try await user.openFile("secret", in: top, options: [])
            }
            await user.close(try await user.openFile("f", in: top, options: []))
            await user.close(top)
        }
    }

    @Test("openRoot: ENOENT, ENOTDIR through or at a file, ELOOP for a loop; it follows links and ..", arguments: Backends.all)
    func openRootWalk(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("d", in: directory)
            try await fs.writeFile("f", in: directory, "x")
            try await fs.createSymlink("loop", in: directory, target: "loop")
            try await fs.createSymlink("abs", in: directory, target: sandbox.path + "/d")
            let base = sandbox.path
            await #expect(throws: FSError(.noEntry, .openRoot, path: base + "/missing/x")) { try await fs.openRoot(base + "/missing/x") }
            await #expect(throws: FSError(.notDirectory, .openRoot, path: base + "/f/x")) { try await fs.openRoot(base + "/f/x") }
            await #expect(throws: FSError(.notDirectory, .openRoot, path: base + "/f")) { try await fs.openRoot(base + "/f") }
            await #expect(throws: FSError(.symlinkLoop, .openRoot, path: base + "/loop")) { try await fs.openRoot(base + "/loop") }
            let d = try await fs.status(of: "d", in: directory)
            for path in [base + "/abs", base + "/d/../d", base + "/abs/../d/."] {
                let opened = try await fs.openRoot(path)
                #expect(try await fs.status(of: opened).identity == d.identity, "\(path)")
                await fs.close(opened)
            }
        }
    }

    @Test("openRoot of a relative path gives EINVAL", arguments: Backends.all)
    func openRootRelative(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, _ in
            await #expect(throws: FSError(.invalidArgument, .openRoot, path: "no-such-relative-dir")) {
                try await sandbox.root.openRoot("no-such-relative-dir")
            }
        }
    }

    @Test("openRoot of a path holding a NUL byte finds nothing: ENOENT", arguments: Backends.all)
    func openRootNUL(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("d", in: directory)
            let path = sandbox.path + "/d\u{0}x"
            await #expect(throws: FSError(.noEntry, .openRoot, path: path)) { try await fs.openRoot(path) }
        }
    }

    @Test("unlink: a directory or subvolume gives EISDIR, a missing name ENOENT, a read-only subvolume EROFS", arguments: Backends.all)
    func unlinkChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("d", in: directory)
            try await fs.createSubvolume("s", in: directory)
            await #expect(throws: FSError(.isDirectory, .unlink, name: "d")) { try await fs.unlink("d", in: directory) }
            await #expect(throws: FSError(.isDirectory, .unlink, name: "s")) { try await fs.unlink("s", in: directory) }
            await #expect(throws: FSError(.noEntry, .unlink, name: "missing")) { try await fs.unlink("missing", in: directory) }
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.writeFile("f", in: s, "x")
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.readOnly, .unlink, name: "f")) { try await fs.unlink("f", in: s) }
            try await fs.setReadOnly(false, of: s)
            try await fs.unlink("f", in: s)
            await fs.close(s)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            try await fs.writeFile("g", in: directory, "x")
            await #expect(throws: FSError(.accessDenied, .unlink, name: "g")) { try await user.unlink("g", in: top) }
            await user.close(top)
        }
    }

    @Test("rmdir: a file or link gives ENOTDIR, a full directory ENOTEMPTY, a mount point EBUSY, a read-only subvolume EROFS", arguments: Backends.all)
    func removeDirectoryChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.writeFile("f", in: directory, "x")
            try await fs.createSymlink("l", in: directory, target: "d")
            try await fs.makeDirectory("d", in: directory)
            try await fs.withDirectory("d", in: directory) { d throws(FSError) in try await fs.makeDirectory("x", in: d) }
            await #expect(throws: FSError(.notDirectory, .removeDirectory, name: "f")) { try await fs.removeDirectory("f", in: directory) }
            await #expect(throws: FSError(.notDirectory, .removeDirectory, name: "l")) { try await fs.removeDirectory("l", in: directory) }
            await #expect(throws: FSError(.noEntry, .removeDirectory, name: "missing")) {
                try await fs.removeDirectory("missing", in: directory)
            }
            await #expect(throws: FSError(.notEmpty, .removeDirectory, name: "d")) { try await fs.removeDirectory("d", in: directory) }
            try await fs.makeDirectory("t", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            await #expect(throws: FSError(.busy, .removeDirectory, name: "t")) { try await fs.removeDirectory("t", in: directory) }
            try await sandbox.unmount("t")
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("e", in: s)
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.readOnly, .removeDirectory, name: "e")) { try await fs.removeDirectory("e", in: s) }
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
        }
    }

    @Test("a mount point is listed and looked up as the root of what is mounted there, without a subvolume id", arguments: Backends.all)
    func mountPointStatus(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let covered = try await fs.status(of: "s", in: directory)
            try await sandbox.mountTmpfs(at: "s")
            let mounted = try await fs.status(of: "s", in: directory)
            #expect(mounted.kind == .directory)
            #expect(mounted.identity.device != covered.identity.device)
            let entry = try #require(try await fs.list(directory).first { $0.name == "s" })
            #expect(entry.status == mounted)
            #expect(entry.subvolumeID == nil)
            try await sandbox.unmount("s")
        }
    }
}
