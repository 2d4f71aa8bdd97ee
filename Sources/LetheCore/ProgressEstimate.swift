// The rate and time left of work counted in items (samples, clips), for the progress lines of
// long commands: `lethe eval` prints its lines, TrainingRun puts the rate and time left in its step
// lines.

import Foundation

public struct ProgressEstimate {
    public let unit: String
    private var phase: String?
    private var reported = false
    private var start: Date
    private var startDone = 0

    /// `done` items were done before the clock started (a resumed run's steps); they do not count
    /// towards the rate.
    public init(unit: String, done: Int = 0, now: Date = Date()) {
        self.unit = unit
        self.start = now
        self.startDone = done
    }

    /// "0.21 clips/s  ETA 4m26s" at `done` of `total`; nil while nothing is done since the clock started.
    public func rateAndTimeLeft(done: Int, total: Int, now: Date = Date()) -> String? {
        let seconds = now.timeIntervalSince(start)
        guard done > startDone, seconds > 0 else { return nil }
        let rate = Double(done - startDone) / seconds
        return String(format: "%.2f %@/s  ETA %@", rate, unit, formatDuration(Double(total - done) / rate))
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
        return rateAndTimeLeft(done: done, total: total, now: now).map { head + "  " + $0 } ?? head
    }
}
