import Foundation
import Synchronization

/// Counts the test cases that ran on the real backend and prints the count
/// when the test process exits, so that CI's output shows them. A test
/// case is named by its file and function: one that checks twice, or makes
/// two sandboxes, counts once.
public enum RealBackendCount {
    static let cases = Mutex<Set<String>?>(nil)

    /// Notes the real-backend test case `function` of `file`.
    public static func record(file: String, function: String) {
        cases.withLock { cases in
            if cases == nil {
                cases = []
                atexit {
                    let total = RealBackendCount.cases.withLock { $0?.count ?? 0 }
                    let mount = RealBackendAvailability.mountPoint
                    FileHandle.standardError.write(Data("real-backend test cases run: \(total) (on \(mount))\n".utf8))
                }
            }
            cases?.insert(file + " " + function)
        }
    }
}
