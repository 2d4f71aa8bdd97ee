// DDPM (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"), diffusers' DDPMScheduler:
// the noise schedule models are trained with (`addNoise` at uniform random timesteps) and its
// ancestral sampler, the posterior q(x_{t−1} | x_t, x₀) with x₀ taken from the model.

import Foundation
import LetheCore

public struct DDPMScheduler: Scheduler {
    public static let className = "DDPMScheduler"
    public static let configKeys = [
        "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "variance_type",
        "clip_sample", "prediction_type", "thresholding", "dynamic_thresholding_ratio", "clip_sample_range",
        "sample_max_value", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr",
    ]

    public let config: SchedulerConfig
    public let betas: [Float]
    public let alphasCumprod: [Float]
    /// All training timesteps, descending, until `setTimesteps` picks an inference schedule.
    public private(set) var timesteps: [Int]
    public private(set) var numInferenceSteps: Int?
    /// Whether `timesteps` came from `setTimesteps(custom:)`.
    public private(set) var customTimesteps = false

    public init(config: SchedulerConfig = SchedulerConfig()) throws {
        try config.validate()
        var config = config
        config.className = Self.className  // as diffusers' from_config records the class it built
        self.config = config
        betas = NoiseSchedule.betas(config)
        alphasCumprod = NoiseSchedule.alphasCumprod(betas: betas)
        timesteps = Array((0..<config.numTrainTimesteps).reversed())
    }

    public mutating func setTimesteps(_ numInferenceSteps: Int) throws {
        timesteps = try NoiseSchedule.timesteps(numInferenceSteps: numInferenceSteps,
                                                numTrainTimesteps: config.numTrainTimesteps,
                                                spacing: config.timestepSpacing, stepsOffset: config.stepsOffset)
        self.numInferenceSteps = numInferenceSteps
        customTimesteps = false
    }

    /// A schedule given step by step (diffusers' `set_timesteps(timesteps=...)`): strictly
    /// descending, inside 0..<numTrainTimesteps.
    public mutating func setTimesteps(custom: [Int]) throws {
        guard let first = custom.first else { throw SchedulerError("custom timesteps must not be empty") }
        for (a, b) in zip(custom, custom.dropFirst()) where b >= a {
            throw SchedulerError("custom timesteps must be in descending order, found \(a) then \(b)")
        }
        guard first < config.numTrainTimesteps, custom.last! >= 0 else {
            throw SchedulerError("custom timesteps must lie in 0..<\(config.numTrainTimesteps), found \(first)...\(custom.last!)")
        }
        timesteps = custom
        numInferenceSteps = nil
        customTimesteps = true
    }

    /// The timestep the posterior steps to: the next one in the schedule (−1 after the last), or
    /// t − 1 while no inference schedule is set.
    public func previousTimestep(_ timestep: Int) -> Int {
        guard customTimesteps || numInferenceSteps != nil else { return timestep - 1 }
        guard let i = timesteps.firstIndex(of: timestep) else {
            preconditionFailure("timestep \(timestep) is not in the schedule \(timesteps)")
        }
        return i + 1 < timesteps.count ? timesteps[i + 1] : -1
    }

    private func alphaProd(_ t: Int) -> Float { t >= 0 ? alphasCumprod[t] : 1 }

    /// One ancestral step. For t > 0 the posterior's noise is σ_t·`varianceNoise`, which must then
    /// be given. With variance_type learned / learned_range the model output carries twice the
    /// sample's channels: the prediction, then the variance (interpolation) channels.
    public func step(modelOutput: Tensor, timestep t: Int, sample: Tensor, varianceNoise: Tensor?) -> SchedulerStepOutput {
        precondition(alphasCumprod.indices.contains(t), "timestep \(t) outside 0..<\(alphasCumprod.count)")
        let learned = config.varianceType == .learned || config.varianceType == .learnedRange
        let prediction: Tensor, predictedVariance: Tensor?
        if learned {
            (prediction, predictedVariance) = splitChannels(modelOutput, like: sample)
        } else {
            (prediction, predictedVariance) = (modelOutput, nil)
        }

        let prevT = previousTimestep(t)
        let alphaT = alphasCumprod[t], alphaPrev = alphaProd(prevT)
        let betaT = 1 - alphaT, betaPrev = 1 - alphaPrev
        let currentAlpha = alphaT / alphaPrev
        let currentBeta = 1 - currentAlpha

        let x0 = predictOriginalSample(modelOutput: prediction, sample: sample, alphaProd: alphaT,
                                       predictionType: config.predictionType)
        clipOrThreshold(x0, config: config)

        // μ̃_t of eq. 7 in Ho et al.
        let x0Coeff = (alphaPrev.squareRoot() * currentBeta) / betaT
        let sampleCoeff = currentAlpha.squareRoot() * betaPrev / betaT
        var prev = x0.zipMap(sample) { x0, x in x0Coeff * x0 + sampleCoeff * x }

        if t > 0 {
            guard let noise = varianceNoise else { preconditionFailure("a DDPM step at t > 0 needs variance noise") }
            precondition(noise.shape == sample.shape, "variance noise \(noise.shape) vs sample \(sample.shape)")
            // β̃_t, the posterior variance; clamped like diffusers so log() stays finite at t = 0.
            let posteriorVariance = max(betaPrev / betaT * currentBeta, 1e-20)
            switch config.varianceType {
            case .fixedSmall:
                let std = posteriorVariance.squareRoot()
                prev = prev.zipMap(noise) { p, z in p + std * z }
            case .fixedSmallLog:
                let std = Foundation.exp(0.5 * Foundation.log(posteriorVariance))
                prev = prev.zipMap(noise) { p, z in p + std * z }
            case .fixedLarge:
                let std = currentBeta.squareRoot()
                prev = prev.zipMap(noise) { p, z in p + std * z }
            case .learned:
                let std = predictedVariance!.map { $0.squareRoot() }
                prev = addScaled(prev, std, noise)
            case .learnedRange:
                // The model interpolates log σ² between β̃_t (v = −1) and β_t (v = +1).
                let minLog = Foundation.log(posteriorVariance), maxLog = Foundation.log(currentBeta)
                let std = predictedVariance!.map { v in
                    let frac = (v + 1) / 2
                    return Foundation.exp(0.5 * (frac * maxLog + (1 - frac) * minLog))
                }
                prev = addScaled(prev, std, noise)
            }
        }
        return SchedulerStepOutput(prevSample: prev, predOriginalSample: x0)
    }

    /// One ancestral step drawing its noise from `generator` (only for t > 0, like diffusers).
    public func step(modelOutput: Tensor, timestep: Int, sample: Tensor,
                     generator: inout RandomGenerator) -> SchedulerStepOutput {
        let noise = timestep > 0 ? Tensor.randn(sample.shape, rng: &generator) : nil
        return step(modelOutput: modelOutput, timestep: timestep, sample: sample, varianceNoise: noise)
    }
}

/// base + scale·noise, element-wise.
private func addScaled(_ base: Tensor, _ scale: Tensor, _ noise: Tensor) -> Tensor {
    let out = Tensor(uninitializedShape: base.shape)
    let b = base.pointer, s = scale.pointer, z = noise.pointer, o = out.pointer
    parallelFor(out.count) { r in
        for i in r { o[i] = b[i] + s[i] * z[i] }
    }
    return out
}

/// Splits [N, 2C, ...] into its first and second C channels ([N, C, ...] each), as torch.split
/// along dim 1 does for a model that predicts a variance next to its output.
private func splitChannels(_ output: Tensor, like sample: Tensor) -> (Tensor, Tensor) {
    precondition(sample.rank >= 2 && output.rank == sample.rank && output.shape[1] == 2 * sample.shape[1]
                 && output.shape[0] == sample.shape[0] && Array(output.shape[2...]) == Array(sample.shape[2...]),
                 "a learned-variance model output must be \(sample.shape) with twice the channels, got \(output.shape)")
    let first = Tensor(uninitializedShape: sample.shape), second = Tensor(uninitializedShape: sample.shape)
    let half = sample.count / max(sample.shape[0], 1)
    for n in 0..<sample.shape[0] {
        let src = output.pointer + n * 2 * half
        (first.pointer + n * half).update(from: src, count: half)
        (second.pointer + n * half).update(from: src + half, count: half)
    }
    return (first, second)
}
