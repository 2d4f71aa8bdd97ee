// The contract every erasure method meets, and the model-side context they share.
//
// Notation of METHODS.md: ε_θ the model being trained, ε* the frozen original. When only the text
// encoder trains, ε_θ and ε* are the same frozen UNet fed different embeddings: ε*(x, p) uses
// the ORIGINAL encoder's embedding of p, computed once before training for every fixed prompt
// the method declares, so neither a second UNet nor a copy of the encoder stays in memory. Only
// when UNet weights train is a frozen copy of the UNet kept for ε*.

import Foundation
import LetheCore
import LetheModels

public protocol ErasureMethod {
    associatedtype Batch

    var name: String { get }
    /// Prompts whose original embeddings ε* needs; encoded once, before training.
    var fixedPrompts: [String] { get }
    /// EMA decay when the EMA weights are the result (SDD); nil otherwise.
    var emaDecay: Float? { get }
    /// One-time work with the original weights before step 0 (few-shot image generation).
    mutating func prepare(_ context: ErasureContext) throws
    /// The inputs of step `step`, drawn from `rng` only, so a resumed run draws what the
    /// uninterrupted run drew.
    func makeBatch(step: Int, rng: inout RandomGenerator, context: ErasureContext) throws -> Batch
    /// The scalar loss the optimiser descends, recorded for backward.
    func loss(_ batch: Batch, context: ErasureContext) throws -> Tensor
}

extension ErasureMethod {
    public var emaDecay: Float? { nil }
    public mutating func prepare(_ context: ErasureContext) throws {}
}

public final class ErasureContext {
    public let model: DiffusionModel
    public let parameterSet: ParameterSet
    /// The training noise schedule (1000 steps), for q(x_t | x₀) and DDIM sampling.
    public let scheduler: DDIMScheduler
    /// ε*'s UNet when UNet weights train; nil when the model's own (frozen) UNet serves both.
    public let frozenUNet: (any Denoiser)?
    /// Frames of generated clips for a video model.
    public let frames: Int
    public let seed: UInt64
    /// The trained weights' EMA (SDD), set by the training loop.
    public internal(set) var ema: ExponentialMovingAverage?
    /// The trained tensors with "text_encoder." or "unet." in front of their keys.
    public internal(set) var trainedParameters: [(key: String, tensor: Tensor)] = []
    private var originalEmbeddings: [String: Tensor] = [:]

    /// Freezes everything, then unfreezes `parameterSet` (the text encoder's `encoderSubset`).
    /// Must be called on the model as loaded: the frozen copies and cached embeddings are taken now.
    public init(model: DiffusionModel, parameterSet: ParameterSet, encoderSubset: EncoderSubset,
                fixedPrompts: [String], frames: Int, seed: UInt64) throws {
        self.model = model
        self.parameterSet = parameterSet
        self.frames = frames
        self.seed = seed
        if let problem = model.unet.framesBeyondLimit(frames) { throw ErasureError("the recipe's frames: \(problem)") }
        scheduler = try DDIMScheduler(config: model.schedulerConfig)
        model.textEncoder.setTrainable(false)
        model.unet.setTrainable(false)
        if let group = parameterSet.unetGroup {
            frozenUNet = try Self.frozenCopy(model.unet)
            for (key, p) in model.unet.namedParameters() where group.contains(key) { p.requiresGrad = true }
            trainedParameters = model.unet.namedParameters().filter { $0.tensor.requiresGrad }.map { ("unet." + $0.key, $0.tensor) }
        } else {
            frozenUNet = nil
            model.textEncoder.trainOnly(where: encoderSubset.predicate(for: model.textEncoder))
            trainedParameters = model.textEncoder.namedParameters().filter { $0.tensor.requiresGrad }
                .map { ("text_encoder." + $0.key, $0.tensor) }
        }
        try cacheOriginalEmbeddings(fixedPrompts)
    }

    public var trainedParameterCount: Int { trainedParameters.reduce(0) { $0 + $1.tensor.count } }

    private static func frozenCopy(_ unet: any Denoiser) throws -> any Denoiser {
        let copy = try unet.sameConfigCopy()
        try copy.load(stateDict: unet.stateDict(), source: "frozen copy of the UNet")
        copy.setTrainable(false)
        return copy
    }

    private func cacheOriginalEmbeddings(_ prompts: [String]) throws {
        let missing = Array(Set(prompts)).sorted().filter { originalEmbeddings[$0] == nil }
        guard !missing.isEmpty else { return }
        let hidden = try Autograd.inference { try model.textEncoder(model.tokenizer(missing)).lastHiddenState }
        for (i, p) in missing.enumerated() { originalEmbeddings[p] = hidden.slice(axis: 0, range: i..<(i + 1)).copy() }
    }

    // MARK: Embeddings

    /// The original encoder's embeddings [B, L, D]; every prompt must be a declared fixed prompt.
    public func originalEmbedding(_ prompts: [String]) -> Tensor {
        let rows = prompts.map { p -> Tensor in
            guard let e = originalEmbeddings[p] else { preconditionFailure("prompt \"\(p)\" is not among the method's fixed prompts") }
            return e
        }
        return rows.count == 1 ? rows[0] : Tensor.concatenate(rows, axis: 0)
    }

    /// The trained model's embeddings: the encoder being trained (recorded for backward), or the
    /// cached original ones when the encoder is frozen.
    public func trainedEmbedding(_ prompts: [String]) throws -> Tensor {
        guard parameterSet == .textEncoder else { return originalEmbedding(prompts) }
        return try model.textEncoder(model.tokenizer(prompts)).lastHiddenState
    }

    // MARK: Predictions

    /// ε_θ(x, t, embedding), recorded for backward.
    public func trainedPrediction(_ x: Tensor, timesteps: [Int], embedding: Tensor) -> Tensor {
        model.unet.predict(sample: x, timesteps: timesteps.map(Float.init), encoderHiddenStates: embedding)
    }

    /// ε*(x, t, prompts), a constant.
    public func originalPrediction(_ x: Tensor, timesteps: [Int], prompts: [String]) -> Tensor {
        Autograd.inference {
            (frozenUNet ?? model.unet).predict(sample: x, timesteps: timesteps.map(Float.init),
                                               encoderHiddenStates: originalEmbedding(prompts))
        }
    }

    /// What the model is trained to output for x_t = q(x₀, noise, t): ε, or v for a v-prediction model.
    public func denoisingTarget(original: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        scheduler.config.predictionType == .vPrediction
            ? scheduler.getVelocity(sample: original, noise: noise, timesteps: timesteps) : noise
    }

    /// Shape of `count` samples of the model's kind.
    public func sampleShape(count: Int) -> [Int] {
        DiffusionPipeline(model: model).noiseShape(count: count, frames: frames)
    }

    // MARK: Sampling

    /// DDIM (η = 0) with the CURRENT trained weights from `noise` toward `prompts` with
    /// classifier-free guidance, stopped after `stopAfter` of `steps` steps. Returns the sample
    /// and the training timestep its noise level belongs to (the matching one of the 1000).
    public func sample(toward prompts: [String], noise: Tensor, steps: Int, stopAfter: Int,
                       guidance: Float) throws -> (sample: Tensor, timestep: Int) {
        var ddim = scheduler
        try ddim.setTimesteps(steps)
        precondition(stopAfter >= 0 && stopAfter < ddim.timesteps.count, "stopAfter \(stopAfter) outside the \(steps) steps")
        return try Autograd.inference {
            let n = prompts.count
            let cond = try trainedEmbedding(prompts)
            let uncond = try trainedEmbedding(Array(repeating: "", count: n))
            let context = Tensor.concatenate([uncond, cond], axis: 0)
            var x = noise
            var rng = RandomGenerator(seed: 0)  // unused at η = 0
            for i in 0..<stopAfter {
                let t = ddim.timesteps[i]
                let pred = model.unet.predict(sample: Tensor.concatenate([x, x], axis: 0),
                                              timesteps: Array(repeating: Float(t), count: 2 * n), encoderHiddenStates: context)
                let halves = pred.chunked(2, axis: 0)
                let eps = halves[0] + (halves[1] - halves[0]) * guidance
                x = ddim.step(modelOutput: eps, timestep: t, sample: x, eta: 0, generator: &rng).prevSample
            }
            return (x, ddim.timesteps[stopAfter])
        }
    }

    /// Runs `body` with the EMA weights in place of the trained ones (SDD's teacher), then puts
    /// the trained weights back.
    public func withEMAWeights<T>(_ body: () throws -> T) rethrows -> T {
        guard let ema else { return try body() }
        let live = trainedParameters.map { $0.tensor.copy() }
        for (s, p) in zip(ema.shadow, trainedParameters) { p.tensor.assign(s) }
        defer { for (v, p) in zip(live, trainedParameters) { p.tensor.assign(v) } }
        return try body()
    }
}

extension Array {
    /// Element `i` modulo the count (cycling through concepts or prompts).
    func cycling(_ i: Int) -> Element { self[i % count] }
}
