import XCTest
@testable import LetheCore
@testable import LetheModels

/// PYoCo's mixed noise prior: its statistics, its record in the scheduler config, and the
/// pipeline drawing a video model's seeded noise from it.
final class MixedFrameNoiseTests: XCTestCase {
    /// Every element stays N(0, 1); two frames of a clip correlate by α²/(1 + α²), two clips not at all.
    func testElementsAreStandardNormalAndFramesCorrelateByTheMixedShare() {
        for alpha: Float in [0, 1, 2] {
            var rng = RandomGenerator(seed: 11)
            let x = MixedFrameNoise(alpha: alpha).sample([64, 2, 3, 16, 16], rng: &rng)
            let v = x.scalars.map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
            XCTAssertEqual(mean, 0, accuracy: 0.01, "α \(alpha)")
            XCTAssertEqual(variance, 1, accuracy: 0.02, "α \(alpha)")
            let plane = 16 * 16
            func element(_ n: Int, _ c: Int, _ f: Int, _ j: Int) -> Double { v[((n * 2 + c) * 3 + f) * plane + j] }
            var sameClip = 0.0, otherClip = 0.0, count = 0.0
            for n in 0..<63 { for c in 0..<2 { for j in 0..<plane {
                sameClip += element(n, c, 0, j) * element(n, c, 2, j)
                otherClip += element(n, c, 0, j) * element(n + 1, c, 2, j)
                count += 1
            } } }
            let a = Double(alpha)
            XCTAssertEqual(sameClip / count, a * a / (1 + a * a), accuracy: 0.02, "α \(alpha): frames of one clip")
            XCTAssertEqual(otherClip / count, 0, accuracy: 0.02, "α \(alpha): frames of different clips")
        }
    }

    func testMixIsTheWeightedSumWithSharedBroadcastOverFrames() {
        let shared = Tensor(shape: [1, 1, 1, 1, 2], data: [1, -2])
        let own = Tensor(shape: [1, 1, 2, 1, 2], data: [0.5, 0, -1, 3])
        let out = MixedFrameNoise(alpha: 2).mix(shared: shared, own: own)
        let k = 1 / Float(5).squareRoot()
        let expected: [Float] = [(2 * 1 + 0.5) * k, (2 * -2 + 0) * k, (2 * 1 - 1) * k, (2 * -2 + 3) * k]
        for (a, b) in zip(out.scalars, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testSchedulerConfigKeepsAlphaAndRefusesBadValues() throws {
        var config = SchedulerConfig()
        XCTAssertNil(config.mixedFrameNoise)
        config.mixedFrameNoise = MixedFrameNoise(alpha: 1.5)
        let json = config.json(className: "DDIMScheduler", classKeys: Array(SchedulerConfig.knownKeys))
        XCTAssertEqual(try SchedulerConfig(json: json).mixedFrameNoise, MixedFrameNoise(alpha: 1.5))
        for bad: JSONValue in [.double(-1), .string("one")] {
            XCTAssertThrowsError(try SchedulerConfig(json: JSONConfig(values: [MixedFrameNoise.configKey: bad], source: "s.json"))) {
                XCTAssertTrue("\($0)".contains("s.json") && "\($0)".contains(MixedFrameNoise.configKey), "\($0)")
            }
        }
    }

    /// A video model whose scheduler config names α starts from noise of that prior (seeded), an
    /// image model ignores it, and DDIM's independent step noise (eta > 0) is refused.
    func testPipelineDrawsSeededNoiseFromTheModelsPrior() throws {
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/pipeline")
        let model = try DiffusionModel.load(directory: fixtures.appendingPathComponent("t2v_tiny"))
        let prior = MixedFrameNoise(alpha: 1)
        model.schedulerConfig.mixedFrameNoise = prior
        var options = GenerationOptions()
        options.steps = 2
        options.frames = 4
        options.seed = 5
        let pipe = DiffusionPipeline(model: model)
        let steps = try pipe.denoisingSteps(prompts: ["a red circle"], options: options)
        var rng = RandomGenerator(seed: 5)
        let expected = prior.sample(pipe.noiseShape(count: 1, frames: 4), rng: &rng)
        XCTAssertEqual(steps.sample.scalars, (expected * Float(try DDIMScheduler(config: model.schedulerConfig).initNoiseSigma)).scalars)
        options.eta = 0.5
        XCTAssertThrowsError(try pipe.denoisingSteps(prompts: ["a red circle"], options: options)) {
            XCTAssertTrue("\($0)".contains(MixedFrameNoise.configKey), "\($0)")
        }

        let image = try DiffusionModel.load(directory: fixtures.appendingPathComponent("sd_tiny"))
        let before = try DiffusionPipeline(model: image).denoisingSteps(prompts: ["x"], options: GenerationOptions()).sample
        image.schedulerConfig.mixedFrameNoise = prior
        XCTAssertEqual(try DiffusionPipeline(model: image).denoisingSteps(prompts: ["x"], options: GenerationOptions()).sample.scalars,
                       before.scalars)
    }
}
