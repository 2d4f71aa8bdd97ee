// SDD — Safe Self-Distillation (Kim et al., arXiv 2307.05977).
//
// Loss ‖sg(ε_θ(x_t, ∅, t)) − ε_θ(x_t, c, t)‖²: the concept's prediction is pulled toward the
// model's own unconditional one. x_t comes from DDIM toward c with the EMA teacher, stopped at a
// random step; the EMA weights are the result. Several concepts: one per step, cycling.

import LetheCore

public struct SDD: ErasureMethod {
    public typealias Batch = ESD.Batch

    public let targets: [ErasureTarget]
    public let recipe: ErasureRecipe

    public init(targets: [ErasureTarget], recipe: ErasureRecipe) {
        precondition(!targets.isEmpty, "SDD needs a concept")
        self.targets = targets
        self.recipe = recipe
    }

    public var name: String { "sdd" }
    public var fixedPrompts: [String] { [""] + targets.map(\.prompt) }
    public var emaDecay: Float? { recipe.emaDecay }

    public func makeBatch(step: Int, rng: inout RandomGenerator, context: ErasureContext) throws -> Batch {
        let prompts = Array(repeating: targets.cycling(step).prompt, count: recipe.batchSize)
        let noise = context.model.drawNoise(context.sampleShape(count: prompts.count), rng: &rng)
        let stop = 1 + rng.nextInt(recipe.ddimSteps - 2)
        let (x, t) = try context.withEMAWeights {
            try context.sample(toward: prompts, noise: noise, steps: recipe.ddimSteps, stopAfter: stop, guidance: recipe.guidance)
        }
        return Batch(sample: x, timesteps: Array(repeating: t, count: prompts.count), prompts: prompts)
    }

    public func loss(_ batch: Batch, context: ErasureContext) throws -> Tensor {
        let empty = Array(repeating: "", count: batch.prompts.count)
        let unconditional = try Autograd.inference {
            context.trainedPrediction(batch.sample, timesteps: batch.timesteps, embedding: try context.trainedEmbedding(empty))
        }
        let prediction = context.trainedPrediction(batch.sample, timesteps: batch.timesteps,
                                                   embedding: try context.trainedEmbedding(batch.prompts))
        return prediction.mseLoss(unconditional)
    }
}
