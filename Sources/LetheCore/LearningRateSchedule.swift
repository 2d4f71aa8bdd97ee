// The learning-rate schedule of every pretraining recipe: a linear warm-up to the peak, then a
// half cosine down to a floor by the last step.

import Foundation

public struct WarmupCosineSchedule: Equatable, Sendable {
    public var peak: Float
    public var final: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Float, final: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.final = final
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate of step `i` (0-based).
    public func callAsFunction(_ i: Int) -> Float {
        if i < warmupSteps { return peak * Float(i + 1) / Float(warmupSteps) }
        let progress = Float(i - warmupSteps) / Float(max(totalSteps - warmupSteps, 1))
        return final + (peak - final) * 0.5 * (1 + cos(Float.pi * min(progress, 1)))
    }
}
