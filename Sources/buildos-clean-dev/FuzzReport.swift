import Foundation
import Fuzzing

/// The progress of a fuzz run on standard error: one line rewritten in
/// place on a terminal (five times a second at most), a plain line every
/// ten seconds otherwise.
struct FuzzProgress {
    let terminal: Bool
    var lastPrinted = ContinuousClock.now
    var printedAny = false

    init(terminal: Bool) { self.terminal = terminal }

    mutating func update(_ summary: FuzzSession.Summary) {
        let interval: Duration = terminal ? .milliseconds(200) : .seconds(10)
        guard ContinuousClock.now - lastPrinted >= interval else { return }
        lastPrinted = ContinuousClock.now
        printedAny = true
        let line = FuzzProgress.line(summary)
        FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish(_ summary: FuzzSession.Summary) {
        if terminal, printedAny { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    static func line(_ summary: FuzzSession.Summary) -> String {
        let coverage = summary.coverage
        return "fuzz: \(summary.cases) cases, \(Int(summary.rate.rounded())) cases/s, \(summary.failedCases) failed, "
            + "coverage \(coverage.reached)/\(coverage.reachable) branches"
    }
}

/// The report of a fuzz run, as text or as a JSON document.
struct FuzzReport: Encodable {
    struct Finding: Encodable {
        var oracle: String
        var message: String
        /// The case of the run (`--print-case` draws it again).
        var caseIndex: Int
        var worldSeed: String
        var entriesDrawn: Int
        var entriesShrunk: Int
        var file: String?
    }

    var seed: String
    /// The layout file every case started from (`--layout`), if one.
    var layout: String?
    var cases: Int
    var seconds: Double
    var casesPerSecond: Double
    var failedCases: Int
    var failuresByOracle: [String: Int]
    var coverage: [String: Int]
    var neverReached: [String]
    var unreachable: [String: String]
    var findings: [Finding]

    init(seed: UInt64, summary: FuzzSession.Summary, files: [Int: String]) {
        self.seed = FuzzWorld.hex(seed)
        cases = summary.cases
        seconds = (summary.seconds * 1000).rounded() / 1000
        casesPerSecond = summary.rate.rounded()
        failedCases = summary.failedCases
        failuresByOracle = Dictionary(uniqueKeysWithValues: summary.failuresByOracle.map { ($0.key.rawValue, $0.value) })
        coverage = Dictionary(uniqueKeysWithValues: BranchCoverage.branches.map { ($0, summary.coverage.counts[$0] ?? 0) })
        neverReached = summary.coverage.unreached
        unreachable = BranchCoverage.unreachable
        findings = summary.findings.enumerated().map { index, finding in
            Finding(
                oracle: finding.failure.oracle.rawValue, message: finding.failure.message, caseIndex: finding.index,
                worldSeed: FuzzWorld.hex(finding.original.seed), entriesDrawn: finding.original.layout.entries.count,
                entriesShrunk: finding.shrunk.layout.entries.count, file: files[index])
        }
    }

    var text: String {
        var lines = [
            "fuzz: seed \(seed), \(cases) cases in \(seconds) s (\(Int(casesPerSecond)) cases/s), \(failedCases) failed"
                + (layout.map { ", every case from the tree of \($0)" } ?? "")
        ]
        let reachable = BranchCoverage.branches.count - unreachable.count
        lines.append("coverage: \(reachable - neverReached.count) of \(reachable) branches reached")
        if !neverReached.isEmpty { lines.append("  never reached: " + neverReached.joined(separator: ", ")) }
        for (branch, why) in unreachable.sorted(by: { $0.key < $1.key }) {
            lines.append("  not reachable: \(branch) (\(why))")
        }
        for (oracle, count) in failuresByOracle.sorted(by: { $0.key < $1.key }) {
            lines.append("FAIL \(oracle): \(count) cases")
        }
        for finding in findings {
            lines.append("  \(finding.oracle): case \(finding.caseIndex) (world \(finding.worldSeed)): \(finding.message)")
            lines.append("    shrunk from \(finding.entriesDrawn) to \(finding.entriesShrunk) layout entries"
                + (finding.file.map { "; scenario file \($0)" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
