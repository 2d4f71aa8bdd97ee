// DDPM and DDIM against diffusers' own outputs (scripts/fixtures/scheduler_fixtures.py), plus
// properties that hold whatever the reference says.

import Foundation
import XCTest
import LetheCore
@testable import LetheModels

final class SchedulerTests: XCTestCase {
    // MARK: Fixture

    struct Fixture: Decodable {
        struct Schedule: Decodable {
            let name: String
            let config: JSONValue
            let betas: [Double]?
            let alphas_cumprod: [Double]
            let final_alpha_cumprod_not_one: Double
        }
        struct Timesteps: Decodable {
            let config: JSONValue
            let num_inference_steps: Int
            let timesteps: [Int]
            let in_range: Bool
        }
        struct Step: Decodable {
            let timestep: Int
            let sample: [Float]
            let model_output: [Float]
            let variance_noise: [Float]?
            let prev_sample: [Float]
            let pred_original_sample: [Float]
        }
        struct DDIMCase: Decodable {
            let name: String
            let config: JSONValue
            let num_inference_steps: Int
            let eta: Float
            let use_clipped_model_output: Bool
            let shape: [Int]
            let timesteps: [Int]
            let steps: [Step]
        }
        struct DDPMCase: Decodable {
            let name: String
            let config: JSONValue
            let num_inference_steps: Int?
            let custom_timesteps: [Int]?
            let shape: [Int]
            let model_output_shape: [Int]
            let timesteps: [Int]
            let steps: [Step]
        }
        struct AddNoise: Decodable {
            let name: String
            let config: JSONValue
            let shape: [Int]
            let timesteps: [Int]
            let original: [Float]
            let noise: [Float]
            let noisy: [Float]
            let velocity: [Float]
        }
        let schedules: [Schedule]
        let timesteps: [Timesteps]
        let ddim: [DDIMCase]
        let ddpm: [DDPMCase]
        let add_noise: [AddNoise]
    }

    static let fixturesURL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/schedulers")
    static let fixture: Fixture = {
        let url = fixturesURL.appendingPathComponent("schedulers.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    func config(_ value: JSONValue, _ name: String) throws -> SchedulerConfig {
        guard case let .object(values) = value else { throw SchedulerError("\(name): config is not an object") }
        return try SchedulerConfig(json: JSONConfig(values: values, source: name))
    }

    /// |a − b| ≤ tolerance·max(1, |b|) element-wise: outputs divided by √ᾱ_t at high noise reach ~10².
    func assertClose(_ actual: Tensor, _ expected: [Float], tolerance: Float = 1e-5, _ what: @autoclosure () -> String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "\(what()): element count", file: file, line: line)
        for i in 0..<min(actual.count, expected.count) {
            let a = actual[flat: i], b = expected[i]
            if !(abs(a - b) <= tolerance * max(1, abs(b))) {
                XCTFail("\(what()): element \(i) is \(a), diffusers gives \(b)", file: file, line: line)
                return
            }
        }
    }

    // MARK: Noise schedules

    func testBetasAndAlphasCumprodMatchDiffusers() throws {
        for s in Self.fixture.schedules {
            let cfg = try config(s.config, s.name)
            let ddpm = try DDPMScheduler(config: cfg)
            if let betas = s.betas {
                XCTAssertEqual(ddpm.betas, betas.map(Float.init), "\(s.name): betas bit for bit")
            }
            XCTAssertEqual(ddpm.alphasCumprod.count, s.alphas_cumprod.count, s.name)
            var worst: Float = 0, differing = 0
            for (a, b) in zip(ddpm.alphasCumprod, s.alphas_cumprod.map(Float.init)) {
                worst = max(worst, abs(a - b))
                if a != b { differing += 1 }
            }
            if cfg.rescaleBetasZeroSnr {
                // The rescale takes float32 square roots, which this torch build computes with MKL,
                // not correctly rounded (1 ulp off for ~20% of inputs); the float32 algorithm is itself
                // ~5e-7 from exact arithmetic, torch's result and ours alike.
                XCTAssertLessThanOrEqual(worst, 5e-7, "\(s.name): alphas_cumprod")
            } else {
                XCTAssertLessThanOrEqual(worst, 1e-7, "\(s.name): alphas_cumprod")
                // torch's float32 linspace and double-accumulated cumprod are reproduced exactly.
                XCTAssertEqual(differing, 0, "\(s.name): alphas_cumprod differing in the last bit")
            }

            var noAlphaOne = cfg
            noAlphaOne.setAlphaToOne = false
            XCTAssertEqual(try DDIMScheduler(config: noAlphaOne).finalAlphaCumprod, Float(s.final_alpha_cumprod_not_one), s.name)
            XCTAssertEqual(try DDIMScheduler(config: cfg).finalAlphaCumprod, 1, s.name)
        }
    }

    func testTorchLinspaceEndsAndCounts() {
        XCTAssertEqual(NoiseSchedule.torchLinspace(0.25, 0.75, 1), [0.25])
        XCTAssertEqual(NoiseSchedule.torchLinspace(0.25, 0.75, 0), [])
        let v = NoiseSchedule.torchLinspace(0.0001, 0.02, 1000)
        XCTAssertEqual(v.first, Float(0.0001))
        XCTAssertEqual(v.last, Float(0.02))
        XCTAssertTrue(zip(v, v.dropFirst()).allSatisfy { $0 < $1 })
    }

    // MARK: Timesteps

    func testTimestepsIdenticalToDiffusers() throws {
        var checked = 0, refused = 0
        for c in Self.fixture.timesteps {
            let cfg = try config(c.config, "timesteps")
            let what = "\(cfg.timestepSpacing.rawValue), offset \(cfg.stepsOffset), \(c.num_inference_steps) of \(cfg.numTrainTimesteps)"
            var ddim = try DDIMScheduler(config: cfg)
            var ddpm = try DDPMScheduler(config: cfg)
            if c.in_range {
                try ddim.setTimesteps(c.num_inference_steps)
                try ddpm.setTimesteps(c.num_inference_steps)
                XCTAssertEqual(ddim.timesteps, c.timesteps, what)
                XCTAssertEqual(ddpm.timesteps, c.timesteps, what)
                XCTAssertEqual(ddim.numInferenceSteps, c.num_inference_steps)
                checked += 1
            } else {
                // diffusers itself yields a timestep outside the training range here.
                XCTAssertThrowsError(try ddim.setTimesteps(c.num_inference_steps), what) { error in
                    XCTAssertTrue("\(error)".contains("outside 0..<\(cfg.numTrainTimesteps)"), "\(error)")
                }
                refused += 1
            }
        }
        XCTAssertGreaterThan(checked, 60)
        XCTAssertGreaterThan(refused, 0, "the fixture should cover diffusers' out-of-range schedules")
    }

    func testInvalidStepCountsThrow() throws {
        var ddim = try DDIMScheduler()
        XCTAssertThrowsError(try ddim.setTimesteps(0))
        XCTAssertThrowsError(try ddim.setTimesteps(1001)) { XCTAssertTrue("\($0)".contains("cannot be larger")) }
        var ddpm = try DDPMScheduler()
        XCTAssertThrowsError(try ddpm.setTimesteps(custom: [10, 20]))
        XCTAssertThrowsError(try ddpm.setTimesteps(custom: [1000, 20]))
        XCTAssertThrowsError(try ddpm.setTimesteps(custom: []))
        XCTAssertEqual(ddpm.timesteps, Array((0..<1000).reversed()), "a failed call leaves the schedule alone")
    }

    // MARK: Steps

    func testDDIMStepMatchesDiffusers() throws {
        XCTAssertEqual(Self.fixture.ddim.count, 7)
        for c in Self.fixture.ddim {
            var scheduler = try DDIMScheduler(config: config(c.config, c.name))
            try scheduler.setTimesteps(c.num_inference_steps)
            XCTAssertEqual(scheduler.timesteps, c.timesteps, c.name)
            for (i, s) in c.steps.enumerated() {
                XCTAssertEqual(s.timestep, scheduler.timesteps[i])
                let out = scheduler.step(modelOutput: Tensor(shape: c.shape, data: s.model_output), timestep: s.timestep,
                                         sample: Tensor(shape: c.shape, data: s.sample), eta: c.eta,
                                         useClippedModelOutput: c.use_clipped_model_output,
                                         varianceNoise: s.variance_noise.map { Tensor(shape: c.shape, data: $0) })
                assertClose(out.predOriginalSample, s.pred_original_sample, "\(c.name) t=\(s.timestep) pred_original_sample")
                assertClose(out.prevSample, s.prev_sample, "\(c.name) t=\(s.timestep) prev_sample")
            }
        }
    }

    func testDDPMStepMatchesDiffusers() throws {
        XCTAssertEqual(Self.fixture.ddpm.count, 8)
        for c in Self.fixture.ddpm {
            var scheduler = try DDPMScheduler(config: config(c.config, c.name))
            if let k = c.num_inference_steps { try scheduler.setTimesteps(k) }
            if let custom = c.custom_timesteps { try scheduler.setTimesteps(custom: custom) }
            for s in c.steps {
                let out = scheduler.step(modelOutput: Tensor(shape: c.model_output_shape, data: s.model_output),
                                         timestep: s.timestep, sample: Tensor(shape: c.shape, data: s.sample),
                                         varianceNoise: s.variance_noise.map { Tensor(shape: c.shape, data: $0) })
                assertClose(out.predOriginalSample, s.pred_original_sample, "\(c.name) t=\(s.timestep) pred_original_sample")
                assertClose(out.prevSample, s.prev_sample, "\(c.name) t=\(s.timestep) prev_sample")
            }
        }
    }

    func testAddNoiseAndVelocityMatchDiffusers() throws {
        for c in Self.fixture.add_noise {
            let scheduler = try DDPMScheduler(config: config(c.config, c.name))
            let x0 = Tensor(shape: c.shape, data: c.original), noise = Tensor(shape: c.shape, data: c.noise)
            assertClose(scheduler.addNoise(original: x0, noise: noise, timesteps: c.timesteps), c.noisy,
                        "\(c.name) \(c.timesteps) add_noise")
            assertClose(scheduler.getVelocity(sample: x0, noise: noise, timesteps: c.timesteps), c.velocity,
                        "\(c.name) \(c.timesteps) get_velocity")
        }
    }

    func testAddNoiseGradientsAreThePerItemCoefficients() throws {
        let scheduler = try DDPMScheduler()
        var rng = RandomGenerator(seed: 5)
        let x0 = Tensor.randn([2, 3, 2], rng: &rng), noise = Tensor.randn([2, 3, 2], rng: &rng)
        x0.requiresGrad = true
        noise.requiresGrad = true
        let seed = Tensor.randn([2, 3, 2], rng: &rng)
        let timesteps = [10, 900]
        scheduler.addNoise(original: x0, noise: noise, timesteps: timesteps).backward(seed)
        for i in 0..<x0.count {
            let a = scheduler.alphasCumprod[timesteps[i / 6]]
            XCTAssertEqual(x0.grad![flat: i], a.squareRoot() * seed[flat: i], accuracy: 1e-6)
            XCTAssertEqual(noise.grad![flat: i], (1 - a).squareRoot() * seed[flat: i], accuracy: 1e-6)
        }
    }

    // MARK: Properties

    /// With the true noise as model output, deterministic DDIM walks x_T back to x₀ exactly:
    /// every step's x₀ estimate is x₀ itself, and x_{t−1} is x₀ noised to t−1 with the same ε.
    func testDDIMWithOracleNoiseRecoversCleanSample() throws {
        for prediction in PredictionType.allCases {
            var cfg = SchedulerConfig(betaStart: 0.00085, betaEnd: 0.012, betaSchedule: .scaledLinear, clipSample: false,
                                      stepsOffset: 1, predictionType: prediction)
            cfg.setAlphaToOne = true
            var scheduler = try DDIMScheduler(config: cfg)
            try scheduler.setTimesteps(20)
            var rng = RandomGenerator(seed: 11)
            let x0 = Tensor.rand([2, 3, 4], rng: &rng, low: -1, high: 1), eps = Tensor.randn([2, 3, 4], rng: &rng)
            var x = scheduler.addNoise(original: x0, noise: eps, timesteps: [scheduler.timesteps[0]])
            for t in scheduler.timesteps {
                let target: Tensor
                switch prediction {
                case .epsilon: target = eps
                case .sample: target = x0
                case .vPrediction: target = scheduler.getVelocity(sample: x0, noise: eps, timesteps: [t])
                }
                x = scheduler.step(modelOutput: target, timestep: t, sample: x, generator: &rng).prevSample
            }
            for i in 0..<x.count { XCTAssertEqual(x[flat: i], x0[flat: i], accuracy: 2e-4, "\(prediction)") }
        }
    }

    func testGeneratorNoiseIsDrawnOnlyWhenNeeded() throws {
        var ddim = try DDIMScheduler(config: SchedulerConfig(clipSample: false))
        try ddim.setTimesteps(10)
        let sample = Tensor(repeating: 0.5, shape: [1, 4]), output = Tensor(repeating: 0.1, shape: [1, 4])
        var a = RandomGenerator(seed: 3), b = RandomGenerator(seed: 3)
        _ = ddim.step(modelOutput: output, timestep: 901, sample: sample, generator: &a)
        XCTAssertEqual(a.next(), b.next(), "η = 0 draws nothing")

        ddim.eta = 1
        var c = RandomGenerator(seed: 3), d = RandomGenerator(seed: 3)
        let noisy1 = ddim.step(modelOutput: output, timestep: 901, sample: sample, generator: &c).prevSample
        let noisy2 = ddim.step(modelOutput: output, timestep: 901, sample: sample, generator: &d).prevSample
        XCTAssertEqual(noisy1.scalars, noisy2.scalars, "same seed, same step")
        var e = RandomGenerator(seed: 3)
        let expected = ddim.step(modelOutput: output, timestep: 901, sample: sample, eta: 1,
                                 varianceNoise: Tensor.randn([1, 4], rng: &e)).prevSample
        XCTAssertEqual(noisy1.scalars, expected.scalars)

        let ddpm = try DDPMScheduler()
        var f = RandomGenerator(seed: 4), g = RandomGenerator(seed: 4)
        _ = ddpm.step(modelOutput: output, timestep: 0, sample: sample, generator: &f)
        XCTAssertEqual(f.next(), g.next(), "DDPM adds no noise at t = 0")
        XCTAssertEqual(ddpm.previousTimestep(500), 499, "training schedule steps by one")
    }

    func testRandomTrainingTimestepsCoverTheRange() throws {
        let scheduler = try DDPMScheduler(config: SchedulerConfig(numTrainTimesteps: 10))
        var rng = RandomGenerator(seed: 1)
        let ts = scheduler.randomTimesteps(count: 500, generator: &rng)
        XCTAssertEqual(Set(ts), Set(0..<10))
    }

    // MARK: Config files

    func loadJSON(_ url: URL) throws -> [String: JSONValue] {
        try JSONConfig(contentsOf: url).values
    }

    /// Equal as diffusers would read them: 1 and 1.0 are the same number.
    func assertSameConfig(_ a: [String: JSONValue], _ b: [String: JSONValue], _ what: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        func normal(_ v: JSONValue) -> JSONValue {
            switch v {
            case let .int(i): return .double(Double(i))
            case let .array(items): return .array(items.map(normal))
            default: return v
            }
        }
        XCTAssertEqual(Set(a.keys), Set(b.keys), "\(what): keys", file: file, line: line)
        for (key, value) in a where b[key].map(normal) != normal(value) {
            XCTFail("\(what): \(key) is \(value), expected \(b[key].map { "\($0)" } ?? "nothing")", file: file, line: line)
        }
    }

    func testDefaultsWriteWhatDiffusersWrites() throws {
        let configs = Self.fixturesURL.appendingPathComponent("configs")
        let ddpm = try loadJSON(configs.appendingPathComponent("ddpm_default/scheduler_config.json"))
        let ddim = try loadJSON(configs.appendingPathComponent("ddim_default/scheduler_config.json"))
        assertSameConfig(try DDPMScheduler().configJSON.values, ddpm, "DDPM defaults")
        assertSameConfig(try DDIMScheduler().configJSON.values, ddim, "DDIM defaults")
    }

    func testConfigFilesRoundTrip() throws {
        let configs = Self.fixturesURL.appendingPathComponent("configs")
        for name in ["ddpm_default", "ddim_default", "ddpm_sd", "ddim_from_ddpm_sd", "ddim_trained_betas"] {
            let url = configs.appendingPathComponent(name)
            let original = try loadJSON(url.appendingPathComponent(SchedulerConfig.fileName))
            let written: [String: JSONValue]
            if case .string("DDPMScheduler")? = original["_class_name"] {
                written = try DDPMScheduler(contentsOf: url).configJSON.values
            } else {
                written = try DDIMScheduler(contentsOf: url).configJSON.values
            }
            assertSameConfig(written, original, name)
        }
        let trained = try DDIMScheduler(contentsOf: configs.appendingPathComponent("ddim_trained_betas"))
        XCTAssertEqual(trained.betas, [0.1, 0.2, 0.3, 0.4])
        XCTAssertTrue(trained.config.thresholding)
        XCTAssertEqual(trained.finalAlphaCumprod, 0.9)
    }

    func testDDIMFromDDPMConfigMatchesDiffusersFromConfig() throws {
        let configs = Self.fixturesURL.appendingPathComponent("configs")
        let ddpm = try DDPMScheduler(contentsOf: configs.appendingPathComponent("ddpm_sd/scheduler_config.json"))
        let ddim = try DDIMScheduler(from: ddpm)
        XCTAssertEqual(ddim.alphasCumprod, ddpm.alphasCumprod)
        XCTAssertEqual(ddim.config.predictionType, .vPrediction)
        XCTAssertEqual(ddim.config.timestepSpacing, .trailing)
        XCTAssertTrue(ddim.config.setAlphaToOne, "absent from a DDPM config, so diffusers' default")
        let expected = try loadJSON(configs.appendingPathComponent("ddim_from_ddpm_sd/scheduler_config.json"))
        assertSameConfig(ddim.configJSON.values, expected, "DDIM from DDPM config")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sched-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ddim.saveConfig(to: dir)
        let again = try DDIMScheduler(contentsOf: dir)
        XCTAssertEqual(again.config, ddim.config)
    }

    func writeConfig(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-\(UUID().uuidString).json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testUnknownKeysAreIgnoredAndKept() throws {
        // Stable Diffusion 1.x ships a PNDM config; its schedule loads into DDIM as diffusers' from_config does.
        let url = try writeConfig("""
        {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
         "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
         "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
         "clip_sample": false}
        """)
        defer { try? FileManager.default.removeItem(at: url) }
        var ddim = try DDIMScheduler(contentsOf: url)
        XCTAssertEqual(ddim.config.extraKeys["skip_prk_steps"], .bool(true))
        XCTAssertEqual(ddim.finalAlphaCumprod, ddim.alphasCumprod[0])
        try ddim.setTimesteps(50)
        XCTAssertEqual(ddim.timesteps.prefix(3), [981, 961, 941])
        let written = ddim.configJSON.values
        XCTAssertEqual(written["skip_prk_steps"], .bool(true))
        XCTAssertEqual(written["_class_name"], .string("DDIMScheduler"))
        XCTAssertEqual(written["_diffusers_version"], .string("0.6.0"))
        XCTAssertNil(written["variance_type"], "not a DDIM key and not in the file")
    }

    func testBadConfigsNameFileAndKey() throws {
        let cases: [(String, String, String)] = [
            (#"{"clip_sample": "yes"}"#, "clip_sample", "expected true or false"),
            (#"{"num_train_timesteps": 10.5}"#, "num_train_timesteps", "expected an integer"),
            (#"{"beta_schedule": "cosine"}"#, "beta_schedule", #"expected one of "linear", "scaled_linear", "squaredcos_cap_v2""#),
            (#"{"prediction_type": "x0"}"#, "prediction_type", "found \"x0\""),
            (#"{"timestep_spacing": 3}"#, "timestep_spacing", "expected a string"),
            (#"{"beta_start": "small"}"#, "beta_start", "expected a number"),
            (#"{"trained_betas": [0.1, 0.2]}"#, "trained_betas", "expected 1000 values"),
            (#"{"trained_betas": "none"}"#, "trained_betas", "expected a list of numbers"),
            (#"{"trained_betas": [0.1, "x"], "num_train_timesteps": 2}"#, "trained_betas", "expected a list of numbers"),
            (#"{"num_train_timesteps": 0}"#, "num_train_timesteps", "at least 1"),
            (#"{"beta_end": 1.5}"#, "beta_end", "(0, 1)"),
            (#"{"variance_type": "fixed_large_log"}"#, "variance_type", "expected one of"),
        ]
        for (text, key, message) in cases {
            let url = try writeConfig(text)
            defer { try? FileManager.default.removeItem(at: url) }
            XCTAssertThrowsError(try DDIMScheduler(contentsOf: url), text) { error in
                let description = "\(error)"
                XCTAssertTrue(description.hasPrefix("\(url.path): \(key): "), description)
                XCTAssertTrue(description.contains(message), description)
            }
        }
        XCTAssertThrowsError(try DDPMScheduler(contentsOf: URL(fileURLWithPath: "/nonexistent/scheduler"))) {
            XCTAssertTrue("\($0)".contains("/nonexistent/scheduler"))
        }
    }

    func testMinSNRWeight() {
        // ᾱ = 0.5: SNR 1, below γ: weight 1. ᾱ = 0.99: SNR 99, weight γ/SNR.
        XCTAssertEqual(NoiseSchedule.minSNRWeight(alphaCumprod: 0.5, gamma: 5), 1, accuracy: 1e-6)
        XCTAssertEqual(NoiseSchedule.minSNRWeight(alphaCumprod: 0.99, gamma: 5), 5 / 99, accuracy: 1e-4)
        XCTAssertEqual(NoiseSchedule.minSNRWeight(alphaCumprod: 0.01, gamma: 5), 1, accuracy: 1e-6)
    }
}
