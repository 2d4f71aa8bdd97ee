import XCTest
@testable import LetheCore
@testable import LetheModels
@testable import LetheWorld

final class DiffusionTrainingRecipeTests: XCTestCase {
    /// A recipe of `head` (what it is and starts from), a one-step-scale training schedule, `extra`.
    func recipe(_ extra: String, head: String = "kind: video\ninit_from: models/image", file: String = "v.yaml") throws -> DiffusionTrainingRecipe {
        let yaml = """
        \(head)
        steps: 10
        batch_size: 1
        lr: 0.001
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0
        ema_decay: 0.0
        max_grad_norm: 1.0
        caption_dropout: 0.1
        seed: 3
        checkpoint_every: 5
        \(extra)
        """
        let r = try RecipeLoader.decode(DiffusionTrainingRecipe.self, yaml: yaml, file: file)
        try r.validate(file: file)
        return r
    }

    /// A fresh tiny image model, so no model folder is needed.
    let tinyImageHead = """
        kind: image
        tokenizer: configs/world/tokenizer
        text_hidden_size: 16
        text_layers: 1
        text_heads: 2
        block_out_channels: [8, 8, 8]
        attention_head_dim: 4
        norm_num_groups: 4
        """

    /// Every committed training recipe, shipped or tried, loads and validates, so the commands the
    /// README gives for them run. (The detector's recipe is LetheEval's and has its own test.)
    func testEveryCommittedTrainingRecipeValidates() throws {
        let dir = WorldFixtures.repoRoot.appendingPathComponent("configs/train")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(files.count, 5)
        for file in files where file != "detector.yaml" {
            let url = dir.appendingPathComponent(file)
            if file.hasPrefix("text") {  // text.yaml, text-phrases.yaml: `lethe train text`
                XCTAssertNoThrow(try TextPretrainingRecipe.load(from: url), file)
            } else {
                XCTAssertNoThrow(try DiffusionTrainingRecipe.load(from: url), file)
            }
        }
    }

    /// Resuming compares fingerprints: the default video UNet named or not is the same run, a
    /// different UNet or noise prior is not.
    func testFingerprintTreatsTheDefaultVideoUNetAsAbsent() throws {
        let plain = try recipe("")
        XCTAssertEqual(try recipe("video_unet: unet3d").fingerprint, plain.fingerprint)
        XCTAssertNotEqual(try recipe("video_unet: motion").fingerprint, plain.fingerprint)
        XCTAssertNotEqual(try recipe("mixed_noise_alpha: 1").fingerprint, plain.fingerprint)
    }

    func testMixedNoiseAlphaMustBeANonNegativeNumber() throws {
        XCTAssertEqual(try recipe("mixed_noise_alpha: 0.5").mixedNoiseAlpha, 0.5)
        XCTAssertThrowsError(try recipe("mixed_noise_alpha: -1")) {
            XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("mixed_noise_alpha"), "\($0)")
        }
    }

    /// ε-loss weights: min-SNR-γ shrinks the nearly clean end, the noisy-end factor raises the
    /// noisy end to 1/SNR (x₀ error weighted 1) up to its cap; SNR = ᾱ/(1 − ᾱ).
    func testLossWeightCombinesMinSNRAndTheNoisyEnd() throws {
        let both = try recipe("snr_gamma: 5\nnoisy_end_weight_cap: 100")
        XCTAssertEqual(both.lossWeight(alphaCumprod: 0.99), 5.0 / 99, accuracy: 1e-4)  // SNR 99: min-SNR only
        XCTAssertEqual(both.lossWeight(alphaCumprod: 0.5), 1, accuracy: 1e-6)  // SNR 1: neither
        XCTAssertEqual(both.lossWeight(alphaCumprod: 0.1), 9, accuracy: 1e-4)  // SNR 1/9
        XCTAssertEqual(both.lossWeight(alphaCumprod: 0.001), 100, accuracy: 1e-6)  // 1/SNR 999, capped
        let minSNROnly = try recipe("snr_gamma: 5")
        XCTAssertEqual(minSNROnly.lossWeight(alphaCumprod: 0.1), 1, accuracy: 1e-6)
        XCTAssertEqual(try recipe("").lossWeight(alphaCumprod: 0.99), 1)
        // In clean-sample terms (weight × SNR) the noisy end now counts 1 down to the cap's SNR.
        let snr: Float = 0.1 / 0.9
        XCTAssertEqual(both.lossWeight(alphaCumprod: 0.1) * snr, 1, accuracy: 1e-5)
        XCTAssertEqual(NoiseSchedule.noisyEndWeight(alphaCumprod: 0.2, cap: 2), 2)
    }

    func testMotionsMustBeKnownAndOnlyForVideo() throws {
        XCTAssertEqual(try recipe("motions: [left, right]").motions, ["left", "right"])
        XCTAssertNotEqual(try recipe("motions: [left]").fingerprint, try recipe("").fingerprint)
        for bad in ["[left, sideways]", "[]"] {
            XCTAssertThrowsError(try recipe("motions: \(bad)")) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("'motions'"), "\($0)")
            }
        }
        var image = try recipe("")
        image.kind = "image"
        image.tokenizer = "t"
        image.motions = ["left"]
        XCTAssertThrowsError(try image.validate(file: "i.yaml")) { XCTAssertTrue("\($0)".contains("'motions'"), "\($0)") }
    }

    func testTwoObjectProbabilityIsAProbabilityAndReachesTheTrainingImages() throws {
        XCTAssertEqual(try recipe("two_object_probability: 0.6").twoObjectProbability, 0.6)
        for bad in ["1.5", "-0.1"] {
            XCTAssertThrowsError(try recipe("two_object_probability: \(bad)")) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("two_object_probability"), "\($0)")
            }
        }
        // The share of two-object images in
        // its training batches follows the key (0.3 in the world without it).
        func twoObjectShare(_ key: String) throws -> Double {
            let r = try recipe(key, head: tinyImageHead, file: "i.yaml")
            let training = try DiffusionTraining(recipe: r, baseDirectory: WorldFixtures.repoRoot)
            let specs = (0..<4).flatMap { training.dataset.batch($0, size: 50, mode: .image).specs }
            return Double(specs.filter { $0.objects.count == 2 }.count) / Double(specs.count)
        }
        XCTAssertEqual(try twoObjectShare(""), 0.3, accuracy: 0.08)
        XCTAssertEqual(try twoObjectShare("two_object_probability: 0.9"), 0.9, accuracy: 0.06)
        XCTAssertEqual(try twoObjectShare("two_object_probability: 0"), 0)
    }

    /// A tiny image model's loss on training batch 0 (6 samples, fixed noise) with `keys` added
    /// to its recipe, and what the step reported through `reported`.
    func tinyStepLoss(_ keys: String, _ reported: KeyPath<DiffusionTraining, Float?>) throws -> (Float, Float?) {
        var r = try recipe(keys, head: tinyImageHead, file: "i.yaml")
        r.batchSize = 6
        let training = try DiffusionTraining(recipe: r, baseDirectory: WorldFixtures.repoRoot)
        var rng = RandomGenerator(seed: 1)
        let loss = try Autograd.inference { try training.loss(step: 0, rng: &rng) }
        return (loss.item, training[keyPath: reported])
    }

    func testGroundingLossWeightIsPositiveAndAddsTheTokenLoss() throws {
        XCTAssertEqual(try recipe("grounding_loss_weight: 0.01").groundingLossWeight, 0.01)
        for bad in ["0", "-1"] {
            XCTAssertThrowsError(try recipe("grounding_loss_weight: \(bad)")) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("grounding_loss_weight"), "\($0)")
            }
        }
        // With the key, a tiny model's step loss is the denoising loss (the same
        // data and noise) plus the weighted grounding loss it reports.
        let (plain, none) = try tinyStepLoss("", \.lastGroundingLoss)
        let (grounded, g) = try tinyStepLoss("grounding_loss_weight: 0.5", \.lastGroundingLoss)
        XCTAssertNil(none)
        let grounding = try XCTUnwrap(g)
        XCTAssertTrue(grounding > 0 && grounding < 1, "\(grounding)")
        XCTAssertEqual(grounded, plain + 0.5 * grounding, accuracy: 1e-5)
    }

    func testBindingKeysAreCheckedAndAddTheHinge() throws {
        let keyed = try recipe("binding_loss_weight: 1\nbinding_margin: 0.1\nbinding_timestep_range: [200, 800]")
        XCTAssertEqual(keyed.bindingLossWeight, 1)
        XCTAssertEqual(keyed.bindingMargin, 0.1)
        XCTAssertEqual(keyed.bindingTimestepRange, [200, 800])
        for (bad, key) in [("binding_loss_weight: 0", "binding_loss_weight"), ("binding_margin: 0.1", "binding_margin"),
                           ("binding_loss_weight: 1\nbinding_margin: -1", "binding_margin"),
                           ("binding_loss_weight: 1\nbinding_timestep_range: [900, 300]", "binding_timestep_range")] {
            XCTAssertThrowsError(try recipe(bad)) { XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains(key), "\($0)") }
        }
        // Every training image a pair: a tiny model's step loss is the same denoising loss (same
        // data and noise) plus the weighted hinge. With a margin no pair reaches, every pair
        // counts, and the hinge is the margin less the mean relative gap the step reports.
        let (plain, none) = try tinyStepLoss("two_object_probability: 1", \.lastBindingGap)
        let (bound, g) = try tinyStepLoss("two_object_probability: 1\nbinding_loss_weight: 0.5\nbinding_margin: 10", \.lastBindingGap)
        XCTAssertNil(none)
        let gap = try XCTUnwrap(g)
        XCTAssertTrue(abs(gap) < 1 && gap != 0, "\(gap)")
        XCTAssertEqual(bound, plain + 0.5 * (10 - gap), accuracy: 1e-4)
    }

    func testMotionKeysAreCheckedAndAddTheHinge() throws {
        let keyed = try recipe("motion_loss_weight: 0.1\nmotion_margin: 0.02\nmotion_timestep_range: [600, 1000]")
        XCTAssertEqual(keyed.motionLossWeight, 0.1)
        XCTAssertEqual(keyed.motionMargin, 0.02)
        XCTAssertEqual(keyed.motionTimestepRange, [600, 1000])
        for (bad, key, head) in [("motion_loss_weight: -1", "motion_loss_weight", nil), ("motion_margin: 0.1", "motion_margin", nil),
                                 ("motion_loss_weight: 1\nmotion_timestep_range: [1000, 700]", "motion_timestep_range", nil),
                                 ("motion_loss_weight: 1", "motion_loss_weight", tinyImageHead)] {
            XCTAssertThrowsError(try recipe(bad, head: head ?? "kind: video\ninit_from: models/image")) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains(key), "\($0)")
            }
        }
        // A tiny video model on clips that all move left, right, up or down: the step loss is the
        // same denoising loss plus the weighted hinge, which with a margin no clip reaches is the
        // margin less the mean relative gap the step reports.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-motion-hinge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try DiffusionTraining(recipe: recipe("", head: tinyImageHead, file: "i.yaml"), baseDirectory: WorldFixtures.repoRoot)
            .model.save(to: folder)
        func stepLoss(_ keys: String) throws -> (Float, Float?) {
            var r = try recipe("motions: [left, right, up, down]\n" + keys, head: "kind: video\ninit_from: \(folder.path)")
            r.batchSize = 4
            let training = try DiffusionTraining(recipe: r, baseDirectory: WorldFixtures.repoRoot)
            var rng = RandomGenerator(seed: 1)
            let loss = try Autograd.inference { try training.loss(step: 0, rng: &rng) }
            return (loss.item, training.lastMotionGap)
        }
        let (plain, none) = try stepLoss("")
        let (hinged, g) = try stepLoss("motion_loss_weight: 0.5\nmotion_margin: 10")
        XCTAssertNil(none)
        let gap = try XCTUnwrap(g)
        XCTAssertTrue(abs(gap) < 1 && gap != 0, "\(gap)")
        XCTAssertEqual(hinged, plain + 0.5 * (10 - gap), accuracy: 1e-4)
    }

    func testAContinuedModelKeepsItsGuidanceAndAnInflatedOneDoesNot() throws {
        let image = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-guidance-\(UUID().uuidString)")
        let video = image.appendingPathExtension("video")
        defer { for f in [image, video] { try? FileManager.default.removeItem(at: f) } }
        /// The model a run of `head` starts from.
        func start(_ head: String, file: String = "v.yaml") throws -> DiffusionModel {
            try DiffusionTraining(recipe: recipe("", head: head, file: file), baseDirectory: WorldFixtures.repoRoot).model
        }
        let tiny = try start(tinyImageHead, file: "i.yaml")
        tiny.generationConfig = GenerationConfig(guidanceScale: 2.0)
        try tiny.save(to: image)
        XCTAssertEqual(try start("kind: image\ninit_from: \(image.path)\ntrain_parameters: unet").generationConfig.guidanceScale, 2.0,
                       "an image model continued")
        let inflated = try start("kind: video\ninit_from: \(image.path)")
        XCTAssertNil(inflated.generationConfig.guidanceScale, "a video model inflated from an image model")
        inflated.generationConfig = GenerationConfig(guidanceScale: 3.0)
        try inflated.save(to: video)
        XCTAssertEqual(try start("kind: video\ninit_from: \(video.path)").generationConfig.guidanceScale, 3.0, "a video model continued")
    }

    func testTransformerLayersPerBlockDeepensTheStartModel() throws {
        for (bad, head) in [("[1, 0, 2]", tinyImageHead), ("[]", tinyImageHead), ("[1, 2, 2]", "kind: video\ninit_from: models/image")] {
            XCTAssertThrowsError(try recipe("transformer_layers_per_block: \(bad)", head: head)) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("transformer_layers_per_block"), "\($0)")
            }
        }
        // A fresh model is built with the depth asked for.
        let fresh = try recipe("transformer_layers_per_block: [1, 2, 2]", head: tinyImageHead)
        let start = try DiffusionTraining(recipe: fresh, baseDirectory: WorldFixtures.repoRoot)
        let startUNet = try XCTUnwrap(start.model.unet as? UNet2DConditionModel)
        XCTAssertEqual(startUNet.config.transformerLayersPerBlock, .perBlock([1, 2, 2]))
        // A model continued with init_from is deepened: its weights kept, the added blocks new.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-deepen-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try start.model.save(to: folder)
        let deeper = try recipe("train_parameters: unet\ntransformer_layers_per_block: [1, 3, 2]\nadded_layers_lr_scale: 5",
                                head: "kind: image\ninit_from: \(folder.path)")
        let training = try DiffusionTraining(recipe: deeper, baseDirectory: WorldFixtures.repoRoot)
        let unet = try XCTUnwrap(training.model.unet as? UNet2DConditionModel)
        XCTAssertEqual(unet.config.transformerLayersPerBlock, .perBlock([1, 3, 2]))
        let weights = unet.stateDict()
        let startWeights = startUNet.stateDict()
        for (key, t) in startWeights { XCTAssertEqual(weights[key]?.scalars, t.scalars, key) }
        XCTAssertNotNil(weights["down_blocks.1.attentions.0.transformer_blocks.2.attn2.to_out.0.weight"])
        XCTAssertEqual(training.addedUNetKeys, Set(weights.keys).subtracting(startWeights.keys), "the keys added_layers_lr_scale scales")
        // One AdamW step moves every weight with a gradient by its learning rate (the first
        // step's update is ±1 per element), so the added blocks move five times as far.
        var oneStep = deeper
        oneStep.steps = 1
        let stepped = folder.appendingPathComponent("stepped")
        try DiffusionTraining(recipe: oneStep, baseDirectory: WorldFixtures.repoRoot)
            .run(output: stepped, checkpoint: folder.appendingPathComponent("stepped.ckpt"), resume: false)
        let after = try XCTUnwrap(DiffusionModel.load(directory: stepped).unet as? UNet2DConditionModel).stateDict()
        func largestMove(_ keys: [String]) -> Float {
            keys.map { key in zip(after[key]!.scalars, weights[key]!.scalars).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
        }
        let old = largestMove(startWeights.keys.filter { $0.contains(".attn2.to_out.0.weight") })
        XCTAssertEqual(largestMove(training.addedUNetKeys.filter { $0.contains(".attn2.to_out.0.weight") }) / old, 5, accuracy: 0.05)
        for (bad, head) in [("added_layers_lr_scale: 5", "kind: image\ninit_from: \(folder.path)"),
                            ("transformer_layers_per_block: [1, 2, 2]\nadded_layers_lr_scale: 5", tinyImageHead),
                            ("transformer_layers_per_block: [1, 2, 2]\nadded_layers_lr_scale: 0", "kind: image\ninit_from: \(folder.path)")] {
            XCTAssertThrowsError(try recipe(bad, head: head)) { XCTAssertTrue("\($0)".contains("added_layers_lr_scale"), "\($0)") }
        }
        // Fewer layers than the start model has: the folder and the key are named.
        let shallower = try recipe("transformer_layers_per_block: [1, 1, 1]", head: "kind: image\ninit_from: \(folder.path)")
        XCTAssertThrowsError(try DiffusionTraining(recipe: shallower, baseDirectory: WorldFixtures.repoRoot)) {
            XCTAssertTrue("\($0)".contains(folder.path) && "\($0)".contains("transformer_layers_per_block"), "\($0)")
        }
    }

    /// --export: a checkpoint's EMA weights become the model folder the finished run would have
    /// written at that step, and the checkpoint stays for --resume.
    func testExportWritesTheCheckpointsEMAWeightsAndKeepsTheCheckpoint() throws {
        var r = try recipe("", head: tinyImageHead)
        r.emaDecay = 0.9
        r.steps = 4
        r.checkpointEvery = 2
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = folder.appendingPathComponent("run.ckpt")
        let finished = folder.appendingPathComponent("finished"), exported = folder.appendingPathComponent("exported")
        try DiffusionTraining(recipe: r, baseDirectory: WorldFixtures.repoRoot).run(output: finished, checkpoint: checkpoint, resume: false)
        let before = try Data(contentsOf: checkpoint)
        let step = try DiffusionTraining(recipe: r, baseDirectory: WorldFixtures.repoRoot).export(checkpoint: checkpoint, output: exported)
        XCTAssertEqual(step, 4)
        XCTAssertEqual(try Data(contentsOf: checkpoint), before, "the checkpoint is left as it was")
        let a = try DiffusionModel.load(directory: finished).unet.stateDict(), b = try DiffusionModel.load(directory: exported).unet.stateDict()
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (key, t) in a { XCTAssertEqual(b[key]?.scalars, t.scalars, key) }
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: exported.appendingPathComponent("training.json"))) as? [String: Any])
        XCTAssertEqual(record["steps"] as? Int, 4)
        XCTAssertEqual(record["exported_from_checkpoint"] as? String, "run.ckpt")
        // Another recipe's checkpoint, or none, is refused with the file named; nothing is written.
        var other = r
        other.seed = 4
        XCTAssertThrowsError(try DiffusionTraining(recipe: other, baseDirectory: WorldFixtures.repoRoot)
            .export(checkpoint: checkpoint, output: folder.appendingPathComponent("other"))) {
            XCTAssertTrue("\($0)".contains("run.ckpt") && "\($0)".contains("seed"), "\($0)")
        }
        XCTAssertThrowsError(try DiffusionTraining(recipe: r, baseDirectory: WorldFixtures.repoRoot)
            .export(checkpoint: folder.appendingPathComponent("none.ckpt"), output: folder.appendingPathComponent("none"))) {
            XCTAssertTrue("\($0)".contains("none.ckpt: no checkpoint to read"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("other").path))
    }

    func testNoisyEndWeightCapMustBeAtLeastOne() throws {
        XCTAssertNotEqual(try recipe("noisy_end_weight_cap: 10").fingerprint, try recipe("").fingerprint)
        for bad in ["0.5", "-1", ".inf"] {
            XCTAssertThrowsError(try recipe("noisy_end_weight_cap: \(bad)")) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("noisy_end_weight_cap"), "\($0)")
            }
        }
    }

    /// A v-loss's error is (SNR + 1) times the clean sample's, so min-SNR divides by SNR + 1:
    /// in clean-sample terms both parametrisations then weigh min(SNR, γ).
    func testMinSNRWeightOfAVLossCountsTheCleanSampleAsForEpsilon() throws {
        let r = try recipe("snr_gamma: 5\nprediction_type: v_prediction")
        for abar: Float in [0.999, 0.9, 0.5, 0.1, 0.001] {
            let snr = abar / (1 - abar)
            XCTAssertEqual(r.lossWeight(alphaCumprod: abar, prediction: .vPrediction) * (snr + 1), min(snr, 5), accuracy: 1e-3 * max(1, snr))
            XCTAssertEqual(r.lossWeight(alphaCumprod: abar, prediction: .epsilon) * snr, min(snr, 5), accuracy: 1e-3 * max(1, snr))
        }
        XCTAssertEqual(try recipe("").lossWeight(alphaCumprod: 0.1, prediction: .vPrediction), 1)
    }

    func testPredictionTypeAndSpacingAreCheckedAndSaved() throws {
        let v = try recipe("prediction_type: v_prediction\ntimestep_spacing: trailing")
        XCTAssertNotEqual(v.fingerprint, try recipe("").fingerprint)
        let saved = v.sampling(SchedulerConfig())
        XCTAssertEqual(saved.predictionType, .vPrediction)
        XCTAssertEqual(saved.timestepSpacing, .trailing)
        let kept = try recipe("").sampling(SchedulerConfig(predictionType: .vPrediction))
        XCTAssertEqual(kept.predictionType, .vPrediction, "without the key a continued model keeps its own")
        for (yaml, key) in [("prediction_type: sample", "prediction_type"), ("prediction_type: x0", "prediction_type"),
                            ("timestep_spacing: middle", "timestep_spacing"),
                            ("prediction_type: v_prediction\nnoisy_end_weight_cap: 10", "noisy_end_weight_cap")] {
            XCTAssertThrowsError(try recipe(yaml), yaml) {
                XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("'\(key)'"), "\($0)")
            }
        }
    }
}
