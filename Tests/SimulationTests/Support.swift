import Foundation
import Simulation
import TestSupport

/// The scenario files shipped under `Scenarios/`.
enum ScenarioFiles {
    static let directory = Binary.packageRoot() + "/Scenarios"

    static let all: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    static func load(_ name: String) throws -> CompiledScenario {
        try CompiledScenario.load(yaml: String(contentsOfFile: directory + "/" + name, encoding: .utf8))
    }
}

extension ScenarioResult {
    /// The result without its timing, to compare two explorations.
    var withoutTiming: ScenarioResult {
        var copy = self
        copy.seconds = 0
        return copy
    }
}
