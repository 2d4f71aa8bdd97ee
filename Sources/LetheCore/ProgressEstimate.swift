// The rate and time left of work counted in items (samples, clips), for the progress lines of
// long commands that are not training runs (`lethe eval`); TrainingRun prints its own.

import Foundation

public struct ProgressEstimate {
    public let unit: String
    private var phase: String?
    private var reported = false
    private var start: Date
    private var startDone = 0

    public init(unit: String, now: Date = Date()) {
        self.unit = unit
        self.start = now
    }

    /// "8/64 clips  0.21 clips/s  ETA 4m26s". The first phase is timed from `init`. A new
    /// `phase` (the baseline, then the erased model) starts the clock again at its first report,
    /// so one model's speed does not skew the other's estimate; its rate then counts from there.
    public mutating func line(done: Int, total: Int, phase: String? = nil, now: Date = Date()) -> String {
        let head = "\(phase.map { "\($0) " } ?? "")\(done)/\(total) \(unit)"
        defer { reported = true }
        if !reported { self.phase = phase }
        if phase != self.phase || done < startDone {
            self.phase = phase
            start = now
            startDone = done
            return head
        }
        let seconds = now.timeIntervalSince(start)
        guard done > startDone, seconds > 0 else { return head }
        let rate = Double(done - startDone) / seconds
        return head + String(format: "  %.2f %@/s  ETA %@", rate, unit, formatDuration(Double(total - done) / rate))
    }
}
