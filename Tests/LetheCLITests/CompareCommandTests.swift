// `lethe compare` and `lethe report` as a user runs them: what they write, and one-line refusals
// that leave nothing behind.
import Foundation
import XCTest

final class CompareCommandTests: XCTestCase {
    let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LetheModelsTests/Fixtures/pipeline")

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-cmp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testCompareWritesPicturesSheetAndIndex() throws {
        let dir = try scratch()
        let prompts = dir.appendingPathComponent("prompts.txt")
        try "a red circle\na blue square\n".write(to: prompts, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("cmp")
        let sd = pipelines.appendingPathComponent("sd_tiny").path
        let run = try LetheProcess.run(["compare", "--models", sd, sd, "--names", "before,after", "--prompts", prompts.path,
                                        "--seeds", "1", "--steps", "1", "--guidance", "1", "--out", out.path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("compare: after (2/2) seed 0 prompts 1-2/2 step 1/1"), run.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(files, ["contact_sheet.png", "index.json", "p0000-s0.png", "p0001-s0.png"])
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("index.json"))) as! [String: Any]
        XCTAssertEqual((index["models"] as! [[String: Any]]).map { $0["name"] as! String }, ["before", "after"])
        XCTAssertEqual(index["prompts"] as! [String], ["a red circle", "a blue square"])
    }

    func assertRefused(_ arguments: [String], out: URL, message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try LetheProcess.run(arguments, timeout: 60)
        XCTAssertEqual(run.status, 1, run.stderr, file: file, line: line)
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("error: ") && run.stderr.contains(message), run.stderr, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written", file: file, line: line)
    }

    func testCompareRefusesBadInputWithoutWriting() throws {
        let dir = try scratch()
        let prompts = dir.appendingPathComponent("prompts.txt")
        try "a red circle\n".write(to: prompts, atomically: true, encoding: .utf8)
        let empty = dir.appendingPathComponent("empty.txt")
        try "\n\n".write(to: empty, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("cmp")
        let sd = pipelines.appendingPathComponent("sd_tiny").path, t2v = pipelines.appendingPathComponent("t2v_tiny").path
        let missing = dir.appendingPathComponent("no-model").path
        try assertRefused(["compare", "--models", sd, missing, "--prompts", prompts.path, "--out", out.path], out: out,
                          message: "\(missing): no such model folder")
        try assertRefused(["compare", "--models", sd, "--prompts", empty.path, "--out", out.path], out: out,
                          message: "\(empty.path): the prompt file is empty")
        try assertRefused(["compare", "--models", sd, "--prompts", prompts.path, "--seeds", "0", "--out", out.path], out: out,
                          message: "--seeds must be at least 1, got 0")
        try assertRefused(["compare", "--models", sd, t2v, "--prompts", prompts.path, "--out", out.path], out: out,
                          message: "compare needs all video or all image models")
    }

    func testReportWritesHTMLAndNamesFileAndFieldOnError() throws {
        let dir = try scratch()
        let json = dir.appendingPathComponent("eval.json")
        try """
        {"kind": "model", "model": "models/image", "video": false, "prompts": "p.jsonl", "prompt_count": 2, "seeds": 1,
         "steps": 25, "guidance": 5, "detector": "models/detector",
         "metrics": {"object": {"accuracy": 0.5, "per_concept": {"circle": 1, "square": 0}}}, "seconds": 1}
        """.write(to: json, atomically: true, encoding: .utf8)
        let html = dir.appendingPathComponent("report.html")
        let ok = try LetheProcess.run(["report", "--json", json.path, "--out", html.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(try String(contentsOf: html, encoding: .utf8).contains("<svg"))

        let bad = dir.appendingPathComponent("bad.json")
        try "{\"kind\": \"model\", \"model\": 3}".write(to: bad, atomically: true, encoding: .utf8)
        let badOut = dir.appendingPathComponent("bad.html")
        let run = try LetheProcess.run(["report", "--json", bad.path, "--out", badOut.path])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.stderr, "error: \(bad.path): field 'model': expected a string\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: badOut.path))
    }
}
