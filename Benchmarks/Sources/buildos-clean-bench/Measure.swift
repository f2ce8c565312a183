/// Times a closure: `repetitions` runs, the fastest and the median.
struct Measurement {
    var seconds: [Double]

    var median: Double { seconds.sorted()[seconds.count / 2] }
    var minimum: Double { seconds.min() ?? 0 }

    static func run(repetitions: Int, _ body: () async throws -> Void) async rethrows -> Measurement {
        var seconds: [Double] = []
        for _ in 0..<repetitions {
            let start = ContinuousClock.now
            try await body()
            seconds.append((ContinuousClock.now - start).seconds)
        }
        return Measurement(seconds: seconds)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func format(_ value: Double, _ digits: Int = 3) -> String {
    var text = String(Int((value * pow10(digits)).rounded()))
    while text.count <= digits { text = "0" + text }
    text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
    return text
}

func pow10(_ exponent: Int) -> Double { (0..<exponent).reduce(1.0) { value, _ in value * 10 } }

func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
