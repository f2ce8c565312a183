import Synchronization
import Testing

@testable import Commands

/// The progress lines a waiting command writes on standard error: one
/// line whatever a name holds, rewritten in place on a terminal, and on
/// anything else a plain line when what it waits for changes or every
/// tenth time.
@Suite struct ProgressLineTests {
    final class Written: Sendable {
        let texts = Mutex<[String]>([])
        var all: [String] { texts.withLock { $0 } }
        func write(_ text: String) { texts.withLock { $0.append(text) } }
    }

    @Test func aNameWithControlCharactersStaysOnOneLine() {
        let written = Written()
        let progress = ProgressLine(isTerminal: false, write: written.write)
        progress.show("receiving /build/machines/default/m\nx/m\nx-2: 1.0 MiB in 3 s")
        #expect(written.all == ["receiving /build/machines/default/m\\nx/m\\nx-2: 1.0 MiB in 3 s\n"])
    }

    @Test func onATerminalTheLineIsRewrittenInPlaceAndEnded() {
        let written = Written()
        let progress = ProgressLine(isTerminal: true, write: written.write)
        progress.show("waiting for m\u{1B}[2J: 1 s")
        progress.show("waiting for m\u{1B}[2J: 2 s")
        progress.finish()
        progress.finish()
        #expect(
            written.all == [
                "\r\u{1B}[Kwaiting for m\\x1b[2J: 1 s", "\r\u{1B}[Kwaiting for m\\x1b[2J: 2 s", "\n",
            ])
    }

    @Test func plainLinesComeOnAChangeAndEveryTenthTime() {
        let written = Written()
        let progress = ProgressLine(isTerminal: false, write: written.write)
        for second in 1...11 { progress.show("waiting for a: \(second) s") }
        progress.show("waiting for b: 12 s")
        progress.finish()
        #expect(written.all == ["waiting for a: 1 s\n", "waiting for a: 11 s\n", "waiting for b: 12 s\n"])
    }
}
