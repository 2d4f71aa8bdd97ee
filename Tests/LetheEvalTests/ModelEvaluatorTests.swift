import Foundation
import XCTest
import LetheCore
import LetheModels
import LetheWorld
@testable import LetheEval

final class ModelEvaluatorTests: XCTestCase {
    static func entry(_ json: String) throws -> PromptEntry {
        try XCTUnwrap(PromptSet.parse(json, source: "test", name: "t").entries.first)
    }

    /// Frame detections where each row detects exactly the classes listed.
    static func detections(_ rows: [(objects: [String], colors: [String], styles: [String])],
                           config: DetectorConfig) -> FrameDetections {
        func table(_ pick: (Int) -> [String], _ classes: [String]) -> Tensor {
            let t = Tensor.zeros([rows.count, classes.count])
            for r in rows.indices { for name in pick(r) { t[flat: r * classes.count + classes.firstIndex(of: name)!] = 0.9 } }
            return t
        }
        return FrameDetections(objects: table({ rows[$0].objects }, config.objectClasses),
                               colors: table({ rows[$0].colors }, config.colorClasses),
                               styles: table({ rows[$0].styles }, config.styleClasses), threshold: 0.5)
    }

    func testTwoObjectPromptsCheckEachNamedConceptOnItsOwn() throws {
        let config = DetectorConfig()
        let e = try Self.entry("""
            {"prompt": "a crimson ball and a blue star", "object": "circle", "color": "red", \
            "phrasings": {"object": "synonym", "color": "synonym"}, "second": {"object": "star", "color": "blue"}}
            """)
        // The circle and red are found, the star is not, blue is; an extra class does not matter.
        let d = Self.detections([(["circle", "heart"], ["red", "blue"], ["flat"])], config: config)
        let trials = ModelEvaluator.trials(entry: e, sample: 4, frames: d, rows: 0..<1, motion: nil, config: config)
        XCTAssertEqual(trials, [
            ConceptTrial(sample: 4, family: .object, concept: "circle", phrasing: .synonym, score: 1, objectsInPrompt: 2),
            ConceptTrial(sample: 4, family: .color, concept: "red", phrasing: .synonym, score: 1, objectsInPrompt: 2),
            ConceptTrial(sample: 4, family: .object, concept: "star", phrasing: .keyword, score: 0, objectsInPrompt: 2),
            ConceptTrial(sample: 4, family: .color, concept: "blue", phrasing: .keyword, score: 1, objectsInPrompt: 2),
        ])
    }

    func testClipScoresAverageFramesAndMotionComesFromTheClipHead() throws {
        let config = DetectorConfig()
        let e = try Self.entry(#"{"prompt": "a striped square moving left", "object": "square", "style": "striped", "motion": "left"}"#)
        var rows = Array(repeating: (objects: ["square"], colors: [String](), styles: ["striped"]), count: 8)
        rows[2].objects = []
        rows[5].styles = ["dotted"]
        rows[6].styles = []
        // Rows 8..<16 belong to the second clip of the batch.
        let d = Self.detections(Array(repeating: (objects: [String](), colors: [String](), styles: [String]()), count: 8) + rows,
                                config: config)
        let left = config.motionClasses.firstIndex(of: "left")!
        let trials = ModelEvaluator.trials(entry: e, sample: 1, frames: d, rows: 8..<16, motion: left, config: config)
        XCTAssertEqual(trials.map(\.score), [7.0 / 8, 6.0 / 8, 1])
        XCTAssertEqual(trials.map(\.family), [.object, .style, .motion])
        XCTAssertEqual(trials.map(\.detected), [nil, nil, "left"])
        let wrong = ModelEvaluator.trials(entry: e, sample: 1, frames: d, rows: 8..<16, motion: left + 1, config: config)
        XCTAssertEqual(wrong.last?.score, 0)
        XCTAssertEqual(wrong.last?.detected, config.motionClasses[left + 1], "the motion read instead")
    }

    func testFamilyMetricsSplitByWording() {
        let trials = [
            ConceptTrial(sample: 0, family: .object, concept: "circle", phrasing: .keyword, score: 1),
            ConceptTrial(sample: 1, family: .object, concept: "circle", phrasing: .heldout, score: 0),
            ConceptTrial(sample: 2, family: .object, concept: "star", phrasing: .keyword, score: 0.25, objectsInPrompt: 2),
            ConceptTrial(sample: 2, family: .color, concept: "red", phrasing: .keyword, score: 1, objectsInPrompt: 2),
        ]
        let m = ModelEvaluator.familyMetrics(trials)
        XCTAssertEqual(Set(m.keys), ["object", "color"], "families without trials are left out")
        XCTAssertEqual(m["object"]?.accuracy ?? -1, 1.25 / 3, accuracy: 1e-12)
        XCTAssertEqual(m["object"]?.perConcept, ["circle": 0.5, "star": 0.25])
        XCTAssertEqual(m["object"]?.keywordAccuracy ?? -1, 0.625, accuracy: 1e-12)
        XCTAssertEqual(m["object"]?.paraphraseAccuracy, 0)
        XCTAssertNil(m["color"]?.paraphraseAccuracy)
        XCTAssertEqual(m["object"]?.oneObjectAccuracy ?? -1, 0.5, accuracy: 1e-12)
        XCTAssertEqual(m["object"]?.twoObjectAccuracy, 0.25)
        XCTAssertNil(m["color"]?.oneObjectAccuracy, "no one-object trial of color")
        XCTAssertNil(m["object"]?.confusion, "frame families have no single class read instead")
    }

    func testMotionConfusionCountsWhatTheClipHeadRead() {
        func motion(_ asked: String, read: String) -> ConceptTrial {
            ConceptTrial(sample: 0, family: .motion, concept: asked, phrasing: .keyword, score: asked == read ? 1 : 0,
                         detected: read)
        }
        let m = ModelEvaluator.familyMetrics([motion("left", read: "left"), motion("left", read: "right"),
                                              motion("still", read: "spin"), motion("still", read: "spin"),
                                              motion("up", read: "down")])
        XCTAssertEqual(m["motion"]?.confusion, ["left": ["left": 1, "right": 1], "still": ["spin": 2], "up": ["down": 1]])
        XCTAssertEqual(m["motion"]?.accuracy ?? -1, 0.2, accuracy: 1e-12)
    }

    func testTemporalConsistency() {
        // Two clips of three frames: the first never changes, the second turns by 90° then back.
        let f = Tensor(shape: [6, 2], data: [1, 0, 1, 0, 2, 0, 1, 0, 0, 1, 1, 0])
        XCTAssertEqual(ModelEvaluator.temporalConsistency(frameFeatures: f, frames: 3)!, 0.5, accuracy: 1e-12)
    }

    func testNoiseDependsOnSeedAndPromptOnly() throws {
        let a = try Self.entry(#"{"prompt": "a red circle", "object": "circle", "id": "x"}"#)
        var b = a
        b.id = "y"
        XCTAssertEqual(EvaluationCase(entry: a, seed: 0).noiseStream, EvaluationCase(entry: b, seed: 0).noiseStream)
        b.prompt = "a red ball"
        XCTAssertNotEqual(EvaluationCase(entry: a, seed: 0).noiseStream, EvaluationCase(entry: b, seed: 0).noiseStream)
    }

    func testGroundTruthShowsThePrompt() throws {
        var options = EvaluationOptions()
        options.seeds = 2
        let evaluator = ModelEvaluator(detector: EvalFixtures.tinyDetector(), options: options)
        let e = try Self.entry(#"{"prompt": "a red striped star moving up", "object": "star", "color": "red", "style": "striped", "motion": "up"}"#)
        let cases = evaluator.cases([e])
        XCTAssertEqual(cases.map(\.seed), [0, 1])
        let truth = try evaluator.groundTruth(cases, video: true)
        XCTAssertEqual(truth.shape, [2, 3, 8, 32, 32])
        XCTAssertNotEqual(truth.scalars[0..<(3 * 8 * 32 * 32)], truth.scalars[(3 * 8 * 32 * 32)...], "each seed its own render")
        // A red object: some pixel is far redder than it is green.
        let plane = 8 * 32 * 32
        XCTAssertTrue((0..<plane).contains { truth[flat: $0] - truth[flat: plane + $0] > 1 })
    }

    /// The whole loop on the tiny diffusers fixture (another tokenizer and width than the world's
    /// models: any CLIP tokenizer reads any prompt) with a random tiny detector.
    func testEvaluateFillsTheReport() throws {
        let folder = EvalFixtures.repoRoot.appendingPathComponent("Tests/LetheModelsTests/Fixtures/pipeline/sd_tiny")
        let model = try DiffusionModel.load(directory: folder)
        var options = EvaluationOptions()
        options.steps = 2
        options.batchSize = 2
        let evaluator = ModelEvaluator(detector: EvalFixtures.tinyDetector(), options: options)
        let prompts = try PromptSet.parse("""
            {"prompt": "a red circle", "object": "circle", "color": "red"}
            {"prompt": "a blue star moving up", "object": "star", "color": "blue", "motion": "up"}
            {"prompt": "a dotted heart", "object": "heart", "style": "dotted", "phrasings": {"object": "keyword", "style": "synonym"}}
            {"prompt": "a green cross", "object": "cross", "color": "green"}
            """, source: "p.jsonl", name: "p")
        var batches: [Int] = []
        let report = try evaluator.evaluate(model: model, modelPath: "sd_tiny", prompts: prompts, promptsPath: "p.jsonl",
                                            detectorPath: "tiny") { done, _ in batches.append(done) }
        XCTAssertEqual(batches, [2, 3], "three image prompts in batches of two; the clip prompt is left out")
        XCTAssertEqual(report.promptCount, 3)
        XCTAssertFalse(report.video)
        XCTAssertEqual(Set(report.metrics.keys), ["object", "color", "style"])
        XCTAssertEqual(Set(report.metrics["object"]!.perConcept.keys), ["circle", "heart", "cross"])
        XCTAssertNotNil(report.metrics["style"]?.paraphraseAccuracy)
        XCTAssertNil(report.temporalConsistency)
        XCTAssertTrue(report.frechetDistance.map { $0.isFinite && $0 >= 0 } ?? false)

        // Same seeds, same prompts: the same numbers.
        let again = try evaluator.evaluate(model: model, modelPath: "sd_tiny", prompts: prompts, promptsPath: "p.jsonl",
                                           detectorPath: "tiny")
        XCTAssertEqual(again.metrics, report.metrics)
        XCTAssertEqual(again.frechetDistance, report.frechetDistance)
    }

    /// An asked guidance wins; otherwise the folder's generation_config.json; otherwise the world's.
    func testGuidanceComesFromTheFolderUnlessAsked() throws {
        let folder = EvalFixtures.repoRoot.appendingPathComponent("Tests/LetheModelsTests/Fixtures/pipeline/sd_tiny")
        let model = try DiffusionModel.load(directory: folder)
        XCTAssertEqual(EvaluationOptions.guidance(nil, for: model), EvaluationOptions.worldGuidance)
        model.generationConfig.guidanceScale = 2
        XCTAssertEqual(EvaluationOptions.guidance(nil, for: model), 2)
        XCTAssertEqual(EvaluationOptions.guidance(3, for: model), 3)
        XCTAssertEqual(EvaluationOptions.guidance(1, for: model), 1, "1 (no guidance) is a choice, not a missing value")
    }
}
