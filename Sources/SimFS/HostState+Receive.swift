import FSProtocol

/// `btrfs receive -e`, as btrfs-progs does it, in three steps so that a
/// simulation can interleave or crash between them: the subvolume appears
/// (writable, without received UUID); at the stream's end it gets the
/// stream's UUID as its received UUID (`BTRFS_IOC_SET_RECEIVED_SUBVOL`),
/// then it is made read-only (`BTRFS_IOC_SUBVOL_SETFLAGS`); each ioctl
/// commits. btrfs-progs' `finish_subvol` does the two in this order, so a
/// receive stopped in between, or a crash in between, leaves a writable
/// subvolume with the received UUID.
/// The stream's content commands are checked (lengths, checksums), not
/// applied.
extension HostState {
    /// The first step: checks, then the new subvolume (a snapshot of the
    /// parent for an incremental stream). Its id.
    mutating func beginReceive(_ pid: Int32, _ header: SendStreamHeader, _ handle: DirectoryHandle) throws(Kind)
        -> SubvolumeID
    {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try requireBtrfs(directory, else: .notBtrfs)
        // btrfs receive needs root for its ioctls.
        if !credentials.isRoot { throw .notPermitted }
        var parent: NodeRef?
        if let wanted = header.parent {
            // By received UUID first, then by UUID, as btrfs-progs searches.
            let live = filesystems[directory.filesystem].subvolumes.values.filter { !$0.isDeleted }.sorted { $0.id < $1.id }
            guard let found = live.first(where: { $0.receivedUUID == wanted.uuid }) ?? live.first(where: { $0.uuid == wanted.uuid })
            else { throw .noEntry }
            parent = NodeRef(filesystem: directory.filesystem, node: found.root)
        }
        if child(header.name, of: directory) != nil { throw .exists }
        try checkModifiable(directory, by: credentials)
        let created: NodeRef
        if let parent {
            created = copySubvolume(parent, named: header.name, in: directory, readOnly: false)
            if isRecordingEffects {
                let effect: SimulatedEffect = .createdSubvolume(subvolumeRecord(for: created), sourceID: node(parent).subvolume)
                record(effect)
            }
            // A snapshot commits the transaction.
            commit(directory.filesystem)
        } else {
            created = addSubvolume(named: header.name, in: directory, owner: 0, group: 0, permissions: 0o755)
            if isRecordingEffects {
                let effect: SimulatedEffect = .createdSubvolume(subvolumeRecord(for: created), sourceID: nil)
                record(effect)
            }
        }
        return node(created).subvolume
    }

    /// The second step: a complete stream gives the subvolume its
    /// received UUID (and commits); a broken one leaves it as it is and
    /// gives `ioError`.
    mutating func finishReceive(
        _ pid: Int32, _ header: SendStreamHeader, _ id: SubvolumeID, on handle: DirectoryHandle, complete: Bool
    ) throws(Kind) {
        _ = try process(pid)
        let filesystem = try directory(pid, handle).filesystem
        guard let subvolume = filesystems[filesystem].subvolumes[id], !subvolume.isDeleted else { throw .noEntry }
        guard complete else { throw .ioError }
        filesystems[filesystem].updateSubvolume(id) { $0.receivedUUID = header.uuid }
        commit(filesystem)
    }

    /// The third step: the received subvolume is made read-only, as
    /// `setReadOnly` does (and commits).
    mutating func sealReceive(_ pid: Int32, _ id: SubvolumeID, on handle: DirectoryHandle) throws(Kind) {
        _ = try process(pid)
        let filesystem = try directory(pid, handle).filesystem
        guard let subvolume = filesystems[filesystem].subvolumes[id], !subvolume.isDeleted else { throw .noEntry }
        filesystems[filesystem].updateSubvolume(id) { $0.isReadOnly = true }
        if isRecordingEffects {
            let effect: SimulatedEffect = .setReadOnly(
                subvolumeRecord(for: NodeRef(filesystem: filesystem, node: subvolume.root)), readOnly: true)
            record(effect)
        }
        commit(filesystem)
    }
}
