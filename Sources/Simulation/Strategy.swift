/// What a strategy sees when it chooses.
struct ChoiceContext {
    /// The step about to be taken, from 0.
    var step: Int
    /// The actor that took the previous step, if any.
    var lastActor: Int?
    /// The runnable actors and the faults allowed now, in a fixed order:
    /// runs by actor index, then crashes, then the host crash.
    var options: [Choice]
}

/// Decides a schedule, one choice at a time.
protocol SchedulingStrategy {
    mutating func choose(_ context: ChoiceContext) -> Choice?
}

/// How the strategies pick faults: with this probability a step becomes
/// one of the allowed faults instead of a run.
let faultProbability = 0.05

extension ChoiceContext {
    /// How many options are runs: they come first.
    var runCount: Int { options.firstIndex(where: \.isFault) ?? options.count }
    var runs: ArraySlice<Choice> { options[..<runCount] }
    var faults: ArraySlice<Choice> { options[runCount...] }
}

/// Uniformly random among the runnable actors, faults now and then.
struct RandomStrategy: SchedulingStrategy {
    var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func choose(_ context: ChoiceContext) -> Choice? {
        let runCount = context.runCount
        let faultCount = context.options.count - runCount
        if faultCount > 0, random.nextDouble() < faultProbability {
            return context.options[runCount + random.next(below: faultCount)]
        }
        return runCount == 0 ? nil : context.options[random.next(below: runCount)]
    }
}

/// PCT (probabilistic concurrency testing, Burckhardt et al.): random
/// distinct priorities for the actors, the highest-priority runnable actor
/// always runs, and at d-1 random steps the running actor drops below all
/// others. Bugs of depth d show with probability at least 1/(n k^(d-1)).
struct PCTStrategy: SchedulingStrategy {
    var random: SeededRandom
    let depth: Int
    var priorities: [Int: Int] = [:]
    var changePoints: [Int]
    var nextInitial: Int

    init(seed: UInt64, depth: Int, expectedSteps: Int) {
        random = SeededRandom(seed: seed)
        self.depth = max(1, depth)
        var points: Set<Int> = []
        while points.count < self.depth - 1, points.count < max(1, expectedSteps) {
            points.insert(random.next(below: max(1, expectedSteps)))
        }
        changePoints = points.sorted()
        nextInitial = self.depth
    }

    mutating func priority(of actor: Int) -> Int {
        if let priority = priorities[actor] { return priority }
        // A newcomer gets a random place among the initial priorities.
        nextInitial += 1
        let priority = self.depth + random.next(below: 1000) * 1000 + nextInitial
        priorities[actor] = priority
        return priority
    }

    mutating func choose(_ context: ChoiceContext) -> Choice? {
        if let index = changePoints.firstIndex(of: context.step), let last = context.lastActor {
            priorities[last] = depth - 1 - index
        }
        let faults = context.faults
        if !faults.isEmpty, random.nextDouble() < faultProbability {
            return faults[faults.startIndex + random.next(below: faults.count)]
        }
        var best: (Choice, Int)?
        for choice in context.runs {
            guard case .run(let actor) = choice else { continue }
            let priority = priority(of: actor)
            if let current = best, priority <= current.1 { continue }
            best = (choice, priority)
        }
        return best?.0
    }
}

/// A recorded schedule, choice by choice; nil when it no longer fits.
struct ReplayStrategy: SchedulingStrategy {
    let choices: [Choice]
    var position = 0
    var diverged = false

    init(_ choices: [Choice]) { self.choices = choices }

    mutating func choose(_ context: ChoiceContext) -> Choice? {
        guard position < choices.count else {
            // Past the recording: run the lowest runnable actor.
            return context.runs.first
        }
        let choice = choices[position]
        position += 1
        guard context.options.contains(choice) else {
            diverged = true
            return nil
        }
        return choice
    }
}

/// A forced prefix, then no preemption: the last actor goes on while it
/// can, else the lowest runnable one. Records the options of every step
/// after the prefix for the bounded-exhaustive explorer.
struct PrefixStrategy: SchedulingStrategy {
    let prefix: [Choice]
    var frames: [ExplorationFrame] = []

    init(prefix: [Choice]) { self.prefix = prefix }

    mutating func choose(_ context: ChoiceContext) -> Choice? {
        let choice: Choice?
        if context.step < prefix.count {
            choice = context.options.contains(prefix[context.step]) ? prefix[context.step] : nil
        } else if let last = context.lastActor, context.options.contains(.run(last)) {
            choice = .run(last)
        } else {
            choice = context.runs.first
        }
        // The explorer keeps its own frames for the prefix.
        if context.step >= prefix.count, let choice, let index = context.options.firstIndex(of: choice) {
            frames.append(ExplorationFrame(options: context.options, chosen: index, lastActor: context.lastActor))
        }
        return choice
    }
}

/// One step of an explored schedule: the options it had and which one it
/// took.
struct ExplorationFrame {
    var options: [Choice]
    var chosen: Int
    var lastActor: Int?
    /// The option taken first (the default).
    let first: Int
    /// The options below this index have been considered for backtracking:
    /// options are taken in index order after the default.
    var considered = 0

    init(options: [Choice], chosen: Int, lastActor: Int?) {
        self.options = options
        self.chosen = chosen
        self.lastActor = lastActor
        first = chosen
    }

    /// Whether `index` has been explored (or passed over) from here.
    func wasTried(_ index: Int) -> Bool { index == first || index < considered }

    /// Whether taking `option` here preempts the actor that ran before.
    func preempts(_ option: Choice) -> Bool {
        guard case .run(let actor) = option, let lastActor else { return false }
        return actor != lastActor && options.contains(.run(lastActor))
    }
}

/// SplitMix64, seeded: the same seed draws the same numbers everywhere.
public struct SeededRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next(below bound: Int) -> Int {
        Int(next() % UInt64(max(1, bound)))
    }

    public mutating func nextDouble() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }

    /// The seed of run number `index` of a series started from `seed`.
    public static func derive(_ seed: UInt64, _ index: Int) -> UInt64 {
        var random = SeededRandom(seed: seed ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        return random.next()
    }
}
