import MachineLayout

/// The text forms of a report and a plan.
extension Report {
    /// What the original printed: the summary, each line indented by two
    /// spaces, and on failure the advice to restart the monitor. Nothing
    /// when there is nothing to report.
    public var textLines: [String] {
        guard let summary else { return [] }
        var lines = [Diagnostic.escapingControlCharacters(summary)]
        lines += diagnostics.map { "  " + $0.line }
        if status == .halted { lines.append(Report.haltAdvice) }
        return lines
    }

    /// The lines the notification command gets on its standard input, as
    /// the original piped them to its mail command.
    public var notificationBody: String {
        diagnostics.map { "  " + $0.line + "\n" }.joined()
    }
}

extension Plan {
    /// One line per decision: action, path, reason.
    public var textLines: [String] {
        let names = toolchains.isEmpty ? "none" : toolchains.toolchains.map(\.rawValue).joined(separator: ", ")
        let shown = EntryPath.displayed(root: root)
        var lines = [Diagnostic.escapingControlCharacters("plan for \(shown) (toolchains: \(names))")]
        let width = items.map { $0.action.rawValue.count }.max() ?? 0
        for item in items {
            let action = item.action.rawValue
            let padding = String(repeating: " ", count: width - action.count)
            lines.append(
                Diagnostic.escapingControlCharacters(
                    "  \(action)\(padding)  \(item.path.rendered(root: root)): \(item.reason.text)"))
        }
        return lines
    }
}
