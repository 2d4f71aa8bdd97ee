import Foundation
import XCTest
import LetheCore
import LetheModels
import LetheWorld
@testable import LetheEval

final class ErasureEvaluatorTests: XCTestCase {
    func testConceptNamesResolveToTheirConcept() throws {
        XCTAssertEqual(try NamedConcept.resolve("circle"), NamedConcept(family: .object, keyword: "circle"))
        XCTAssertEqual(try NamedConcept.resolve("Ball"), NamedConcept(family: .object, keyword: "circle"))
        XCTAssertEqual(try NamedConcept.resolve("round shape"), NamedConcept(family: .object, keyword: "circle"))
        XCTAssertEqual(try NamedConcept.resolve("crimson"), NamedConcept(family: .color, keyword: "red"))
        XCTAssertEqual(try NamedConcept.resolve("Oskar Vell"), NamedConcept(family: .style, keyword: "striped"))
        XCTAssertEqual(try NamedConcept.resolve("left"), NamedConcept(family: .motion, keyword: "left"))
        XCTAssertThrowsError(try NamedConcept.resolve("giraffe")) { error in
            XCTAssertTrue("\(error)".hasPrefix("--erased: unknown concept 'giraffe'"), "\(error)")
        }
    }

    func testGroups() throws {
        let eval = try PromptSet.parse("""
            {"prompt": "a red circle", "object": "circle", "color": "red"}
            {"prompt": "a red ball", "object": "circle", "color": "red", "phrasings": {"object": "synonym", "color": "keyword"}}
            {"prompt": "a blue star", "object": "star", "color": "blue"}
            {"prompt": "a blue star and a red circle", "object": "star", "color": "blue", "second": {"object": "circle", "color": "red"}}
            {"prompt": "a green heart", "object": "heart", "color": "green"}
            {"prompt": "a yellow square", "object": "square", "color": "yellow"}
            """, source: "e", name: "e").entries
        let heldout = try PromptSet.parse("""
            {"prompt": "a round shape", "object": "circle", "phrasings": {"object": "heldout"}}
            {"prompt": "a box with four equal sides", "object": "square", "phrasings": {"object": "heldout"}}
            """, source: "h", name: "h").entries
        let g = ErasureGroups(concept: NamedConcept(family: .object, keyword: "circle"), eval: eval, heldout: heldout, perGroup: nil)
        XCTAssertEqual(Set(g.target.map(\.prompt)), ["a red circle", "a blue star and a red circle"], "by keyword only")
        XCTAssertEqual(g.paraphrase.map(\.prompt), ["a round shape"])
        XCTAssertEqual(Set(g.inDomain.map(\.prompt)), ["a blue star", "a green heart", "a yellow square"])
        XCTAssertEqual(Set(g.crossDomain.map(\.prompt)), ["a blue star", "a green heart", "a yellow square"])
        XCTAssertEqual(g.all.count, 6, "each prompt once")

        let colors = ErasureGroups(concept: NamedConcept(family: .color, keyword: "blue"), eval: eval, heldout: heldout, perGroup: 2)
        XCTAssertEqual(colors.target.count, 2)
        XCTAssertEqual(colors.inDomain.count, 2)
        XCTAssertTrue(colors.inDomain.allSatisfy { !$0.names(.color, "blue") && $0.color != nil })
        XCTAssertTrue(colors.paraphrase.isEmpty)
    }

    func testSameModelTwiceErasesNothing() throws {
        let folder = EvalFixtures.repoRoot.appendingPathComponent("Tests/LetheModelsTests/Fixtures/pipeline/sd_tiny")
        let model = try DiffusionModel.load(directory: folder)
        var options = EvaluationOptions()
        options.steps = 2
        let evaluator = ModelEvaluator(detector: EvalFixtures.tinyDetector(), options: options)
        let eval = try PromptSet.parse("""
            {"prompt": "a red circle", "object": "circle", "color": "red"}
            {"prompt": "a blue star", "object": "star", "color": "blue"}
            {"prompt": "a green heart", "object": "heart", "color": "green"}
            """, source: "e", name: "e").entries
        let heldout = try PromptSet.parse(#"{"prompt": "a round shape", "object": "circle", "phrasings": {"object": "heldout"}}"#,
                                          source: "h", name: "h").entries
        let concept = NamedConcept(family: .object, keyword: "circle")
        let groups = ErasureGroups(concept: concept, eval: eval, heldout: heldout, perGroup: nil)
        let dir = EvalFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = ErasureEvaluator.SampleOutput(count: 1, directory: dir.appendingPathComponent("samples"), relativeTo: dir)
        let r = try ErasureEvaluator(evaluator: evaluator, concept: concept).evaluate(
            model: model, modelPath: "a", baseline: model, baselinePath: "b", groups: groups, detectorPath: "d", samples: output)
        XCTAssertEqual(r.erased, ["circle"])
        XCTAssertEqual(r.family, "object")
        XCTAssertEqual(r.erasure.target, r.erasure.targetBaseline)
        XCTAssertEqual(r.erasure.paraphrase, r.erasure.paraphraseBaseline)
        XCTAssertNotNil(r.erasure.paraphrase)
        XCTAssertEqual(r.retention.inDomain, r.retention.inDomainBaseline)
        XCTAssertEqual(r.retention.crossDomain, r.retention.crossDomainBaseline)
        XCTAssertEqual(r.quality.frechetDistance, r.quality.frechetDistanceBaseline)
        XCTAssertTrue(r.perConcept.allSatisfy { $0.accuracy == $0.accuracyBaseline })
        // One trial per named concept: the circle of the target and held-out prompts; star and
        // heart in-domain; their colors (blue, green) cross-domain.
        XCTAssertEqual(r.trials, ErasureEvaluation.Trials(target: 1, paraphrase: 1, inDomain: 2, crossDomain: 2))
        // A model against itself changes nothing: the two-sample groups' changes have a standard
        // error of 0; the one-sample groups have none.
        let se = try XCTUnwrap(r.standardErrors)
        XCTAssertEqual(se.inDomainChange, 0)
        XCTAssertEqual(se.crossDomainChange, 0)
        XCTAssertNotNil(se.inDomain)
        XCTAssertNil(se.targetChange)
        XCTAssertNil(se.paraphraseChange)
        XCTAssertEqual(Set(r.perConcept.filter { $0.family == "object" }.map(\.concept)), ["circle", "star", "heart"])
        XCTAssertEqual(r.samples, [ErasureEvaluation.Sample(prompt: "a red circle", seed: 0, baseline: "samples/0000-base.gif",
                                                            model: "samples/0000-erased.gif")])
        for s in r.samples {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(s.baseline).path))
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(s.model).path))
        }
    }

    /// The baseline's samples are generated once per (folder bytes, cases, settings): a second
    /// eval reads them and reports the same; another folder, other settings or other prompts do not hit.
    func testBaselineCacheIsUsedOnlyForTheSameInputs() throws {
        let fixture = EvalFixtures.repoRoot.appendingPathComponent("Tests/LetheModelsTests/Fixtures/pipeline/sd_tiny")
        let dir = EvalFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("model")
        try FileManager.default.copyItem(at: fixture, to: folder)
        let model = try DiffusionModel.load(directory: folder)
        var options = EvaluationOptions()
        options.steps = 2
        let evaluator = ModelEvaluator(detector: EvalFixtures.tinyDetector(), options: options)
        let eval = try PromptSet.parse("""
            {"prompt": "a red circle", "object": "circle", "color": "red"}
            {"prompt": "a blue star", "object": "star", "color": "blue"}
            """, source: "e", name: "e").entries
        let concept = NamedConcept(family: .object, keyword: "circle")
        let groups = ErasureGroups(concept: concept, eval: eval, heldout: [], perGroup: nil)
        let cache = BaselineSampleCache(directory: dir.appendingPathComponent("cache"))
        var messages: [String] = []
        func run() throws -> ErasureEvaluation {
            try ErasureEvaluator(evaluator: evaluator, concept: concept).evaluate(
                model: model, modelPath: "a", baseline: model, baselinePath: folder.path, groups: groups, detectorPath: "d",
                samples: nil, baselineCache: cache, log: { messages.append($0) })
        }
        let first = try run()
        XCTAssertTrue(messages.isEmpty, "\(messages)")
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        XCTAssertEqual(files.count, 1)
        let second = try run()
        XCTAssertEqual(messages.count, 1, "the second eval reads the cache")
        XCTAssertEqual(second.erasure, first.erasure)
        XCTAssertEqual(second.retention, first.retention)

        let cases = evaluator.cases(groups.all)
        let key = try cache.url(modelFolder: folder, cases: cases, options: options, sampleSize: 32, frames: 1)
        var other = options
        other.guidance = 3
        XCTAssertNotEqual(try cache.url(modelFolder: folder, cases: cases, options: other, sampleSize: 32, frames: 1), key)
        XCTAssertNotEqual(try cache.url(modelFolder: folder, cases: Array(cases.prefix(1)), options: options, sampleSize: 32, frames: 1), key)
        let config = folder.appendingPathComponent("scheduler/scheduler_config.json")
        try (try String(contentsOf: config, encoding: .utf8) + " ").write(to: config, atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try cache.url(modelFolder: folder, cases: cases, options: options, sampleSize: 32, frames: 1), key,
                          "a changed file in the model folder")
    }
}
