/// Who a process is: root or an unprivileged user.
public struct Credentials: Hashable, Sendable, CustomStringConvertible {
    public var user: UInt32
    public var group: UInt32

    public init(user: UInt32, group: UInt32) {
        self.user = user
        self.group = group
    }

    public static let root = Credentials(user: 0, group: 0)

    public var isRoot: Bool { user == 0 }
    public var description: String { isRoot ? "root" : "uid \(user)" }
}
