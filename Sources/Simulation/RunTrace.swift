/// What a run did, step by step, when it keeps a trace: exploring runs
/// keep none, and a schedule is replayed with one when its trace is
/// wanted.
struct RunTrace {
    let isKept: Bool
    private(set) var entries: [TraceEntry] = []

    init(kept: Bool) { isKept = kept }

    mutating func record(step: Int, time: Int, actor: Int?, _ event: @autoclosure () -> TraceEntry.Event) {
        if isKept { entries.append(TraceEntry(step: step, time: time, actor: actor, event: event())) }
    }
}
