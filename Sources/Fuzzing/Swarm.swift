import Simulation

/// Which features one world uses and how densely, drawn from its seed
/// (swarm testing, as TigerBeetle's VOPR draws its options): each allowed
/// feature is on or off, and an intensity says how many of its things a
/// machine directory gets.
public struct Swarm: Hashable, Sendable {
    public var intensity: [FuzzFeature: Int]

    public var features: Set<FuzzFeature> { Set(intensity.keys) }

    /// How often (in percent) a feature is on in a world: the costly ones
    /// (actors under the scheduler) are rarer.
    static func chance(of feature: FuzzFeature) -> Int {
        switch feature {
        case .agents, .commands: 4
        case .crashes: 30
        case .faults, .races, .undecodableNames, .specialFiles: 20
        case .liveMode: 15
        case .toolchainConfiguration: 25
        default: 50
        }
    }

    public init(drawing random: inout SeededRandom, from allowed: Set<FuzzFeature>) {
        intensity = [:]
        for feature in FuzzFeature.allCases where allowed.contains(feature) {
            if random.next(below: 100) < Swarm.chance(of: feature) {
                intensity[feature] = 1 + random.next(below: 3)
            }
        }
    }

    public func has(_ feature: FuzzFeature) -> Bool { intensity[feature] != nil }

    /// How many things of `feature` to make: 0 when it is off.
    public func count(_ feature: FuzzFeature, _ random: inout SeededRandom) -> Int {
        guard let level = intensity[feature] else { return 0 }
        return random.next(below: level + 1)
    }
}
