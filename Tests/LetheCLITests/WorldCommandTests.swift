// `lethe world render` and `lethe world tokenizer` run as subprocesses.
import Foundation
import LetheMedia
import XCTest

final class WorldCommandTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-world-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func assertBadInput(_ run: LetheRun, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.reason, .exit, file: file, line: line)
        XCTAssertEqual(run.status, 1, file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
        XCTAssertEqual(run.stderrLines.count, 1, "stderr: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.contains(text), "stderr \(run.stderr) should mention \(text)", file: file, line: line)
    }

    func testRenderWritesVideosCaptionsAndContactSheet() throws {
        let out = try temporaryDirectory().appendingPathComponent("clips")
        let run = try LetheProcess.run(["world", "render", "--count", "3", "--seed", "1", "--out", out.path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr, "render: 3/3\n", "progress only: no x264 banner or other noise on stderr")

        let lines = try String(contentsOf: out.appendingPathComponent("captions.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        var files: [String] = []
        var motions: [String] = []
        for line in lines {
            let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            let file = try XCTUnwrap(record["file"] as? String)
            files.append(file)
            XCTAssertFalse((record["caption"] as? String ?? "").isEmpty, line)
            let labels = try XCTUnwrap(record["labels"] as? [String: Any], line)
            let objects = try XCTUnwrap(labels["objects"] as? [[String: String]], line)
            XCTAssertTrue((1...2).contains(objects.count), line)
            for object in objects { XCTAssertEqual(Set(object.keys), ["object", "color", "style"], line) }
            motions.append(try XCTUnwrap(labels["motion"] as? String, line))
        }
        XCTAssertEqual(files, ["clip-0000.mp4", "clip-0001.mp4", "clip-0002.mp4"])
        for (file, motion) in zip(files, motions) {
            let video = try readVideo(out.appendingPathComponent(file))
            XCTAssertEqual(video.frames.count, 8, file)
            XCTAssertEqual(video.frames[0].width, 128, file)
            XCTAssertEqual(video.frames[0].height, 128, file)
            if motion != "still" { XCTAssertTrue(video.frames.contains { $0 != video.frames[0] }, "\(file) shows no motion") }
        }
        let sheet = try readImage(out.appendingPathComponent("contact_sheet.png"))
        XCTAssertEqual(sheet.width, 2 + 3 * (128 + 2))
        XCTAssertEqual(sheet.height, 2 + 128 + 2)

        let again = try temporaryDirectory()
        XCTAssertEqual(try LetheProcess.run(["world", "render", "--count", "3", "--seed", "1", "--out", again.path], timeout: 120).status, 0)
        XCTAssertEqual(try Data(contentsOf: again.appendingPathComponent("captions.jsonl")),
                       try Data(contentsOf: out.appendingPathComponent("captions.jsonl")))
        let other = try temporaryDirectory()
        XCTAssertEqual(try LetheProcess.run(["world", "render", "--count", "3", "--seed", "2", "--out", other.path], timeout: 120).status, 0)
        XCTAssertNotEqual(try Data(contentsOf: other.appendingPathComponent("captions.jsonl")),
                          try Data(contentsOf: out.appendingPathComponent("captions.jsonl")))
    }

    func testRenderImagesWritesPNGsWithoutMotion() throws {
        let out = try temporaryDirectory()
        let run = try LetheProcess.run(["world", "render", "--count", "2", "--mode", "image", "--scale", "2", "--out", out.path],
                                       timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        for name in ["image-0000.png", "image-0001.png"] {
            let image = try readImage(out.appendingPathComponent(name))
            XCTAssertEqual(image.width, 64)
        }
        let lines = try String(contentsOf: out.appendingPathComponent("captions.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines.allSatisfy { $0.hasSuffix("\"motion\": null}}") }, lines.joined(separator: "\n"))
    }

    func testBadArgumentsGiveOneErrorLine() throws {
        let folder = try temporaryDirectory()
        assertBadInput(try LetheProcess.run(["world", "render", "--count", "0", "--out", folder.path]), mentioning: "--count")
        assertBadInput(try LetheProcess.run(["world", "render", "--count", "-3", "--out", folder.path]), mentioning: "--count")
        assertBadInput(try LetheProcess.run(["world", "render", "--count", "2", "--mode", "movie", "--out", folder.path]),
                       mentioning: "--mode")
        let file = folder.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let unwritable = file.appendingPathComponent("clips").path
        let run = try LetheProcess.run(["world", "render", "--count", "2", "--out", unwritable])
        assertBadInput(run, mentioning: unwritable)
        XCTAssertTrue(run.stderr.contains("\(file.path) is a file"), run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["a-file"])
    }

    func testTokenizerCommandWritesTheCommittedVocabulary() throws {
        let out = try temporaryDirectory().appendingPathComponent("tokenizer")
        let run = try LetheProcess.run(["world", "tokenizer", "--out", out.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasPrefix("wrote \(out.path): "), run.stdout)
        let committed = repoRoot.appendingPathComponent("configs/world/tokenizer")
        for name in ["merges.txt", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"] {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(name)),
                           try Data(contentsOf: committed.appendingPathComponent(name)), name)
        }
    }
}
