// Each method's loss on a tiny world model: its value at the start (where ε_θ = ε*), and that a
// few optimiser steps on one fixed batch lower it — gradients reach the trained weights and
// point the right way.
import Foundation
import LetheCore
import LetheModels
import LetheUnlearn
import XCTest

final class ErasureMethodTests: XCTestCase {
    /// An AnimateDiff UNet's position table bounds the frames an erasure may sample: a recipe
    /// asking for more is refused before any work, naming the limit, not trapped in the model.
    func testMotionUNetRefusesMoreFramesThanItsPositionTable() throws {
        let image = try TinyWorld.makeModel(video: false)
        var rng = RandomGenerator(seed: 3)
        let unet = try UNetMotionModel(addingMotionModulesTo: try XCTUnwrap(image.unet as? UNet2DConditionModel),
                                       motionNumAttentionHeads: .shared(2), motionMaxSeqLength: 4, rng: &rng)
        let model = DiffusionModel(tokenizer: image.tokenizer, textEncoder: image.textEncoder, unet: unet,
                                   schedulerConfig: image.schedulerConfig)
        XCTAssertThrowsError(try ErasureContext(model: model, parameterSet: .textEncoder, encoderSubset: .all,
                                                fixedPrompts: [], frames: 5, seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("motion_max_seq_length 4"), "\(error)")
        }
        XCTAssertNoThrow(try ErasureContext(model: model, parameterSet: .textEncoder, encoderSubset: .all,
                                            fixedPrompts: [], frames: 4, seed: 0))
    }

    func targets(_ names: [String], recipe: ErasureRecipe, model: DiffusionModel) throws -> [ErasureTarget] {
        try names.map { try ErasureTarget(try ErasureConcept.resolve($0, allowFreeText: false), recipe: recipe, tokenizer: model.tokenizer) }
    }

    /// Loss before and after `steps` Adam steps on the batch of step 0.
    func descend<M: ErasureMethod>(_ method: M, model: DiffusionModel, recipe: ErasureRecipe, steps: Int = 3,
                                   check: ((M.Batch, ErasureContext, Float) throws -> Void)? = nil) throws -> (Float, Float) {
        var method = method
        let context = try ErasureContext(model: model, parameterSet: recipe.params, encoderSubset: recipe.encoderSubset,
                                         fixedPrompts: method.fixedPrompts, frames: recipe.frames, seed: recipe.seed)
        try method.prepare(context)
        var rng = RandomGenerator(seed: 7)
        let batch = try method.makeBatch(step: 0, rng: &rng, context: context)
        let first = try method.loss(batch, context: context).item
        try check?(batch, context, first)
        let optimizer = AdamW(parameters: context.trainedParameters.map(\.tensor), learningRate: recipe.lr, weightDecay: 0)
        for _ in 0..<steps {
            optimizer.zeroGrad()
            try method.loss(batch, context: context).backward()
            optimizer.step()
        }
        return (first, try method.loss(batch, context: context).item)
    }

    func testESDLossIsNegativeGuidanceAndDescends() throws {
        let model = try TinyWorld.makeModel(video: false)
        var recipe = TinyWorld.recipe(.esd)
        recipe.eta = 2
        let esd = ESD(targets: try targets(["circle"], recipe: recipe, model: model), recipe: recipe)
        let (before, after) = try descend(esd, model: model, recipe: recipe) { batch, context, loss in
            // At the start ε_θ = ε*, so ‖ε*(c) − [ε*(∅) − η(ε*(c) − ε*(∅))]‖² = (1 + η)² ‖ε*(c) − ε*(∅)‖².
            let c = context.originalPrediction(batch.sample, timesteps: batch.timesteps, prompts: batch.prompts)
            let u = context.originalPrediction(batch.sample, timesteps: batch.timesteps, prompts: batch.prompts.map { _ in "" })
            XCTAssertEqual(loss, 9 * c.mseLoss(u).item, accuracy: 1e-4 * loss)
            XCTAssertGreaterThan(loss, 0)
        }
        XCTAssertLessThan(after, before * 0.9)
    }

    func testSDDLossPullsConceptToUnconditionalAndDescends() throws {
        let model = try TinyWorld.makeModel(video: false)
        let recipe = TinyWorld.recipe(.sdd)
        let sdd = SDD(targets: try targets(["red"], recipe: recipe, model: model), recipe: recipe)
        let (before, after) = try descend(sdd, model: model, recipe: recipe) { batch, context, loss in
            let c = context.originalPrediction(batch.sample, timesteps: batch.timesteps, prompts: batch.prompts)
            let u = context.originalPrediction(batch.sample, timesteps: batch.timesteps, prompts: batch.prompts.map { _ in "" })
            XCTAssertEqual(loss, c.mseLoss(u).item, accuracy: 1e-4 * loss)
        }
        XCTAssertLessThan(after, before * 0.9)
    }

    func testFewShotAscendsTheDenoisingLoss() throws {
        let model = try TinyWorld.makeModel(video: false)
        let recipe = TinyWorld.recipe(.fewshot)
        let method = FewShot(targets: try targets(["circle", "striped"], recipe: recipe, model: model), recipe: recipe)
        let (before, after) = try descend(method, model: model, recipe: recipe) { batch, context, loss in
            let prediction = Autograd.inference {
                context.trainedPrediction(batch.sample, timesteps: batch.timesteps,
                                          embedding: context.originalEmbedding(batch.captions))
            }
            XCTAssertEqual(loss, -prediction.mseLoss(batch.target).item, accuracy: 1e-5 * abs(loss))
        }
        XCTAssertLessThan(before, 0)
        XCTAssertLessThan(after, before)
    }

    func testAnchorLossMatchesTheAnchorAndKeepsOthers() throws {
        let model = try TinyWorld.makeModel(video: false)
        var recipe = TinyWorld.recipe(.anchor)
        recipe.anchorMode = .prompt  // every caption to "a shape"; in-context has its own test
        recipe.embeddingWeight = 0  // the prediction terms alone; the text-space term has its own test
        let method = Anchor(targets: try targets(["star"], recipe: recipe, model: model), recipe: recipe)
        XCTAssertFalse(method.preservePrompts.contains("a star"))
        XCTAssertTrue(method.preservePrompts.contains("a circle"))
        let (before, after) = try descend(method, model: model, recipe: recipe) { batch, context, loss in
            // The preservation term is zero while ε_θ = ε*.
            let b = batch.images
            let concept = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions)
            let anchor = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions.map { _ in recipe.anchor })
            XCTAssertEqual(loss, concept.mseLoss(anchor).item, accuracy: 1e-4 * loss)
            XCTAssertEqual(batch.preserved.count, recipe.preservePerStep)
        }
        XCTAssertLessThan(after, before * 0.9)
    }

    /// eta η moves the target past the anchor, away from the concept:
    /// ε̂ = ε*(anchor) − η·(ε*(c) − ε*(anchor)); at the start ε_θ(c) = ε*(c), so the loss is
    /// (1 + η)² times the plain anchor loss.
    func testAnchorNegativeGuidancePushesPastTheAnchor() throws {
        let model = try TinyWorld.makeModel(video: false)
        var recipe = TinyWorld.recipe(.anchor)
        recipe.anchorMode = .prompt
        recipe.embeddingWeight = 0
        recipe.eta = 0.5
        let method = Anchor(targets: try targets(["star"], recipe: recipe, model: model), recipe: recipe)
        let (before, after) = try descend(method, model: model, recipe: recipe) { batch, context, loss in
            let b = batch.images
            let concept = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions)
            let anchor = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions.map { _ in recipe.anchor })
            XCTAssertEqual(loss, concept.mseLoss(anchor).item * 2.25, accuracy: 1e-4 * loss)
        }
        XCTAssertLessThan(after, before * 0.9)
    }

    /// embedding_weight μ adds μ·‖E_θ(c) − E*(anchor)‖² (and the preserved prompts' drift, zero at
    /// the start); descending it brings the concept captions' encoder output to the anchor's.
    func testAnchorTextSpaceTermPullsCaptionEmbeddingsToTheAnchor() throws {
        let model = try TinyWorld.makeModel(video: false)
        var recipe = TinyWorld.recipe(.anchor)
        recipe.anchorMode = .prompt
        recipe.embeddingWeight = 0.5
        recipe.lr = 3e-3
        let method = Anchor(targets: try targets(["star"], recipe: recipe, model: model), recipe: recipe)
        var captions: [String] = []
        var gapBefore: Float = 0
        var anchorEmbedding: Tensor?
        let (before, after) = try descend(method, model: model, recipe: recipe, steps: 5) { batch, context, loss in
            let b = batch.images
            captions = b.captions
            let anchors = b.captions.map { _ in recipe.anchor }
            let concept = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions)
            let anchor = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: anchors)
            anchorEmbedding = context.originalEmbedding(anchors).copy()
            gapBefore = context.originalEmbedding(b.captions).mseLoss(anchorEmbedding!).item
            XCTAssertGreaterThan(gapBefore, 0)
            XCTAssertEqual(loss, concept.mseLoss(anchor).item + 0.5 * gapBefore, accuracy: 1e-4 * loss)
        }
        XCTAssertLessThan(after, before * 0.9)
        let context = try ErasureContext(model: model, parameterSet: recipe.params, encoderSubset: recipe.encoderSubset,
                                         fixedPrompts: method.fixedPrompts, frames: recipe.frames, seed: recipe.seed)
        // A fresh context encodes with the trained weights (only its trained embeddings are used).
        let gapAfter = try context.trainedEmbedding(captions).mseLoss(anchorEmbedding!).item
        XCTAssertLessThan(gapAfter, gapBefore * 0.9)
    }

    func testInContextAnchorTargetsTheCaptionWithoutTheConcept() throws {
        let model = try TinyWorld.makeModel(video: false)
        var recipe = TinyWorld.recipe(.anchor)
        recipe.anchorMode = .inContext
        recipe.embeddingWeight = 0
        recipe.preservationWeight = 0
        recipe.lr = 1e-3  // one word apart, caption and anchor start close: small steps
        let method = Anchor(targets: try targets(["green"], recipe: recipe, model: model), recipe: recipe)
        let (before, after) = try descend(method, model: model, recipe: recipe, steps: 3) { batch, context, loss in
            let b = batch.images
            let anchored = b.anchoredCaptions.map { $0! }
            XCTAssertFalse(anchored.contains { $0.contains("green") }, "\(anchored)")
            XCTAssertTrue(batch.preserved.isEmpty)
            let concept = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: b.captions)
            let anchor = context.originalPrediction(b.sample, timesteps: b.timesteps, prompts: anchored)
            XCTAssertEqual(loss, concept.mseLoss(anchor).item, accuracy: 1e-4 * loss)
        }
        XCTAssertLessThan(after, before)
    }

    /// ESD-x on a video model: the UNet's attn2 weights train against a frozen copy.
    func testUNetCrossAttentionOnVideoModelDescends() throws {
        let model = try TinyWorld.makeModel(video: true)
        var recipe = TinyWorld.recipe(.esd)
        recipe.params = .unetCrossAttention
        recipe.lr = 3e-3
        let esd = ESD(targets: try targets(["left"], recipe: recipe, model: model), recipe: recipe)
        let (before, after) = try descend(esd, model: model, recipe: recipe, steps: 2)
        XCTAssertLessThan(after, before)
    }
}
