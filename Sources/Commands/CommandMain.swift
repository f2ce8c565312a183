import ArgumentParser

/// How both executables run their commands: as ArgumentParser's `main`
/// does, but every exit, a failing one included, goes through
/// `StandardOutput.finish`, so that a report lost on a full disk is said
/// on standard error whatever the command's status.
public enum CommandMain {
    public static func run<Root: AsyncParsableCommand>(_ root: Root.Type, commandName: String) async -> Never {
        do {
            var command = try Root.parseAsRoot(nil)
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
            StandardOutput.finish(commandName: commandName)
        } catch {
            // What `exit(withError:)` prints: help and the version on
            // standard output (a clean exit), an error on standard error.
            let status = Root.exitCode(for: error)
            let text = Root.fullMessage(for: error)
            if !text.isEmpty {
                if status == .success { print(text) } else { StandardError.write(text + "\n") }
            }
            StandardOutput.finish(commandName: commandName, status: status.rawValue)
        }
    }
}
