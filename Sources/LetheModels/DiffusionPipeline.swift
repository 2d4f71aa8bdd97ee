// Text → image and text → clip sampling with classifier-free guidance, as diffusers'
// StableDiffusionPipeline and TextToVideoSDPipeline do it (their `output_type="latent"` result:
// Lethe's small models work in pixel space, so the final sample is the picture).
//
// The denoising loop is a Sequence of steps, so callers can show progress or stop early.

import Foundation
import LetheCore

public struct GenerationOptions {
    public var steps = 25
    /// Classifier-free guidance scale; ≤ 1 turns guidance off (one UNet pass per step).
    public var guidance: Float = 7.5
    public var negativePrompt: String? = nil
    /// Frames per clip for a video model.
    public var frames = 8
    public var eta: Float = 0
    public var seed: UInt64 = 0
    /// The initial noise, [N, C, (F,) H, W]; drawn from `seed` when nil (for a video model whose
    /// scheduler config names `mixed_noise_alpha`, from that mixed frame prior).
    public var initNoise: Tensor? = nil

    public init() {}
}

public struct PipelineError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public final class DiffusionPipeline {
    public let model: DiffusionModel

    public init(model: DiffusionModel) { self.model = model }

    /// The text encoder's last hidden state for each prompt, padded to the tokenizer's length
    /// (diffusers' `encode_prompt`).
    public func encode(_ prompts: [String]) throws -> Tensor {
        let ids = prompts.map { model.tokenizer($0) }
        return try model.textEncoder(ids).lastHiddenState
    }

    /// Shape of the initial noise for `count` samples.
    public func noiseShape(count: Int, frames: Int) -> [Int] {
        let u = model.unet, (h, w) = u.sampleSize
        return u.isVideo ? [count, u.inChannels, frames, h, w] : [count, u.inChannels, h, w]
    }

    /// Runs the whole loop and returns the final sample (values near [-1, 1] for pixel-space models).
    public func generate(prompts: [String], options: GenerationOptions,
                         progress: ((DenoisingStep) -> Void)? = nil) throws -> Tensor {
        var last: Tensor?
        for step in try denoisingSteps(prompts: prompts, options: options) {
            progress?(step)
            last = step.sample
        }
        guard let last else { throw PipelineError("no denoising steps were run (steps = \(options.steps))") }
        return last
    }

    public func denoisingSteps(prompts: [String], options: GenerationOptions) throws -> DenoisingSteps {
        guard !prompts.isEmpty else { throw PipelineError("no prompt given") }
        guard options.steps > 0 else { throw PipelineError("steps must be at least 1, got \(options.steps)") }
        if let problem = model.unet.framesBeyondLimit(options.frames) { throw PipelineError(problem) }
        let expected = noiseShape(count: prompts.count, frames: options.frames)
        let noise: Tensor
        if let given = options.initNoise {
            guard given.shape == expected else {
                throw PipelineError("initial noise has shape \(given.shape), this model needs \(expected) for \(prompts.count) prompt(s)")
            }
            noise = given
        } else {
            var rng = RandomGenerator(seed: options.seed)
            noise = model.drawNoise(expected, rng: &rng)
        }
        if options.eta > 0 && model.unet.isVideo && model.schedulerConfig.mixedFrameNoise != nil {
            // DDIM's step noise would come from independent frames, not the prior the model knows.
            throw PipelineError("eta > 0 is not supported for a model trained with mixed frame noise (\(MixedFrameNoise.configKey) in its scheduler config)")
        }
        var scheduler = try DDIMScheduler(config: model.schedulerConfig)
        try scheduler.setTimesteps(options.steps)
        let useGuidance = options.guidance > 1
        let embeddings: Tensor = try Autograd.inference {
            let cond = try encode(prompts)
            guard useGuidance else { return cond }
            let uncond = try encode(Array(repeating: options.negativePrompt ?? "", count: prompts.count))
            return Tensor.concatenate([uncond, cond], axis: 0)
        }
        return DenoisingSteps(unet: model.unet, scheduler: scheduler, embeddings: embeddings,
                              start: noise * Float(scheduler.initNoiseSigma), guidance: useGuidance ? options.guidance : nil,
                              eta: options.eta, seed: options.seed)
    }
}

public struct DenoisingStep {
    public let index: Int
    public let count: Int
    public let timestep: Int
    /// The sample after this step.
    public let sample: Tensor
}

public struct DenoisingSteps: Sequence, IteratorProtocol {
    let unet: any Denoiser
    let scheduler: DDIMScheduler
    let embeddings: Tensor
    var sample: Tensor
    let guidance: Float?
    let eta: Float
    var rng: RandomGenerator
    var index = 0

    init(unet: any Denoiser, scheduler: DDIMScheduler, embeddings: Tensor, start: Tensor, guidance: Float?, eta: Float, seed: UInt64) {
        self.unet = unet
        self.scheduler = scheduler
        self.embeddings = embeddings
        self.sample = start
        self.guidance = guidance
        self.eta = eta
        var seeded = RandomGenerator(seed: seed)
        rng = seeded.fork()  // the step noise must not repeat the initial noise
    }

    public mutating func next() -> DenoisingStep? {
        let timesteps = scheduler.timesteps
        guard index < timesteps.count else { return nil }
        let t = timesteps[index]
        let x = sample
        let out: Tensor = Autograd.inference {
            let n = x.shape[0]
            let input = guidance == nil ? x : Tensor.concatenate([x, x], axis: 0)
            let pred = unet.predict(sample: input, timesteps: Array(repeating: Float(t), count: input.shape[0]),
                                    encoderHiddenStates: embeddings)
            let eps: Tensor
            if let g = guidance {
                let halves = pred.chunked(2, axis: 0)
                eps = halves[0] + (halves[1] - halves[0]) * g
            } else {
                eps = pred
            }
            precondition(eps.shape[0] == n)
            return scheduler.step(modelOutput: eps, timestep: t, sample: x, eta: eta, generator: &rng).prevSample
        }
        sample = out
        index += 1
        return DenoisingStep(index: index, count: timesteps.count, timestep: t, sample: out)
    }
}
