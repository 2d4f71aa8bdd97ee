// ESD — Erasing Concepts from Diffusion Models (Gandikota et al., ICCV 2023).
//
// x_t: DDIM (guidance 3) from noise toward the concept c with the model being trained, stopped
// at a random step strictly inside the schedule; the training timestep is the one of the 1000
// that x_t's noise level belongs to. Target: ε*(x_t, ∅) − η·[ε*(x_t, c) − ε*(x_t, ∅)] (negative
// guidance away from c); loss ‖ε_θ(x_t, c, t) − target‖². Several concepts: one per step, cycling.

import LetheCore

public struct ESD: ErasureMethod {
    public struct Batch {
        public let sample: Tensor
        public let timesteps: [Int]
        public let prompts: [String]
    }

    public let targets: [ErasureTarget]
    public let recipe: ErasureRecipe

    public init(targets: [ErasureTarget], recipe: ErasureRecipe) {
        precondition(!targets.isEmpty, "ESD needs a concept")
        self.targets = targets
        self.recipe = recipe
    }

    public var name: String { "esd" }
    public var fixedPrompts: [String] { [""] + targets.map(\.prompt) }

    public func makeBatch(step: Int, rng: inout RandomGenerator, context: ErasureContext) throws -> Batch {
        let prompts = Array(repeating: targets.cycling(step).prompt, count: recipe.batchSize)
        let noise = context.model.drawNoise(context.sampleShape(count: prompts.count), rng: &rng)
        let stop = 1 + rng.nextInt(recipe.ddimSteps - 2)
        let (x, t) = try context.sample(toward: prompts, noise: noise, steps: recipe.ddimSteps, stopAfter: stop,
                                        guidance: recipe.guidance)
        return Batch(sample: x, timesteps: Array(repeating: t, count: prompts.count), prompts: prompts)
    }

    public func loss(_ batch: Batch, context: ErasureContext) throws -> Tensor {
        let empty = Array(repeating: "", count: batch.prompts.count)
        let uncond = context.originalPrediction(batch.sample, timesteps: batch.timesteps, prompts: empty)
        let cond = context.originalPrediction(batch.sample, timesteps: batch.timesteps, prompts: batch.prompts)
        let target = Autograd.inference { uncond - (cond - uncond) * recipe.eta }
        let prediction = context.trainedPrediction(batch.sample, timesteps: batch.timesteps,
                                                   embedding: try context.trainedEmbedding(batch.prompts))
        return prediction.mseLoss(target)
    }
}
