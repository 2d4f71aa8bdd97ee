// DDIM sampling (Song et al. 2021, "Denoising Diffusion Implicit Models"), diffusers'
// DDIMScheduler: a few large steps over a model trained with DDPM's noise schedule, deterministic
// at η = 0 and increasingly stochastic up to η = 1.

import Foundation
import LetheCore

public struct DDIMScheduler: Scheduler {
    public static let className = "DDIMScheduler"
    public static let configKeys = [
        "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "clip_sample",
        "set_alpha_to_one", "steps_offset", "prediction_type", "thresholding", "dynamic_thresholding_ratio",
        "clip_sample_range", "sample_max_value", "timestep_spacing", "rescale_betas_zero_snr",
    ]

    public let config: SchedulerConfig
    public let betas: [Float]
    public let alphasCumprod: [Float]
    /// ᾱ for the step past t = 0: 1 with `set_alpha_to_one`, else ᾱ₀.
    public let finalAlphaCumprod: Float
    public private(set) var timesteps: [Int]
    public private(set) var numInferenceSteps: Int?
    /// The η the protocol's `step(…, generator:)` uses; diffusers passes it to each step call.
    public var eta: Float = 0

    public init(config: SchedulerConfig = SchedulerConfig()) throws {
        try config.validate()
        var config = config
        config.className = Self.className  // as diffusers' from_config records the class it built
        self.config = config
        betas = NoiseSchedule.betas(config)
        alphasCumprod = NoiseSchedule.alphasCumprod(betas: betas)
        finalAlphaCumprod = config.setAlphaToOne ? 1 : alphasCumprod[0]
        timesteps = Array((0..<config.numTrainTimesteps).reversed())
    }

    public mutating func setTimesteps(_ numInferenceSteps: Int) throws {
        timesteps = try NoiseSchedule.timesteps(numInferenceSteps: numInferenceSteps,
                                                numTrainTimesteps: config.numTrainTimesteps,
                                                spacing: config.timestepSpacing, stepsOffset: config.stepsOffset)
        self.numInferenceSteps = numInferenceSteps
    }

    /// The timestep a step from `timestep` lands on. diffusers subtracts the leading stride
    /// whatever the spacing, so trailing and linspace schedules are stepped the same way.
    public func previousTimestep(_ timestep: Int) -> Int {
        guard let steps = numInferenceSteps else { preconditionFailure("call setTimesteps before step") }
        return timestep - config.numTrainTimesteps / steps
    }

    private func alphaProd(_ t: Int) -> Float { t >= 0 ? alphasCumprod[t] : finalAlphaCumprod }

    /// σ_t² of the DDIM paper's eq. 16 at η = 1: (1−ᾱ_prev)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_prev).
    public func variance(timestep: Int, previousTimestep: Int) -> Float {
        let alphaT = alphaProd(timestep), alphaPrev = alphaProd(previousTimestep)
        return ((1 - alphaPrev) / (1 - alphaT)) * (1 - alphaT / alphaPrev)
    }

    /// One DDIM step. With η > 0 the step adds σ_t·`varianceNoise`, which must then be given
    /// (diffusers' `variance_noise`); `useClippedModelOutput` re-derives ε from the clipped x₀.
    public func step(modelOutput: Tensor, timestep: Int, sample: Tensor, eta: Float,
                     useClippedModelOutput: Bool = false, varianceNoise: Tensor?) -> SchedulerStepOutput {
        precondition(alphasCumprod.indices.contains(timestep), "timestep \(timestep) outside 0..<\(alphasCumprod.count)")
        precondition(eta >= 0, "eta must be non-negative")
        let prevT = previousTimestep(timestep)
        let alphaT = alphasCumprod[timestep], alphaPrev = alphaProd(prevT)
        let sqrtAlpha = alphaT.squareRoot(), sqrtBeta = (1 - alphaT).squareRoot()

        let x0 = predictOriginalSample(modelOutput: modelOutput, sample: sample, alphaProd: alphaT,
                                       predictionType: config.predictionType)
        // ε as the model implies it, before clipping changes x₀.
        let epsilon: Tensor
        switch config.predictionType {
        case .epsilon: epsilon = modelOutput
        case .sample: epsilon = sample.zipMap(modelOutput) { x, x0 in (x - sqrtAlpha * x0) / sqrtBeta }
        case .vPrediction: epsilon = sample.zipMap(modelOutput) { x, v in sqrtAlpha * v + sqrtBeta * x }
        }
        clipOrThreshold(x0, config: config)

        let stdDev = eta * variance(timestep: timestep, previousTimestep: prevT).squareRoot()
        let eps = useClippedModelOutput ? sample.zipMap(x0) { x, x0 in (x - sqrtAlpha * x0) / sqrtBeta } : epsilon
        // 1 − ᾱ_prev − σ² ≥ 0 in exact arithmetic; float rounding can dip below 0 (diffusers: NaN).
        let directionCoeff = max(1 - alphaPrev - stdDev * stdDev, 0).squareRoot()
        let sqrtAlphaPrev = alphaPrev.squareRoot()
        var prev = x0.zipMap(eps) { x0, e in sqrtAlphaPrev * x0 + directionCoeff * e }
        if eta > 0 {
            guard let noise = varianceNoise else { preconditionFailure("eta > 0 needs variance noise") }
            precondition(noise.shape == sample.shape, "variance noise \(noise.shape) vs sample \(sample.shape)")
            prev = prev.zipMap(noise) { p, z in p + stdDev * z }
        }
        return SchedulerStepOutput(prevSample: prev, predOriginalSample: x0)
    }

    /// One DDIM step drawing the variance noise from `generator` (only when η > 0).
    public func step(modelOutput: Tensor, timestep: Int, sample: Tensor, eta: Float,
                     useClippedModelOutput: Bool = false, generator: inout RandomGenerator) -> SchedulerStepOutput {
        let noise = eta > 0 ? Tensor.randn(sample.shape, rng: &generator) : nil
        return step(modelOutput: modelOutput, timestep: timestep, sample: sample, eta: eta,
                    useClippedModelOutput: useClippedModelOutput, varianceNoise: noise)
    }

    public func step(modelOutput: Tensor, timestep: Int, sample: Tensor,
                     generator: inout RandomGenerator) -> SchedulerStepOutput {
        step(modelOutput: modelOutput, timestep: timestep, sample: sample, eta: eta, generator: &generator)
    }
}
