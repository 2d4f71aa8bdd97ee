// Few-shot unlearning of the text encoder (Liu & Tan, arXiv 2407.14209, after Fuchi & Takagi,
// arXiv 2405.07288): the model generates a few images of the concept itself; each is captioned
// with prompt templates; the text encoder takes a handful of gradient-ASCENT steps on the
// ordinary denoising loss of those images, L = −E‖ε − ε_θ(x_t, t, τ(y))‖², with t uniform and
// no preservation term. Adam betas (0.9, 0.98).

import LetheCore
import LetheModels

/// The images (clips for a video model) the model generated of each concept, made once with the
/// original weights, deterministically from the seed.
public struct ConceptImages {
    /// [count, C, (F,) H, W] per target.
    public let samples: [Tensor]
    public let captions: [[String]]
    /// Each caption's in-context anchor, when the recipe asks for them.
    public let anchoredCaptions: [[String]?]

    public static func generate(_ targets: [ErasureTarget], recipe: ErasureRecipe, context: ErasureContext) throws -> ConceptImages {
        let pipeline = DiffusionPipeline(model: context.model)
        var samples: [Tensor] = []
        for (i, target) in targets.enumerated() {
            var options = GenerationOptions()
            options.steps = recipe.generationSteps
            options.guidance = recipe.generationGuidance
            options.frames = context.frames
            var rng = RandomGenerator(seed: context.seed, stream: 1_000_000 + UInt64(i))
            options.seed = rng.next()
            // Each image is prompted with one of the concept's captions, in turn.
            let prompts = (0..<recipe.images).map { target.captions.cycling($0) }
            samples.append(try Autograd.inference { try pipeline.generate(prompts: prompts, options: options) })
        }
        return ConceptImages(samples: samples, captions: targets.map(\.captions), anchoredCaptions: targets.map(\.anchoredCaptions))
    }

    public var count: Int { samples.reduce(0) { $0 + $1.shape[0] } }

    /// A batch of noised images: random image, random caption of its concept, uniform t.
    func draw(_ size: Int, rng: inout RandomGenerator, context: ErasureContext) -> DenoisingBatch {
        var rows: [Tensor] = [], captions: [String] = [], anchored: [String?] = [], timesteps: [Int] = []
        for _ in 0..<size {
            var pick = rng.nextInt(count), target = 0
            while pick >= samples[target].shape[0] { pick -= samples[target].shape[0]; target += 1 }
            rows.append(samples[target].slice(axis: 0, range: pick..<(pick + 1)))
            let caption = rng.nextInt(self.captions[target].count)
            captions.append(self.captions[target][caption])
            anchored.append(anchoredCaptions[target]?[caption])
            timesteps.append(rng.nextInt(context.scheduler.numTrainTimesteps))
        }
        let original = rows.count == 1 ? rows[0].copy() : Tensor.concatenate(rows, axis: 0)
        let noise = context.model.drawNoise(original.shape, rng: &rng)
        let noisy = context.scheduler.addNoise(original: original, noise: noise, timesteps: timesteps)
        return DenoisingBatch(sample: noisy, timesteps: timesteps, captions: captions, anchoredCaptions: anchored,
                              target: context.denoisingTarget(original: original, noise: noise, timesteps: timesteps))
    }
}

public struct DenoisingBatch {
    public let sample: Tensor
    public let timesteps: [Int]
    public let captions: [String]
    /// Each caption's in-context anchor (nil: use the anchor prompt).
    public let anchoredCaptions: [String?]
    /// ε (or v) that produced `sample`.
    public let target: Tensor
}

public struct FewShot: ErasureMethod {
    public typealias Batch = DenoisingBatch

    public let targets: [ErasureTarget]
    public let recipe: ErasureRecipe
    public private(set) var images: ConceptImages?

    public init(targets: [ErasureTarget], recipe: ErasureRecipe) {
        precondition(!targets.isEmpty, "few-shot erasure needs a concept")
        self.targets = targets
        self.recipe = recipe
    }

    public var name: String { "fewshot" }
    public var fixedPrompts: [String] { targets.flatMap(\.captions) }

    public mutating func prepare(_ context: ErasureContext) throws {
        images = try ConceptImages.generate(targets, recipe: recipe, context: context)
    }

    public func makeBatch(step: Int, rng: inout RandomGenerator, context: ErasureContext) throws -> Batch {
        guard let images else { preconditionFailure("prepare(_:) generates the images before the first batch") }
        return images.draw(recipe.batchSize, rng: &rng, context: context)
    }

    public func loss(_ batch: Batch, context: ErasureContext) throws -> Tensor {
        let prediction = context.trainedPrediction(batch.sample, timesteps: batch.timesteps,
                                                   embedding: try context.trainedEmbedding(batch.captions))
        // Ascent on the denoising loss = descent on its negative.
        return prediction.mseLoss(batch.target) * -1
    }
}
