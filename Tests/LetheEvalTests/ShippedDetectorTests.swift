import Foundation
import XCTest
import LetheCore
import LetheWorld
@testable import LetheEval

/// The committed detector (models/detector) must read clean renders it never saw almost
/// perfectly: every erasure number goes through it.
final class ShippedDetectorTests: XCTestCase {
    func testShippedDetectorIsAccurateOnHeldOutRenders() throws {
        let dir = EvalFixtures.repoRoot.appendingPathComponent("models/detector")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("no shipped detector at \(dir.path); make one with `lethe train detector`")
        }
        let detector = try ConceptDetector.load(from: dir)
        // A seed of its own: neither the training seed nor the one of accuracy.json.
        let accuracy = try DetectorAccuracy.evaluate(detector, clips: 32, images: 32, seed: 0x5EED_7E57)
        for (name, value) in accuracy.headline {
            XCTAssertGreaterThanOrEqual(value, 0.98, "\(name): \(accuracy.summary)")
        }
    }
}

/// The evaluator's scoring on ground truth: renders of the eval prompts, read the way
/// `lethe eval` reads generated samples, must score near perfectly, or no model could.
final class GroundTruthCeilingTests: XCTestCase {
    func testGroundTruthOfTheEvalPromptsScoresNearPerfectly() throws {
        let dir = EvalFixtures.repoRoot.appendingPathComponent("models/detector")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("no shipped detector at \(dir.path); make one with `lethe train detector`")
        }
        let evaluator = ModelEvaluator(detector: try ConceptDetector.load(from: dir), options: EvaluationOptions())
        let prompts = try PromptSet.read(EvalFixtures.repoRoot.appendingPathComponent("configs/prompts/v1/eval.jsonl"))
        for (video, every) in [(false, 10), (true, 25)] {
            // A spread of the file (one- and two-object prompts, every wording), small enough for
            // a debug build.
            let entries = ModelEvaluator.entries(prompts, video: video).enumerated().filter { $0.offset % every == 0 }.map(\.element)
            let cases = evaluator.cases(entries)
            let scored = try evaluator.score(try evaluator.groundTruth(cases, video: video), cases: cases)
            for (family, metrics) in ModelEvaluator.familyMetrics(scored.trials) {
                XCTAssertGreaterThanOrEqual(metrics.accuracy, 0.95, "\(video ? "clips" : "images") \(family): \(metrics.perConcept)")
            }
        }
    }
}
