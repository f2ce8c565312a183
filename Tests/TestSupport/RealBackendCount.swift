import Foundation
import Synchronization

/// Counts the test cases that ran on the real backend and prints the count
/// when the test process exits, so that CI's output shows them.
public enum RealBackendCount {
    static let count = Atomic<Int>(0)
    static let registered = Mutex(false)

    /// Notes one real-backend test case.
    public static func record() {
        count.add(1, ordering: .relaxed)
        registered.withLock { registered in
            guard !registered else { return }
            registered = true
            atexit {
                let total = RealBackendCount.count.load(ordering: .relaxed)
                let mount = RealBackendAvailability.mountPoint
                FileHandle.standardError.write(Data("real-backend test cases run: \(total) (on \(mount))\n".utf8))
            }
        }
    }
}
