import Foundation
import XCTest
import LetheCore
import LetheModels
@testable import LetheEval

final class DetectorTrainingTests: XCTestCase {
    static let tinyRecipe = """
        steps: 4
        images_per_batch: 2
        clips_per_batch: 1
        frames_per_clip: 2
        two_object_probability: 0.5
        exclude_held_out_combos: false
        lr: 0.003
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0001
        ema_decay: 0.9
        noise_std: 0.03
        seed: 7
        checkpoint_every: 2
        eval_clips: 2
        eval_images: 2
        eval_seed: 8
        frame_channels: [8, 8]
        frame_strides: [2, 2]
        motion_channels: [8]
        motion_strides: [2]
        norm_num_groups: 4
        """

    func testCommittedRecipeLoads() throws {
        let recipe = try DetectorRecipe.load(from: EvalFixtures.repoRoot.appendingPathComponent("configs/train/detector.yaml"))
        XCTAssertFalse(recipe.excludeHeldOutCombos, "the detector must see every combination")
        XCTAssertNotEqual(recipe.seed, recipe.evalSeed)
        XCTAssertEqual(recipe.learningRate(step: recipe.warmupSteps - 1), recipe.lr, accuracy: 1e-9)
        XCTAssertEqual(recipe.learningRate(step: recipe.steps), recipe.finalLr, accuracy: 1e-9)
    }

    func testRecipeErrorsNameTheKey() {
        func message(_ yaml: String) -> String {
            do {
                let r = try RecipeLoader.decode(DetectorRecipe.self, yaml: yaml, file: "d.yaml")
                try r.validate(file: "d.yaml")
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(message(Self.tinyRecipe), "no error")
        XCTAssertTrue(message(Self.tinyRecipe + "\nbatch: 3").hasPrefix("d.yaml: unknown key 'batch'"))
        XCTAssertEqual(message(Self.tinyRecipe.replacingOccurrences(of: "eval_seed: 8", with: "eval_seed: 7")),
                       "d.yaml: key 'eval_seed': must differ from seed (7): held-out clips are rendered from their own seed")
        XCTAssertEqual(message(Self.tinyRecipe.replacingOccurrences(of: "frames_per_clip: 2", with: "frames_per_clip: 9")),
                       "d.yaml: key 'frames_per_clip': expected 1...8, got 9")
        XCTAssertTrue(message(Self.tinyRecipe.replacingOccurrences(of: "frame_strides: [2, 2]", with: "frame_strides: [2]"))
            .hasPrefix("d.yaml: key 'frame_strides': expected one stride"))
        XCTAssertEqual(message(Self.tinyRecipe + "\nframe_pooling: sum"), "d.yaml: key 'frame_pooling': expected max or mean, got \"sum\"")
    }

    func testResumedRunRetracesTheUninterruptedOne() throws {
        let recipe = try RecipeLoader.decode(DetectorRecipe.self, yaml: Self.tinyRecipe, file: "tiny.yaml")
        let full = EvalFixtures.temporaryDirectory(), crashed = EvalFixtures.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: full)
            try? FileManager.default.removeItem(at: crashed)
        }
        let quiet: (String) -> Void = { _ in }
        let reference = try DetectorTraining.run(recipe: recipe, outDirectory: full, resume: false, log: quiet)
        XCTAssertEqual(reference.losses.count, 4)
        XCTAssertTrue(reference.losses.allSatisfy(\.isFinite))

        XCTAssertThrowsError(try DetectorTraining.train(recipe: recipe, outDirectory: crashed, resume: false, log: quiet,
                                                        failAtStep: 3))
        XCTAssertFalse(FileManager.default.fileExists(atPath: crashed.appendingPathComponent("model.safetensors").path),
                       "no model before the run finishes")
        let resumed = try DetectorTraining.run(recipe: recipe, outDirectory: crashed, resume: true, log: quiet)
        XCTAssertEqual(resumed.losses, reference.losses, "bit-identical loss curve after resume")
        XCTAssertEqual(try Data(contentsOf: crashed.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: full.appendingPathComponent("model.safetensors")))

        // The written model loads and its held-out report is there.
        let detector = try ConceptDetector.load(from: full)
        XCTAssertEqual(detector.config.trainingSeed, 7)
        let report = try JSONDecoder().decode(DetectorAccuracy.self,
                                              from: Data(contentsOf: full.appendingPathComponent("accuracy.json")))
        XCTAssertEqual(report.clipCount, 2)
        XCTAssertEqual(report.motion.total, 2)
        XCTAssertEqual(report.images.object.ranked.total, 2)
        XCTAssertThrowsError(try DetectorAccuracy.evaluate(detector, clips: 1, images: 0, seed: 7)) {
            XCTAssertTrue("\($0)".contains("training seed"))
        }
    }

    func testInitFromStartsFromASavedDetector() throws {
        let start = EvalFixtures.temporaryDirectory(), out = EvalFixtures.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: start)
            try? FileManager.default.removeItem(at: out)
        }
        let saved = EvalFixtures.tinyDetector(seed: 11)
        try saved.save(to: start)
        // A learning rate too small to move float16 weights and no average: the written model
        // is the starting one, not the recipe's fresh initialisation.
        let yaml = Self.tinyRecipe
            .replacingOccurrences(of: "lr: 0.003", with: "lr: 0.000000001")
            .replacingOccurrences(of: "final_lr: 0.0001", with: "final_lr: 0.0")
            .replacingOccurrences(of: "ema_decay: 0.9", with: "ema_decay: 0")
            .replacingOccurrences(of: "weight_decay: 0.0001", with: "weight_decay: 0")
            .replacingOccurrences(of: "eval_clips: 2", with: "eval_clips: 0")
            .replacingOccurrences(of: "eval_images: 2", with: "eval_images: 0")
            + "\ninit_from: \(start.path)"
        let recipe = try RecipeLoader.decode(DetectorRecipe.self, yaml: yaml, file: "init.yaml")
        _ = try DetectorTraining.run(recipe: recipe, outDirectory: out, resume: false, log: { _ in })
        let trained = try ConceptDetector.load(from: out).stateDict()
        let expected = try ConceptDetector.load(from: start).stateDict()
        for (key, tensor) in expected {
            let got = try XCTUnwrap(trained[key])
            let worst = (0..<tensor.count).map { abs(got[flat: $0] - tensor[flat: $0]) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-3, key)
        }

        let missing = yaml.replacingOccurrences(of: "init_from: \(start.path)", with: "init_from: /nonexistent/detector")
        let bad = try RecipeLoader.decode(DetectorRecipe.self, yaml: missing, file: "init.yaml")
        XCTAssertThrowsError(try DetectorTraining.run(recipe: bad, outDirectory: out, resume: false, log: { _ in })) {
            XCTAssertTrue("\($0)".contains("/nonexistent/detector"), "\($0)")
        }
    }
}
