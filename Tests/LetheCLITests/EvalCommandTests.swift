// `lethe eval` on the tiny diffusers fixtures with a small random detector (the numbers are
// meaningless; the report's shape, the shared noise and the input checks are not).
import Foundation
import LetheEval
import XCTest

final class EvalCommandTests: XCTestCase {
    let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LetheModelsTests/Fixtures/pipeline")

    static let prompts = """
        {"prompt": "a red circle", "object": "circle", "color": "red"}
        {"prompt": "a blue star", "object": "star", "color": "blue"}
        {"prompt": "a green ball", "object": "circle", "color": "green", "phrasings": {"object": "synonym", "color": "keyword"}}
        {"prompt": "a red circle moving left", "object": "circle", "color": "red", "motion": "left"}
        {"prompt": "a blue star moving up", "object": "star", "color": "blue", "motion": "up"}

        """
    static let heldout = #"{"prompt": "a round shape", "object": "circle", "phrasings": {"object": "heldout"}}"# + "\n"

    private func workspace() throws -> (dir: URL, detector: URL, prompts: URL, heldout: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-evalcmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let detector = dir.appendingPathComponent("detector")
        _ = try DetectCommandTests.tinyDetector(at: detector)
        let prompts = dir.appendingPathComponent("p.jsonl"), heldout = dir.appendingPathComponent("h.jsonl")
        try Self.prompts.write(to: prompts, atomically: true, encoding: .utf8)
        try Self.heldout.write(to: heldout, atomically: true, encoding: .utf8)
        return (dir, detector, prompts, heldout)
    }

    func testModelEvalOfAnImageModel() throws {
        let s = try workspace()
        let out = s.dir.appendingPathComponent("m.json")
        let model = pipelines.appendingPathComponent("sd_tiny").path
        let run = try LetheProcess.run(["eval", "--model", model, "--prompts", s.prompts.path, "--detector", s.detector.path,
                                        "--steps", "2", "--seeds", "2", "--json", out.path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try JSONDecoder().decode(ModelEvaluation.self, from: Data(contentsOf: out))
        XCTAssertEqual(report.kind, "model")
        XCTAssertEqual(report.model, model)
        XCTAssertEqual(report.promptCount, 3, "the image prompts")
        XCTAssertEqual(report.seeds, 2)
        XCTAssertEqual(report.steps, 2)
        XCTAssertEqual(report.guidance, 2.5, "the shipped models' default guidance")
        XCTAssertEqual(Set(report.metrics.keys), ["object", "color"], "no style is named")
        XCTAssertNotNil(report.metrics["object"]?.paraphraseAccuracy)
        XCTAssertNil(report.metrics["motion"])
        XCTAssertNotNil(report.frechetDistance)
        XCTAssertTrue(try String(contentsOf: out, encoding: .utf8).contains("\"prompt_count\" : 3"))
    }

    func testModelEvalOfAVideoModelScoresMotion() throws {
        let s = try workspace()
        let out = s.dir.appendingPathComponent("v.json")
        let run = try LetheProcess.run(["eval", "--model", pipelines.appendingPathComponent("t2v_tiny").path, "--prompts",
                                        s.prompts.path, "--detector", s.detector.path, "--steps", "1", "--limit", "1",
                                        "--guidance", "1", "--json", out.path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try JSONDecoder().decode(ModelEvaluation.self, from: Data(contentsOf: out))
        XCTAssertTrue(report.video)
        XCTAssertEqual(report.promptCount, 1)
        XCTAssertEqual(report.metrics["motion"]?.perConcept.keys.sorted(), ["left"])
        XCTAssertNotNil(report.temporalConsistency)
        XCTAssertNil(report.frechetDistance, "one sample has no covariance")
    }

    func testErasureEvalOfAModelAgainstItself() throws {
        let s = try workspace()
        let out = s.dir.appendingPathComponent("e.json")
        let model = pipelines.appendingPathComponent("sd_tiny").path
        let run = try LetheProcess.run(["eval", "--model", model, "--baseline", model, "--erased", "ball",
                                        "--prompts", s.prompts.path, "--heldout", s.heldout.path, "--detector", s.detector.path,
                                        "--steps", "2", "--samples", "1", "--json", out.path,
                                        "--html", s.dir.appendingPathComponent("report.html").path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let page = try String(contentsOf: s.dir.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("<svg") && page.contains("data:image/gif;base64,"), "the page embeds its charts and clips")
        let r = try JSONDecoder().decode(ErasureEvaluation.self, from: Data(contentsOf: out))
        XCTAssertEqual(r.kind, "erasure")
        XCTAssertEqual(r.erased, ["circle"])
        XCTAssertEqual(r.family, "object")
        XCTAssertEqual(r.erasure.target, r.erasure.targetBaseline, "same model, same noise")
        XCTAssertEqual(r.samples.count, 1)
        XCTAssertEqual(r.samples.first?.prompt, "a red circle")
        for path in [r.samples[0].baseline, r.samples[0].model] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: s.dir.appendingPathComponent(path).path), path)
        }
    }

    func testBadInputIsOneLineAndWritesNothing() throws {
        let s = try workspace()
        let out = s.dir.appendingPathComponent("bad.json")
        let model = pipelines.appendingPathComponent("sd_tiny").path
        let broken = s.dir.appendingPathComponent("broken.jsonl")
        try (Self.prompts + #"{"prompt": "a giraffe", "object": "giraffe"}"# + "\n").write(to: broken, atomically: true, encoding: .utf8)
        let base = ["eval", "--detector", s.detector.path, "--json", out.path, "--steps", "1"]
        let cases: [([String], String)] = [
            (["--model", s.dir.appendingPathComponent("nowhere").path], "nowhere: no such model folder"),
            (["--model", model, "--prompts", broken.path], "broken.jsonl:6: field 'object': 'giraffe' is not one of"),
            (["--model", model, "--baseline", model, "--erased", "giraffe"], "--erased: unknown concept 'giraffe'"),
            (["--model", model, "--erased", "circle"], "--erased needs --baseline"),
            (["--model", model, "--seeds", "0"], "--seeds must be at least 1, got 0"),
            (["--model", model, "--prompts", s.dir.appendingPathComponent("none.jsonl").path], "none.jsonl: cannot read"),
        ]
        for (args, expected) in cases {
            let run = try LetheProcess.run(base + args)
            XCTAssertEqual(run.status, 1, "\(args): \(run.stderr)")
            XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix("error: ") && run.stderr.contains(expected), "\(expected) / \(run.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.dir.path).sorted(),
                       ["broken.jsonl", "detector", "h.jsonl", "p.jsonl"])
    }
}
