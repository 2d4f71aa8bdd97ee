import XCTest
@testable import LetheCore
@testable import LetheModels

/// The pipelines against diffusers' own StableDiffusionPipeline / TextToVideoSDPipeline loops on
/// folders diffusers saved (scripts/fixtures/pipeline_fixtures.py).
final class DiffusionPipelineTests: XCTestCase {
    let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/pipeline")
    struct Settings: Decodable { let prompts: [String]; let negative_prompt: String; let steps: Int; let guidance: Float }

    func references() throws -> ([String: Tensor], Settings) {
        let refs = try SafeTensors.load(fixtures.appendingPathComponent("references.safetensors"))
        let settings = try JSONDecoder().decode(Settings.self, from: Data(contentsOf: fixtures.appendingPathComponent("references.json")))
        return (refs, settings)
    }

    func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
        XCTAssertEqual(a.shape, b.shape)
        var d = 0.0, n = 0.0
        for i in 0..<min(a.count, b.count) {
            let x = Double(a[flat: i]), y = Double(b[flat: i])
            d += (x - y) * (x - y)
            n += y * y
        }
        return (d / max(n, 1e-30)).squareRoot()
    }

    func testTextEncodingMatchesTransformers() throws {
        let (refs, s) = try references()
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("sd_tiny"))
        let h = try Autograd.inference { try DiffusionPipeline(model: model).encode(s.prompts) }
        XCTAssertLessThan(relativeError(h, refs["image.last_hidden_state"]!), 1e-4)
    }

    func testImageDDIMWithGuidanceMatchesDiffusersLoop() throws {
        let (refs, s) = try references()
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("sd_tiny"))
        XCTAssertFalse(model.isVideo)
        var options = GenerationOptions()
        options.steps = s.steps
        options.guidance = s.guidance
        options.negativePrompt = s.negative_prompt
        options.initNoise = refs["image.init_noise"]!
        var seen = 0
        let out = try DiffusionPipeline(model: model).generate(prompts: s.prompts, options: options) { step in
            seen += 1
            XCTAssertEqual(step.index, seen)
        }
        XCTAssertEqual(seen, s.steps)
        XCTAssertLessThan(relativeError(out, refs["image.sample"]!), 1e-3)
    }

    func testVideoDDIMWithGuidanceMatchesDiffusersLoop() throws {
        let (refs, s) = try references()
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("t2v_tiny"))
        XCTAssertTrue(model.isVideo)
        var options = GenerationOptions()
        options.steps = s.steps
        options.guidance = s.guidance
        options.negativePrompt = s.negative_prompt
        options.frames = 4
        options.initNoise = refs["video.init_noise"]!
        let out = try DiffusionPipeline(model: model).generate(prompts: Array(s.prompts.prefix(1)), options: options)
        XCTAssertLessThan(relativeError(out, refs["video.sample"]!), 1e-3)
    }

    func testSeededNoiseIsReproducibleAndShapeIsChecked() throws {
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("sd_tiny"))
        let pipe = DiffusionPipeline(model: model)
        var options = GenerationOptions()
        options.steps = 2
        options.seed = 7
        let a = try pipe.generate(prompts: ["a red circle"], options: options)
        let b = try pipe.generate(prompts: ["a red circle"], options: options)
        XCTAssertEqual(a.scalars, b.scalars)
        options.initNoise = Tensor.zeros([1, 3, 4, 4])
        XCTAssertThrowsError(try pipe.generate(prompts: ["x"], options: options)) { XCTAssertTrue("\($0)".contains("[1, 3, 8, 8]")) }
    }

    func testSavedFolderLoadsBackAndKeepsOtherComponents() throws {
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("sd_tiny"))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-model-\(UUID().uuidString)")
        try model.save(to: out)
        let again = try DiffusionModel.load(directory: out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("vae/config.json").path), "vae carried over")
        let h1 = try Autograd.inference { try DiffusionPipeline(model: model).encode(["a photo of a cat"]) }
        let h2 = try Autograd.inference { try DiffusionPipeline(model: again).encode(["a photo of a cat"]) }
        XCTAssertEqual(h1.scalars, h2.scalars)
        XCTAssertThrowsError(try DiffusionModel.load(directory: out.appendingPathComponent("nope"))) {
            XCTAssertTrue("\($0)".contains("no such model folder"))
        }
    }

    func testGenerationConfigIsReadCarriedOnSaveAndChecked() throws {
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("sd_tiny"))
        XCTAssertNil(model.generationConfig.guidanceScale, "a diffusers folder has no generation_config.json")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-model-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try model.save(to: out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent(GenerationConfig.fileName).path),
                       "no recommendation, no file")
        model.generationConfig.guidanceScale = 2
        try model.save(to: out)
        XCTAssertEqual(try DiffusionModel.load(directory: out).generationConfig.guidanceScale, 2)

        try Data(#"{"guidance_scale": "two"}"#.utf8).write(to: out.appendingPathComponent(GenerationConfig.fileName))
        XCTAssertThrowsError(try DiffusionModel.load(directory: out)) {
            XCTAssertTrue("\($0)".contains("generation_config.json: guidance_scale"), "\($0)")
        }
        try Data(#"{"guidance_scale": -1}"#.utf8).write(to: out.appendingPathComponent(GenerationConfig.fileName))
        XCTAssertThrowsError(try DiffusionModel.load(directory: out)) {
            XCTAssertTrue("\($0)".contains("non-negative"), "\($0)")
        }
    }
}
