import FSProtocol
import MachineLayout

/// Deleting a subvolume that holds nested subvolumes: those first, deepest
/// first, and the one exception to never touching the read-only property.
///
/// The kernel refuses every change inside a read-only subvolume, root's
/// delete of a nested one included (by name and by id: EROFS). So before
/// the nested subvolumes of a read-only subvolume that is being deleted go,
/// its flag is cleared, through the descriptor whose identity was just
/// checked; a read-only nested subvolume that itself holds nested ones is
/// opened from the outer one (one name at a time, never following a link),
/// checked to be the subvolume the iterator named, and cleared the same
/// way. When the delete fails after that, every flag cleared is set again,
/// so that nothing kept is left writable.
extension ApplyRun {
    /// The read-only flags one delete cleared.
    struct ClearedFlags {
        /// The outer subvolume's flag.
        var outer = false
        /// Nested subvolumes whose flag was cleared, held open so that a
        /// failure can set it again through the same descriptor.
        var nested: [(path: String, directory: DirectoryHandle)] = []
    }

    /// Deletes an opened subvolume by id; on ENOTEMPTY its nested
    /// subvolumes first, then it again. Flags it cleared are set again when
    /// it fails.
    mutating func deleteWithNested(
        _ id: SubvolumeID, _ name: EntryName, _ item: PlanItem, _ subvolume: DirectoryHandle,
        in machineDirectory: DirectoryHandle
    ) async -> Outcome {
        var cleared = ClearedFlags()
        let outcome = await deleteWithNested(id, name, item, subvolume, in: machineDirectory, cleared: &cleared)
        if case .deleted = outcome {} else { await restore(cleared, of: subvolume, item: item) }
        for (_, directory) in cleared.nested { await fileSystem.close(directory) }
        return outcome
    }

    private mutating func deleteWithNested(
        _ id: SubvolumeID, _ name: EntryName, _ item: PlanItem, _ subvolume: DirectoryHandle,
        in machineDirectory: DirectoryHandle, cleared: inout ClearedFlags
    ) async -> Outcome {
        var nestedDeleted: [String] = []
        while true {
            do throws(FSError) {
                try await deleteByID(id, subvolume, name: name, item: item, in: machineDirectory)
                return .deleted(nested: nestedDeleted)
            } catch where error.kind == .notEmpty && nestedDeleted.isEmpty {
                // Nested subvolumes: found from the subvolume itself, never
                // through a link, and deleted deepest first.
                switch await deleteNested(of: subvolume, item: item, in: machineDirectory, cleared: &cleared) {
                case .success(let paths) where !paths.isEmpty: nestedDeleted = paths
                case .success: return failedDelete(item, error)
                case .failure(let failure): return failure.outcome
                }
            } catch {
                if error.kind == .noEntry { return .vanished }
                return failedDelete(item, error)
            }
        }
    }

    /// Deletes by id; where the kernel cannot, by name, when the name still
    /// holds the subvolume opened (`FileSystem.deleteSubvolume(id:opened:named:in:)`).
    func deleteByID(
        _ id: SubvolumeID, _ subvolume: DirectoryHandle, name: EntryName, item: PlanItem,
        in machineDirectory: DirectoryHandle
    ) async throws(FSError) {
        logger.debug("deleting subvolume", metadata: ["path": "\(item.path)", "id": "\(id)"])
        try await fileSystem.deleteSubvolume(id: id, opened: subvolume, named: name, in: machineDirectory)
    }

    mutating func failedDelete(_ item: PlanItem, _ error: FSError) -> Outcome {
        report.add(line(item.path, .error, "unable to delete subvolume", fileSystem.deletionCause(error)))
        return .failed(error)
    }

    /// Deletes the subvolumes below an open one, deepest first, each once
    /// the subvolume holding it is writable; the paths deleted, or the
    /// outcome of the outer subvolume when a step fails.
    mutating func deleteNested(
        of subvolume: DirectoryHandle, item: PlanItem, in machineDirectory: DirectoryHandle,
        cleared: inout ClearedFlags
    ) async -> Result<[String], NestedFailure> {
        let nested: [NestedSubvolume]
        do throws(FSError) {
            nested = try await fileSystem.nestedSubvolumes(of: subvolume)
        } catch {
            report.add(line(item.path, .error, "unable to delete subvolume", error.cause))
            return .failure(NestedFailure(outcome: .failed(error)))
        }
        if nested.isEmpty { return .success([]) }
        switch await clearReadOnly(of: subvolume, nested: nil, item: item) {
        case .failure(let failure): return .failure(failure)
        case .success(let wasCleared): cleared.outer = wasCleared
        }
        let paths = Dictionary(nested.map { (ExactText($0.path), $0.id) }, uniquingKeysWith: { first, _ in first })
        // Paths holding a rendering of bytes that are not UTF-8: no call
        // takes them, and another nested subvolume's exact bytes can spell
        // the same text (`a\xff` with a backslash), so a holder so written
        // is never opened.
        let rendered = Set(nested.lazy.filter { !$0.isExact }.map { ExactText($0.path) })
        // The nested subvolumes that hold others, once writable.
        var holders: Set<ExactText> = []
        var deleted: [String] = []
        for inner in nested {
            if let holder = Self.holder(of: inner.path, among: paths), !holders.contains(ExactText(holder.path)) {
                let directory: DirectoryHandle
                let exact = !rendered.contains(ExactText(holder.path))
                switch await openNested(holder.path, id: holder.id, exact: exact, in: subvolume, item: item) {
                case .failure(let failure): return .failure(failure)
                case .success(let opened): directory = opened
                }
                switch await clearReadOnly(of: directory, nested: holder.path, item: item) {
                case .failure(let failure):
                    await fileSystem.close(directory)
                    return .failure(failure)
                case .success(true):
                    cleared.nested.append((holder.path, directory))
                case .success(false):
                    await fileSystem.close(directory)
                }
                holders.insert(ExactText(holder.path))
            }
            do throws(FSError) {
                logger.debug("deleting nested subvolume", metadata: ["path": "\(item.path)/\(inner.path)"])
                try await fileSystem.deleteSubvolume(id: inner.id, via: machineDirectory)
            } catch {
                if error.kind == .noEntry { continue }
                report.add(
                    line(
                        item.path, .error, "unable to delete subvolume",
                        "nested subvolume \(inner.path): \(fileSystem.deletionCause(error))"))
                return .failure(NestedFailure(outcome: .failed(error)))
            }
            deleted.append(inner.path)
            countDeletion()
            report.add(
                Diagnostic(
                    path: item.path.rendered(root: plan.root) + "/" + inner.path, level: .info,
                    message: "deleted nested subvolume"))
        }
        return .success(deleted)
    }

    struct NestedFailure: Error {
        var outcome: Outcome
    }

    /// The nested subvolume that directly holds the one at `path`: the
    /// longest proper prefix of `path` that is itself a nested subvolume;
    /// nil when the outer subvolume holds it.
    static func holder(of path: String, among nested: [ExactText: SubvolumeID]) -> (path: String, id: SubvolumeID)? {
        var prefix = Substring(path)
        while let slash = prefix.utf8.lastIndex(of: UInt8(ascii: "/")) {
            prefix = prefix[..<slash]
            if let id = nested[ExactText(String(prefix))] { return (String(prefix), id) }
        }
        return nil
    }

    /// Opens the nested subvolume at `path` below the open subvolume, one
    /// name at a time without following a link, and checks that it is the
    /// subvolume `id`. A path that is not `exact` (it renders bytes that
    /// are not UTF-8) is not opened: EILSEQ, an error that keeps it.
    mutating func openNested(
        _ path: String, id: SubvolumeID, exact: Bool, in subvolume: DirectoryHandle, item: PlanItem
    ) async -> Result<DirectoryHandle, NestedFailure> {
        var current: DirectoryHandle?
        do throws(FSError) {
            guard exact else { throw FSError(.notUTF8, .openDirectory, path: path) }
            for component in EntryName.components(of: path) {
                guard let name = EntryName(String(component)) else {
                    throw FSError(.invalidArgument, .openDirectory, path: path)
                }
                let next = try await fileSystem.openDirectory(name, in: current ?? subvolume)
                if let current { await fileSystem.close(current) }
                current = next
            }
            guard let directory = current else { throw FSError(.invalidArgument, .openDirectory, path: path) }
            guard try await fileSystem.subvolumeID(of: directory) == id,
                try await fileSystem.status(of: directory).kind == .subvolume
            else {
                await fileSystem.close(directory)
                report.add(line(item.path, .warning, "changed since scan, kept", "nested subvolume \(path) changed"))
                return .failure(NestedFailure(outcome: .changed))
            }
            return .success(directory)
        } catch {
            if let current { await fileSystem.close(current) }
            report.add(line(item.path, .error, "unable to delete subvolume", "nested subvolume \(path): \(error.cause)"))
            return .failure(NestedFailure(outcome: .failed(error)))
        }
    }

    /// Clears the read-only flag of an open subvolume that is being
    /// deleted and holds nested subvolumes, if it is set: whether it was.
    /// `nested` names a nested subvolume (nil: the outer one).
    mutating func clearReadOnly(of directory: DirectoryHandle, nested: String?, item: PlanItem) async
        -> Result<Bool, NestedFailure>
    {
        do throws(FSError) {
            guard try await fileSystem.subvolumeInfo(of: directory).isReadOnly else { return .success(false) }
            logger.debug(
                "clearing read-only to delete nested subvolumes",
                metadata: ["path": "\(item.path)\(nested.map { "/" + $0 } ?? "")"])
            try await fileSystem.setReadOnly(false, of: directory)
            return .success(true)
        } catch {
            let cause = nested.map { "nested subvolume \($0): \(error.cause)" } ?? error.cause
            report.add(line(item.path, .error, "unable to change subvolume property", cause))
            return .failure(NestedFailure(outcome: .failed(error)))
        }
    }

    /// Sets again the read-only flags a failed delete cleared, innermost
    /// first.
    mutating func restore(_ cleared: ClearedFlags, of subvolume: DirectoryHandle, item: PlanItem) async {
        var targets = cleared.nested.reversed().map { (Optional($0.path), $0.directory) }
        if cleared.outer { targets.append((nil, subvolume)) }
        for (path, directory) in targets {
            do throws(FSError) {
                try await fileSystem.setReadOnly(true, of: directory)
            } catch where error.kind == .noEntry {
                continue
            } catch {
                let what = path.map { "nested subvolume \($0): " } ?? ""
                report.add(
                    line(
                        item.path, .error, "unable to change subvolume property",
                        "\(what)read-only not set again after the failed delete: \(error.cause)"))
            }
        }
    }
}

extension FileSystem {
    /// Why an open subvolume must not be deleted for what is mounted, as a
    /// line's cause, with the mount points; nil when nothing is: a mount
    /// at or inside it (the delete would fail, or detach it), else a mount
    /// of it elsewhere (a bind mount: its users would be left on a deleted
    /// subvolume).
    func mountRefusal(of subvolume: DirectoryHandle) async throws(FSError) -> (String, [String])? {
        let inside = try await mountPoints(inside: subvolume)
        if !inside.isEmpty { return ("mount point inside: " + inside.joined(separator: ", "), inside) }
        let elsewhere = try await mountPoints(of: subvolume)
        if !elsewhere.isEmpty { return ("mounted elsewhere: " + elsewhere.joined(separator: ", "), elsewhere) }
        return nil
    }

    /// The cause of a failed subvolume deletion, as a line gives it: the
    /// errno's text, and what it means when btrfs answers so to this
    /// process.
    func deletionCause(_ error: FSError) -> String {
        switch error.kind {
        case .notEmpty: "nested subvolume (ENOTEMPTY)"
        // Root deletes a read-only subvolume: for root, EROFS is the
        // directory it is in (a read-only subvolume) or the filesystem.
        case .readOnly:
            isPrivileged ? "read-only parent subvolume or file system (EROFS)" : "read-only subvolume, run as root (EROFS)"
        // What btrfs refuses root: the subvolume, or the directory it is
        // in, immutable or append-only (btrfs_may_delete); a send of it
        // under way, an active swap file in it, the default subvolume
        // (btrfs_delete_subvolume).
        case .notPermitted where isPrivileged:
            "operation not permitted: immutable or append-only (it or its directory; see lsattr), "
                + "a btrfs send of it under way, an active swap file in it, or the filesystem's default subvolume (EPERM)"
        default: error.cause
        }
    }
}
