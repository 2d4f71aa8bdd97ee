// Lethe's bounded few-shot variant. Gradient ascent (FewShot) has no floor: the encoder is
// pushed away from the concept without saying where to, and other prompts drift with it. Here
// the same generated images are noised, and the concept caption's prediction is pulled to the
// FROZEN prediction for the caption itself with an anchor phrase in the concept's place
// (`anchor_mode: in-context`, the default for world concepts: the caption's other words keep
// their meaning) or for one anchor prompt ("a shape"; `anchor_mode: prompt`), a bounded target in
// the spirit of ESD with an anchor (DoCo, "A Concept is More Than a Word"); a preservation term
// keeps other prompts' predictions on the same x_t equal to the original's:
//   L = ‖ε_θ(x_t, c) − ε̂‖² + λ · ‖ε_θ(x_t, p) − ε*(x_t, p)‖²
//       + μ · (‖E_θ(c) − E*(anchor)‖² + ‖E_θ(p) − E*(p)‖²),
// ε̂ = ε*(x_t, anchor) − η · (ε*(x_t, c) − ε*(x_t, anchor)) (η = eta, 0 by default: the anchor
// itself), E the text encoder's last hidden state. The prediction terms fit the UNet erased against; the
// text-space terms (μ = embedding_weight) hold for every UNet that shares the encoder, so an
// erasure made on the image model carries over to the video model.

import LetheCore

public struct Anchor: ErasureMethod {
    public struct Batch {
        public let images: DenoisingBatch
        /// Preservation prompts with the batch row each is paired with.
        public let preserved: [(prompt: String, row: Int)]
    }

    public let targets: [ErasureTarget]
    public let recipe: ErasureRecipe
    public let preservePrompts: [String]
    public private(set) var images: ConceptImages?

    /// `preserve` (the recipe's, or by default the other world concepts' prompts), with
    /// `preserve_neighbors` the erased concepts' captions with their family's other concepts in
    /// their place, minus any prompt that is one of the erased concepts' own.
    public init(targets: [ErasureTarget], recipe: ErasureRecipe) {
        precondition(!targets.isEmpty, "anchor erasure needs a concept")
        self.targets = targets
        self.recipe = recipe
        let erased = Set(targets.flatMap { [$0.prompt] + $0.captions })
        var candidates = recipe.preserve.isEmpty ? ErasureConcept.otherWorldPrompts(excluding: targets.map(\.concept)) : recipe.preserve
        if recipe.preserveNeighbors {
            candidates += ErasureConcept.neighborPrompts(of: targets.map(\.concept), templates: recipe.templates, kinds: recipe.phrasings)
        }
        preservePrompts = candidates.filter { !erased.contains($0) && $0 != recipe.anchor }
    }

    public var name: String { "anchor" }
    public var fixedPrompts: [String] {
        [recipe.anchor] + preservePrompts + targets.flatMap(\.captions) + targets.flatMap { $0.anchoredCaptions ?? [] }
    }

    public mutating func prepare(_ context: ErasureContext) throws {
        images = try ConceptImages.generate(targets, recipe: recipe, context: context)
    }

    public func makeBatch(step: Int, rng: inout RandomGenerator, context: ErasureContext) throws -> Batch {
        guard let images else { preconditionFailure("prepare(_:) generates the images before the first batch") }
        let drawn = images.draw(recipe.batchSize, rng: &rng, context: context)
        let count = recipe.preservationWeight > 0 && !preservePrompts.isEmpty ? recipe.preservePerStep : 0
        let preserved = (0..<count).map { i in (preservePrompts[rng.nextInt(preservePrompts.count)], i % recipe.batchSize) }
        return Batch(images: drawn, preserved: preserved)
    }

    public func loss(_ batch: Batch, context: ErasureContext) throws -> Tensor {
        let b = batch.images
        let anchors = b.anchoredCaptions.map { $0 ?? recipe.anchor }
        var target = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: anchors)
        if recipe.eta > 0 {
            // A generic anchor ("a shape") still draws the concept now and then; a little negative
            // guidance (ESD's, relative to the anchor) moves the target off it.
            let concept = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions)
            target = Autograd.inference { target - (concept - target) * recipe.eta }
        }
        let captionEmbedding = try context.trainedEmbedding(b.captions)
        let prediction = context.trainedPrediction(b.sample, timesteps: b.timesteps, embedding: captionEmbedding)
        var loss = prediction.mseLoss(target)
        if recipe.embeddingWeight > 0 && recipe.params == .textEncoder {
            loss = loss + captionEmbedding.mseLoss(context.originalEmbedding(anchors)) * recipe.embeddingWeight
        }
        guard !batch.preserved.isEmpty else { return loss }
        let rows = batch.preserved.map { b.sample.slice(axis: 0, range: $0.row..<($0.row + 1)) }
        let x = rows.count == 1 ? rows[0].copy() : Tensor.concatenate(rows, axis: 0)
        let t = batch.preserved.map { b.timesteps[$0.row] }
        let prompts = batch.preserved.map(\.prompt)
        let kept = context.originalPrediction(x, timesteps: t, prompts: prompts)
        let preservedEmbedding = try context.trainedEmbedding(prompts)
        let drift = context.trainedPrediction(x, timesteps: t, embedding: preservedEmbedding)
        loss = loss + drift.mseLoss(kept) * recipe.preservationWeight
        if recipe.embeddingWeight > 0 && recipe.params == .textEncoder {
            loss = loss + preservedEmbedding.mseLoss(context.originalEmbedding(prompts)) * recipe.embeddingWeight
        }
        return loss
    }
}
