/// A task executor that runs nothing on its own: jobs wait in a queue until
/// the driver drains it, on the driver's thread, in the order they came.
///
/// Every simulated actor runs as a task preferring this executor, so all of
/// them run on one thread, one job at a time, in an order the simulation
/// decides: runs repeat exactly. (Isolating the actors to an actor with
/// this as its serial executor was tried: a resumed continuation then
/// passes through the global executor first, which breaks determinism.)
final class DrainingExecutor: TaskExecutor, @unchecked Sendable {
    // Confined to the driver's thread: jobs are enqueued by the driver (a
    // continuation it resumes) or by jobs it runs.
    private var queue: [UnownedJob] = []
    private var head = 0

    func enqueue(_ job: consuming ExecutorJob) {
        queue.append(UnownedJob(job))
    }

    /// Runs queued jobs until none is left.
    func drain() {
        while head < queue.count {
            let job = queue[head]
            head += 1
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
        queue.removeAll(keepingCapacity: true)
        head = 0
    }

    var isIdle: Bool { head >= queue.count }
}
