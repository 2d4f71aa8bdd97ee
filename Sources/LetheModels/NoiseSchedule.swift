// The numbers a scheduler is built from — betas, ᾱ (alphas_cumprod) and inference timesteps —
// computed the way diffusers computes them, down to the dtype of each intermediate: torch
// float32 for betas (its linspace kernel, its float32 arithmetic, its cumprod that accumulates in
// double) and NumPy float64 for timesteps (its arange fill and round-half-to-even). A model
// trained with diffusers then sees the same noise levels here, bit for bit.

import Foundation

/// A request a scheduler cannot carry out, e.g. more inference steps than training timesteps.
public struct SchedulerError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum NoiseSchedule {
    /// `torch.linspace(start, end, steps, dtype=torch.float32)` on CPU: the first half counts up
    /// from `start`, the second half down from `end`, each value one fused multiply-add.
    public static func torchLinspace(_ start: Double, _ end: Double, _ steps: Int) -> [Float] {
        precondition(steps >= 0, "negative step count")
        let a = Float(start), b = Float(end)
        guard steps > 1 else { return steps == 1 ? [a] : [] }
        let step = (b - a) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in
            i < halfway ? a.addingProduct(step, Float(i)) : b.addingProduct(-step, Float(steps - i - 1))
        }
    }

    /// diffusers' `betas_for_alpha_bar` with the cosine ᾱ of Nichol & Dhariwal, in float64, then float32.
    public static func betasForAlphaBar(_ count: Int, maxBeta: Double = 0.999) -> [Float] {
        func alphaBar(_ t: Double) -> Double {
            let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        return (0..<count).map { i in
            let t1 = Double(i) / Double(count), t2 = Double(i + 1) / Double(count)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), maxBeta))
        }
    }

    /// `torch.cumprod` of float32 values: the running product is kept in double, each output rounded.
    public static func cumulativeProduct(_ values: [Float]) -> [Float] {
        var acc = 1.0
        return values.map { v in
            acc *= Double(v)
            return Float(acc)
        }
    }

    /// Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Algorithm 1:
    /// shifts and scales √ᾱ so the last timestep has zero signal. float32 like diffusers.
    public static func rescaleZeroTerminalSNR(_ betas: [Float]) -> [Float] {
        precondition(betas.count >= 2, "zero-terminal-SNR rescaling needs at least two timesteps")
        var sqrtBar = cumulativeProduct(betas.map { 1 - $0 }).map { $0.squareRoot() }
        let first = sqrtBar[0], last = sqrtBar[sqrtBar.count - 1]
        let scale = first / (first - last)
        for i in sqrtBar.indices { sqrtBar[i] = (sqrtBar[i] - last) * scale }
        let bar = sqrtBar.map { $0 * $0 }
        var alphas = [bar[0]]
        for i in 1..<bar.count { alphas.append(bar[i] / bar[i - 1]) }
        return alphas.map { 1 - $0 }
    }

    /// The betas diffusers' DDPMScheduler and DDIMScheduler build from `config`.
    public static func betas(_ config: SchedulerConfig) -> [Float] {
        let n = config.numTrainTimesteps
        var betas: [Float]
        if let trained = config.trainedBetas {
            betas = trained.map(Float.init)
        } else {
            switch config.betaSchedule {
            case .linear:
                betas = torchLinspace(config.betaStart, config.betaEnd, n)
            case .scaledLinear:
                betas = torchLinspace(config.betaStart.squareRoot(), config.betaEnd.squareRoot(), n).map { $0 * $0 }
            case .squaredcosCapV2:
                betas = betasForAlphaBar(n)
            }
        }
        if config.rescaleBetasZeroSnr { betas = rescaleZeroTerminalSNR(betas) }
        return betas
    }

    /// ᾱ_t = ∏_{s≤t} (1 − β_s).
    public static func alphasCumprod(betas: [Float]) -> [Float] {
        cumulativeProduct(betas.map { 1 - $0 })
    }

    /// The descending timesteps of diffusers' `set_timesteps(numInferenceSteps)` for DDPM and DDIM.
    /// Where diffusers itself would produce a timestep outside 0..<numTrainTimesteps (trailing
    /// spacing with some step counts rounds its last value to −1; `steps_offset` can push the first
    /// past the end), this throws instead of sampling with a wrapped-around noise level.
    public static func timesteps(numInferenceSteps steps: Int, numTrainTimesteps n: Int,
                                 spacing: TimestepSpacing, stepsOffset: Int) throws -> [Int] {
        guard steps >= 1 else { throw SchedulerError("number of inference steps must be at least 1, got \(steps)") }
        guard steps <= n else {
            throw SchedulerError("number of inference steps (\(steps)) cannot be larger than num_train_timesteps (\(n))")
        }
        let timesteps: [Int]
        switch spacing {
        case .linspace:
            // np.linspace(0, n - 1, steps): i·step, the last value set to the end point exactly.
            let stop = Double(n - 1)
            let step = steps > 1 ? stop / Double(steps - 1) : 0
            timesteps = (0..<steps).reversed().map { i in
                let value = (i == steps - 1 && steps > 1) ? stop : Double(i) * step
                return Int(value.rounded(.toNearestOrEven))
            }
        case .leading:
            let ratio = n / steps
            timesteps = (0..<steps).reversed().map { $0 * ratio + stepsOffset }
        case .trailing:
            // np.arange(n, 0, -ratio) in float64: length ceil(n / ratio), values start + i·delta
            // with delta recovered from the first two values, as NumPy's fill does.
            let ratio = Double(n) / Double(steps)
            let start = Double(n)
            let length = Int(((0 - start) / -ratio).rounded(.up))
            let second = start + -ratio
            let delta = second - start
            timesteps = (0..<length).map { i in
                let value = i == 0 ? start : i == 1 ? second : start + Double(i) * delta
                return Int(value.rounded(.toNearestOrEven)) - 1
            }
        }
        if let bad = timesteps.first(where: { !(0..<n).contains($0) }) {
            throw SchedulerError("\(steps) inference steps with timestep_spacing \"\(spacing.rawValue)\" and steps_offset \(stepsOffset) "
                + "give timestep \(bad), outside 0..<\(n) (diffusers would index out of range); choose another step count")
        }
        return timesteps
    }

    /// The min-SNR-γ loss weight (Hang et al. 2023), SNR = ᾱ/(1 − ᾱ), as diffusers' training
    /// scripts apply it: min(SNR, γ)/SNR for an ε-loss, min(SNR, γ)/(SNR + 1) for a v-loss (whose
    /// error already counts (SNR + 1) times the clean sample's); either way the clean sample's error
    /// gets weight min(SNR, γ).
    public static func minSNRWeight(alphaCumprod abar: Float, gamma: Float, prediction: PredictionType = .epsilon) -> Float {
        let snr = abar / max(1 - abar, 1e-12)
        switch prediction {
        case .epsilon: return min(snr, gamma) / max(snr, 1e-12)
        case .vPrediction: return min(snr, gamma) / (snr + 1)
        case .sample: return min(snr, gamma)
        }
    }

    /// max(1, 1/SNR) capped at `cap`: below SNR 1 the ε-loss is scaled up so that the error it
    /// stands for in clean-sample terms (x₀ error² = ε error²/SNR) keeps weight 1, as
    /// v-prediction's loss keeps it near 1, instead of vanishing with the SNR. This is where a
    /// sample's layout (and a clip's motion) is decided. The cap bounds the ε-gradient at the
    /// noisiest timesteps, where 1/SNR grows without limit.
    public static func noisyEndWeight(alphaCumprod abar: Float, cap: Float) -> Float {
        let inverseSNR = (1 - abar) / max(abar, 1e-12)
        return min(max(1, inverseSNR), cap)
    }
}
