import Dispatch
import Foundation

/// What one simulated step costs with each hand-off between actors (the
/// measurement behind the protocol's `async` shape, docs/architecture.md):
/// three actors, a driver picking the next one at random, trivial steps.
enum StepCostBenchmark {
    static func run() {
        let threads = threadHandOff(actors: 3, steps: 100_000)
        let tasks = taskHandOff(actors: 3, steps: 1_000_000)
        print("step hand-off, three actors, trivial steps")
        print("  threads and semaphores:        \(pad(String(Int(threads)), 10)) steps/s")
        print("  tasks on a draining executor:  \(pad(String(Int(tasks)), 10)) steps/s")
    }

    final class ThreadActor: @unchecked Sendable {
        let go = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
    }

    static func threadHandOff(actors count: Int, steps: Int) -> Double {
        let actors = (0..<count).map { _ in ThreadActor() }
        for actor in actors {
            Thread.detachNewThread {
                for _ in 0..<steps {
                    actor.go.wait()
                    actor.done.signal()
                }
            }
        }
        var remaining = Array(repeating: steps, count: count)
        var random = SystemRandomNumberGenerator()
        var total = 0
        let start = ContinuousClock.now
        while true {
            let live = remaining.indices.filter { remaining[$0] > 0 }
            guard let index = live.randomElement(using: &random) else { break }
            actors[index].go.signal()
            actors[index].done.wait()
            remaining[index] -= 1
            total += 1
        }
        return Double(total) / (ContinuousClock.now - start).seconds
    }

    final class DrainingExecutor: TaskExecutor, @unchecked Sendable {
        var queue: [UnownedJob] = []
        func enqueue(_ job: consuming ExecutorJob) { queue.append(UnownedJob(job)) }
        func drain() {
            var index = 0
            while index < queue.count {
                queue[index].runSynchronously(on: asUnownedTaskExecutor())
                index += 1
            }
            queue.removeAll(keepingCapacity: true)
        }
    }

    final class Parking: @unchecked Sendable {
        var parked: [UnsafeContinuation<Void, Never>?]
        init(_ count: Int) { parked = Array(repeating: nil, count: count) }
        func step(_ index: Int) async { await withUnsafeContinuation { parked[index] = $0 } }
    }

    static func taskHandOff(actors count: Int, steps: Int) -> Double {
        let executor = DrainingExecutor()
        let parking = Parking(count)
        for index in 0..<count {
            Task(executorPreference: executor) { for _ in 0..<steps { await parking.step(index) } }
        }
        executor.drain()
        var random = SystemRandomNumberGenerator()
        var total = 0
        let start = ContinuousClock.now
        while true {
            let live = parking.parked.indices.filter { parking.parked[$0] != nil }
            guard let index = live.randomElement(using: &random), let continuation = parking.parked[index] else { break }
            parking.parked[index] = nil
            continuation.resume()
            total += 1
            executor.drain()
        }
        return Double(total) / (ContinuousClock.now - start).seconds
    }
}
