// The loop every erasure method shares, on LetheCore's TrainingRun: one-file atomic checkpoint,
// exact resume (per-step randomness comes from the step index), a clean stop on SIGINT, progress
// on stderr. It records what a comparison of methods needs: the loss of every step, wall time
// and peak resident memory.

import Foundation
import LetheCore
import LetheModels

public struct ErasureRequest {
    public var concepts: [ErasureConcept]
    public var recipe: ErasureRecipe
    /// The checkpoint file; nil for none (and no resume).
    public var checkpoint: URL?
    public var resume: Bool
    public var progressInterval: Double
    public var log: (String) -> Void

    public init(concepts: [ErasureConcept], recipe: ErasureRecipe, checkpoint: URL? = nil, resume: Bool = false,
                progressInterval: Double = 2,
                log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.concepts = concepts
        self.recipe = recipe
        self.checkpoint = checkpoint
        self.resume = resume
        self.progressInterval = progressInterval
        self.log = log
    }
}

public struct ErasureResult {
    public let method: String
    public let targets: [ErasureTarget]
    /// Loss of every step from 0 (steps before a resume included).
    public let losses: [Float]
    public let interrupted: Bool
    public let resumedFrom: Int?
    /// Wall time of the whole erasure (preparation included) in this process.
    public let seconds: Double
    public let trainingSeconds: Double
    /// The process's peak resident set (VmHWM), nil where /proc is missing.
    public let peakMemoryBytes: Int?
    public let trainedParameterCount: Int
    public let trainedParameterKeys: [String]
}

public enum ErasureTraining {
    /// Erases `request.concepts` from `model` in place (its weights are the result). `model` must
    /// be as loaded from disk: the original embeddings and frozen copies are taken from it.
    public static func run(model: DiffusionModel, request: ErasureRequest) throws -> ErasureResult {
        let started = Date()
        guard !request.concepts.isEmpty else { throw ErasureError("no concept to erase") }
        let recipe = request.recipe
        let targets = try request.concepts.map { try ErasureTarget($0, recipe: recipe, tokenizer: model.tokenizer) }
        for t in targets where !t.dropped.isEmpty {
            request.log("erase: concept '\(t.concept.name)': left out \(t.dropped.count) prompt(s) longer than "
                + "\(model.tokenizer.modelMaxLength) tokens, e.g. \"\(t.dropped[0])\"")
        }
        switch recipe.method {
        case .esd: return try run(ESD(targets: targets, recipe: recipe), model: model, targets: targets, request: request, started: started)
        case .sdd: return try run(SDD(targets: targets, recipe: recipe), model: model, targets: targets, request: request, started: started)
        case .fewshot: return try run(FewShot(targets: targets, recipe: recipe), model: model, targets: targets, request: request, started: started)
        case .anchor: return try run(Anchor(targets: targets, recipe: recipe), model: model, targets: targets, request: request, started: started)
        }
    }

    static func run<M: ErasureMethod>(_ method: M, model: DiffusionModel, targets: [ErasureTarget],
                                      request: ErasureRequest, started: Date) throws -> ErasureResult {
        var method = method
        let recipe = request.recipe
        let context = try ErasureContext(model: model, parameterSet: recipe.params, encoderSubset: recipe.encoderSubset,
                                         fixedPrompts: method.fixedPrompts, frames: recipe.frames, seed: recipe.seed)
        guard !context.trainedParameters.isEmpty else {
            throw ErasureError("parameter set \(recipe.params.rawValue) selects no weights of this model")
        }
        request.log("erase \(method.name): \(targets.map(\.concept.name).joined(separator: ", ")); training "
            + "\(context.trainedParameterCount) parameters in \(context.trainedParameters.count) tensors (\(recipe.params.rawValue))")
        try method.prepare(context)
        let tensors = context.trainedParameters.map(\.tensor)
        let optimizer = AdamW(parameters: tensors, learningRate: recipe.lr, betas: (recipe.betas[0], recipe.betas[1]),
                              weightDecay: recipe.weightDecay)
        let ema = method.emaDecay.map { ExponentialMovingAverage(parameters: tensors, decay: $0) }
        context.ema = ema
        let options = TrainingOptions(steps: recipe.steps, seed: recipe.seed, checkpoint: request.checkpoint,
                                      checkpointEvery: recipe.checkpointEvery, resume: request.resume,
                                      progressInterval: request.progressInterval, label: "erase \(method.name)")
        let run = TrainingRun(parameters: context.trainedParameters, optimizer: optimizer, ema: ema, options: options,
                              metadata: ["method": method.name, "recipe": recipe.fingerprint,
                                         "concepts": targets.map(\.concept.name).joined(separator: "|")])
        run.log = request.log
        let clip = recipe.gradClip
        let result = try run.run { step, rng in
            let batch = try method.makeBatch(step: step, rng: &rng, context: context)
            let loss = try method.loss(batch, context: context)
            loss.backward()
            if clip > 0 { clipGradientNorm(tensors, maxNorm: clip) }
            return loss.item
        }
        if let ema, !result.interrupted { ema.copyToParameters() }
        return ErasureResult(method: method.name, targets: targets, losses: result.losses, interrupted: result.interrupted,
                             resumedFrom: result.resumedFrom, seconds: Date().timeIntervalSince(started),
                             trainingSeconds: result.seconds, peakMemoryBytes: peakResidentMemory(),
                             trainedParameterCount: context.trainedParameterCount,
                             trainedParameterKeys: context.trainedParameters.map(\.key))
    }
}

/// VmHWM of /proc/self/status in bytes: the most resident memory this process has held.
public func peakResidentMemory() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let kb = Int(fields[1]) else { return nil }
        return kb * 1024
    }
    return nil
}
