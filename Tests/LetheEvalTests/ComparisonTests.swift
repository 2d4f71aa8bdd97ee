// `Comparison` on the tiny random models diffusers saved for the pipeline fixtures: same noise
// across models, the files it promises, and refusals of inputs that cannot work.
import Foundation
import LetheCore
@testable import LetheEval
import LetheMedia
import LetheModels
import XCTest

final class ComparisonTests: XCTestCase {
    /// The pipeline fixtures live with the models' tests; test targets cannot share resources.
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LetheModelsTests/Fixtures/pipeline")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func fixture(_ name: String) -> String { Self.pipelines.appendingPathComponent(name).path }

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Few steps, no guidance and short clips keep a debug-build run to seconds.
    func quickOptions(scale: Int = 2) -> ComparisonOptions {
        var o = ComparisonOptions()
        o.steps = 2
        o.guidance = 1
        o.frames = 4
        o.scale = scale
        return o
    }

    /// The cell (model output, upscaled) of column `column` in the bottom rows of a side-by-side frame.
    func cell(_ frame: RGBFrame, column: Int, size: Int, spacing: Int = 4) -> RGBFrame {
        frame.cropped(x: column * (size + spacing), y: frame.height - size, width: size, height: size)
    }

    func testSameVideoModelTwiceGivesIdenticalColumnsInEveryFile() throws {
        let out = try scratch()
        let models = try ComparedModel.load(paths: [fixture("t2v_tiny"), fixture("t2v_tiny")], names: ["original", "copy"])
        let comparison = try Comparison(models: models, prompts: ["a red circle moving left"], options: quickOptions())
        var lines: [String] = []
        let index = try comparison.run(outputDirectory: out) { lines.append($0.description) }

        XCTAssertTrue(index.video)
        XCTAssertEqual(index.models.map(\.name), ["original", "copy"])
        XCTAssertEqual(index.frames, 4)
        XCTAssertEqual(index.clips.count, 1)
        XCTAssertEqual(lines.last, "compare: copy (2/2) seed 0 prompts 1-1/1 step 2/2")
        let clip = try XCTUnwrap(index.clips.first)
        XCTAssertEqual(clip.prompt, "a red circle moving left")
        XCTAssertNil(clip.png)

        // Two 16-pixel columns (8×8 samples upscaled twice) 4 pixels apart, under their label bars.
        let size = 16, width = 2 * size + 4
        let gif = try readVideo(out.appendingPathComponent(try XCTUnwrap(clip.gif))).frames
        XCTAssertEqual(gif.count, 4)
        for frame in gif {
            XCTAssertEqual(frame.width, width)
            XCTAssertGreaterThan(frame.height, size + 10, "label bars above the columns")
            XCTAssertEqual(cell(frame, column: 0, size: size), cell(frame, column: 1, size: size))
        }
        let mp4 = try readVideo(out.appendingPathComponent(try XCTUnwrap(clip.mp4))).frames
        XCTAssertEqual(mp4.count, 4)
        XCTAssertEqual(mp4[0].width, width)
        XCTAssertEqual(mp4[0].height, gif[0].height + gif[0].height % 2, "H.264 pads odd heights by one row")

        let sheet = try readImage(out.appendingPathComponent(index.contactSheet))
        XCTAssertEqual(sheet.width, width)
        XCTAssertEqual(cell(sheet, column: 0, size: size), cell(sheet, column: 1, size: size))
        // The contact sheet's cells are the clips' middle frames.
        XCTAssertEqual(cell(sheet, column: 0, size: size), cell(gif[2], column: 0, size: size))

        let decoded = try JSONDecoder().decode(ComparisonIndex.self, from: Data(contentsOf: out.appendingPathComponent("index.json")))
        XCTAssertEqual(decoded, index)
        let written = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(written, ["contact_sheet.png", "index.json", "p0000-s0.gif", "p0000-s0.mp4"], "no temporary files left")
    }

    func testImageColumnsAreWhatGenerateMakesFromTheSameSeed() throws {
        let out = try scratch()
        let models = try ComparedModel.load(paths: [fixture("sd_tiny"), fixture("sd_tiny")])
        XCTAssertEqual(models.map(\.name), ["sd_tiny", "sd_tiny"], "default names are the folders' names")
        var options = quickOptions(scale: 1)
        options.seeds = 2
        let prompts = ["a red circle", "a blue square"]
        let index = try Comparison(models: models, prompts: prompts, options: options).run(outputDirectory: out)
        XCTAssertFalse(index.video)
        XCTAssertEqual(index.frames, 1)
        XCTAssertEqual(index.clips.map { [$0.promptIndex, $0.seed] }, [[0, 0], [1, 0], [0, 1], [1, 1]])
        XCTAssertTrue(index.clips.allSatisfy { $0.png != nil && $0.gif == nil && $0.mp4 == nil })

        // What `lethe generate --seed 1` makes for the second prompt.
        var generation = GenerationOptions()
        generation.steps = 2
        generation.guidance = 1
        generation.seed = 1
        let sample = try DiffusionPipeline(model: models[0].model).generate(prompts: [prompts[1]], options: generation)
        let expected = RGBFrame(chw: sample.pointer, channels: 3, height: 8, width: 8)
        let picture = try readImage(out.appendingPathComponent(try XCTUnwrap(index.clips[3].png)))
        XCTAssertEqual(cell(picture, column: 0, size: 8), expected)
        XCTAssertEqual(cell(picture, column: 1, size: 8), expected)
        let otherSeed = try readImage(out.appendingPathComponent(try XCTUnwrap(index.clips[1].png)))
        XCTAssertNotEqual(cell(otherSeed, column: 0, size: 8), expected, "seed 0 must give other noise than seed 1")

        // Rows prompt × seed: four rows of 8-pixel cells in the contact sheet.
        let sheet = try readImage(out.appendingPathComponent(index.contactSheet))
        XCTAssertEqual(sheet.width, 2 * 8 + 4)
        XCTAssertEqual(cell(sheet, column: 1, size: 8), expected, "the last row is prompt 2, seed 1")
    }

    func testMixedImageAndVideoModelsAreRefused() throws {
        let models = try ComparedModel.load(paths: [fixture("sd_tiny"), fixture("t2v_tiny")])
        XCTAssertThrowsError(try Comparison(models: models, prompts: ["a red circle"], options: quickOptions())) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("t2v_tiny is a video model"), message)
            XCTAssertTrue(message.contains("sd_tiny is an image model"), message)
        }
    }

    func testBadArgumentsAreRefusedBeforeRendering() throws {
        let models = try ComparedModel.load(paths: [fixture("sd_tiny")])
        var options = quickOptions()
        options.seeds = 0
        XCTAssertThrowsError(try Comparison(models: models, prompts: ["a"], options: options)) {
            XCTAssertEqual("\($0)", "--seeds must be at least 1, got 0")
        }
        XCTAssertThrowsError(try Comparison(models: models, prompts: [], options: quickOptions())) {
            XCTAssertEqual("\($0)", "no prompt to render")
        }
        XCTAssertThrowsError(try ComparedModel.load(paths: ["/nonexistent/model"])) {
            XCTAssertEqual("\($0)", "/nonexistent/model: no such model folder")
        }
        XCTAssertThrowsError(try ComparedModel.load(paths: [fixture("sd_tiny")], names: ["a", "b"])) {
            XCTAssertEqual("\($0)", "--names gives 2 name(s) for 1 model(s); give one per model")
        }
    }

    func testPromptFilesAreJSONLinesOrPlainText() throws {
        XCTAssertEqual(try ComparisonPrompts.parse("a red circle\n\n  a blue square  \n", source: "p.txt"),
                       ["a red circle", "a blue square"])
        let jsonl = """
        {"prompt": "a red ball", "object": "circle", "color": "red"}

        {"prompt": "a <b> star & more", "object": "star"}
        """
        XCTAssertEqual(try ComparisonPrompts.parse(jsonl, source: "p.jsonl"), ["a red ball", "a <b> star & more"])

        let shipped = Self.repository.appendingPathComponent("configs/prompts/v1/eval.jsonl")
        let prompts = try ComparisonPrompts.read(shipped)
        XCTAssertEqual(prompts.count, try String(contentsOf: shipped, encoding: .utf8).split(separator: "\n").count)

        XCTAssertThrowsError(try ComparisonPrompts.parse(" \n\n", source: "empty.txt")) {
            XCTAssertTrue("\($0)".hasPrefix("empty.txt: the prompt file is empty"), "\($0)")
        }
        XCTAssertThrowsError(try ComparisonPrompts.parse("a red circle\n{\"prompt\": \"x\"}\n", source: "mixed.txt")) {
            XCTAssertTrue("\($0)".hasPrefix("mixed.txt:2: looks like a JSON line"), "\($0)")
        }
        XCTAssertThrowsError(try ComparisonPrompts.parse("{\"prompt\": \"a\", \"object\": \"circle\"}\n{\"object\": \"circle\"}\n", source: "bad.jsonl")) {
            XCTAssertEqual("\($0)", "bad.jsonl:2: missing field 'prompt'")
        }
        XCTAssertThrowsError(try ComparisonPrompts.read(URL(fileURLWithPath: "/nonexistent/prompts.txt"))) {
            XCTAssertEqual("\($0)", "/nonexistent/prompts.txt: cannot read prompts: no such file")
        }
    }
}
