// UNet2DConditionModel against diffusers: fixtures from scripts/fixtures/unet2d_fixtures.py
// (tiny random-weight UNets saved with save_pretrained, inputs, float64 reference outputs).
import Foundation
import XCTest
@testable import LetheCore
@testable import LetheModels

final class UNet2DConditionModelTests: XCTestCase {
    static let cases = ["tiny", "linear_heads_list", "scale_shift_odd", "deep_transformer"]

    func fixtureFolder(_ name: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/unet2d/\(name)")
    }

    struct Fixture {
        let model: UNet2DConditionModel
        let sample: Tensor, timesteps: [Float], context: Tensor, timeEmb: Tensor, out: Tensor
    }

    func loadFixture(_ name: String) throws -> Fixture {
        let folder = fixtureFolder(name)
        let model = try UNet2DConditionModel.load(directory: folder)
        let io = try SafeTensors.load(folder.appendingPathComponent("io.safetensors"))
        return Fixture(model: model, sample: io["sample"]!, timesteps: io["timesteps"]!.scalars,
                       context: io["encoder_hidden_states"]!, timeEmb: io["time_emb"]!, out: io["out"]!)
    }

    func checkCase(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try loadFixture(name)
        let batch = f.sample.shape[0]
        let perItem = f.timesteps.count == batch ? f.timesteps : Array(repeating: f.timesteps[0], count: batch)
        let emb = Autograd.inference { f.model.timeEmbedding(f.model.timeProj(perItem)) }
        assertMatches(emb, f.timeEmb, "\(name) time embedding", file: file, line: line)
        let out = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        assertMatches(out, f.out, "\(name) output", file: file, line: line)
    }

    // Conv projections, cross-attention down then up, one timestep for the batch.
    func testTinyMatchesDiffusers() throws { try checkCase("tiny") }
    // Linear projections, per-block head counts, 2 resnets per block, sin-first embedding, freq shift.
    func testLinearProjectionHeadListMatchesDiffusers() throws { try checkCase("linear_heads_list") }
    // Scale-shift resnets, resnet-only mid block, only_cross_attention, odd sample size, 5×5 convs.
    func testScaleShiftOddSizeMatchesDiffusers() throws { try checkCase("scale_shift_odd") }
    // Two transformer layers per attention, per-block layer counts, GELU activations.
    func testDeepTransformerMatchesDiffusers() throws { try checkCase("deep_transformer") }

    /// A model built from the config alone has exactly the checkpoint's keys and shapes.
    func testFreshModelHasDiffusersKeys() throws {
        for name in Self.cases {
            let folder = fixtureFolder(name)
            let config = try UNet2DConfig(contentsOf: folder.appendingPathComponent("config.json"))
            var rng = RandomGenerator(seed: 1)
            let model = try UNet2DConditionModel(config: config, rng: &rng)
            let weights = try SafeTensors.load(folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
            let mine = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.key, $0.tensor.shape) })
            XCTAssertEqual(Set(mine.keys), Set(weights.keys), "\(name): parameter keys")
            for (key, t) in weights { XCTAssertEqual(mine[key], t.shape, "\(name): \(key)") }
        }
    }

    /// Erasure trains the UNet-side losses through a frozen UNet into the text embeddings.
    func testGradientReachesEncoderHiddenStatesThroughFrozenModel() throws {
        let f = try loadFixture("tiny")
        f.model.setTrainable(false)
        let context = f.context.copy()
        context.requiresGrad = true
        var rng = RandomGenerator(seed: 5)
        let w = Tensor.randn(f.out.shape, rng: &rng)
        func loss() -> Double {
            let out = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: context) }
            var acc = 0.0
            for i in 0..<out.count { acc += Double(out[flat: i]) * Double(w[flat: i]) }
            return acc
        }
        let out = f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: context)
        XCTAssertTrue(out.requiresGrad)
        out.backward(w)
        let analytic = try XCTUnwrap(context.grad)
        XCTAssertTrue(f.model.parameters.allSatisfy { $0.grad == nil }, "frozen weights collect no gradient")

        // Every fifth element (all positions, tokens and items are hit) keeps the test fast.
        let eps: Float = 1e-2
        var diff2 = 0.0, ref2 = 0.0
        for i in stride(from: 0, to: context.count, by: 5) {
            let saved = context[flat: i]
            context[flat: i] = saved + eps
            let up = loss()
            context[flat: i] = saved - eps
            let down = loss()
            context[flat: i] = saved
            let numeric = (up - down) / (2 * Double(eps))
            diff2 += (Double(analytic[flat: i]) - numeric) * (Double(analytic[flat: i]) - numeric)
            ref2 += numeric * numeric
        }
        XCTAssertGreaterThan(ref2, 0, "the output must depend on the context")
        XCTAssertLessThan(diff2.squareRoot() / ref2.squareRoot(), 1e-2, "d(output)/d(encoder_hidden_states)")
    }

    /// The cross-attention weights (what ESD-x trains) get the gradient finite differences give.
    func testGradientOfCrossAttentionWeights() throws {
        let f = try loadFixture("tiny")
        f.model.setTrainable(only: .crossAttentionKeyValue)
        let trainable = f.model.namedParameters(in: .crossAttentionKeyValue)
        XCTAssertEqual(trainable.count, 8, "to_k and to_v of the four transformers (down, mid, two up)")
        let weight = trainable[0].tensor
        var rng = RandomGenerator(seed: 6)
        let w = Tensor.randn(f.out.shape, rng: &rng)
        f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context).backward(w)
        let analytic = try XCTUnwrap(weight.grad)
        XCTAssertNil(f.model.convIn.weight.grad, "frozen parameters collect nothing")
        let eps: Float = 1e-2
        var diff2 = 0.0, ref2 = 0.0
        for i in stride(from: 0, to: weight.count, by: 11) {
            let saved = weight[flat: i]
            func loss() -> Double {
                let out = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
                return (0..<out.count).reduce(0.0) { $0 + Double(out[flat: $1]) * Double(w[flat: $1]) }
            }
            weight[flat: i] = saved + eps
            let up = loss()
            weight[flat: i] = saved - eps
            let down = loss()
            weight[flat: i] = saved
            let numeric = (up - down) / (2 * Double(eps))
            diff2 += (Double(analytic[flat: i]) - numeric) * (Double(analytic[flat: i]) - numeric)
            ref2 += numeric * numeric
        }
        XCTAssertGreaterThan(ref2, 0)
        XCTAssertLessThan(diff2.squareRoot() / ref2.squareRoot(), 1e-2, "d(output)/d(\(trainable[0].key))")
    }

    func testParameterGroupsSelectByKey() throws {
        let model = try loadFixture("linear_heads_list").model
        let cross = model.namedParameters(in: .crossAttention)
        let rest = model.namedParameters(in: .nonCrossAttention)
        XCTAssertFalse(cross.isEmpty)
        XCTAssertTrue(cross.allSatisfy { $0.key.contains(".attn2.") })
        XCTAssertEqual(cross.count + rest.count, model.namedParameters().count)
        // 4 transformers down, 1 mid, 6 up; each attn2 has to_q, to_k, to_v, to_out.0.{weight,bias}.
        XCTAssertEqual(cross.count, 11 * 5)
        XCTAssertTrue(cross.contains { $0.key == "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight" })
        model.setTrainable(only: .crossAttention)
        XCTAssertEqual(model.trainableParameters.count, cross.count)
    }

    func testSaveWritesAFolderThatLoadsBack() throws {
        let f = try loadFixture("scale_shift_odd")
        let dir = ProcessInfo.processInfo.environment["LETHE_UNET2D_SAVE_DIR"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("lethe-unet2d-\(UUID().uuidString)")
        try f.model.save(to: dir)
        let again = try UNet2DConditionModel.load(directory: dir)
        XCTAssertEqual(again.config.json().values, f.model.config.json().values)
        let original = try JSONConfig(contentsOf: fixtureFolder("scale_shift_odd").appendingPathComponent("config.json"))
        let written = try JSONConfig(contentsOf: dir.appendingPathComponent("config.json"))
        for (key, value) in original.values where key != "_diffusers_version" {
            XCTAssertEqual(written[key], value, "config.json \(key) as diffusers wrote it")
        }
        let out = Autograd.inference { again(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        assertMatches(out, f.out, "reloaded output")
    }

    func testMissingWeightsNameTheFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-unet2d-empty-\(UUID().uuidString)")
        try UNet2DConfig.clipWorld().write(to: dir.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try UNet2DConditionModel.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains(dir.path) && "\(error)".contains("safetensors"), "\(error)")
        }
    }

    /// Real configs with features Lethe does not implement fail naming the key.
    func testUnsupportedConfigsNameTheKey() throws {
        let base = try JSONConfig(contentsOf: fixtureFolder("tiny").appendingPathComponent("config.json"))
        let cases: [(String, JSONValue)] = [
            ("class_embed_type", "timestep"), ("addition_embed_type", "text_time"), ("time_cond_proj_dim", 256),
            ("encoder_hid_dim", 768), ("num_class_embeds", 10), ("attention_type", "gated"),
            ("dual_cross_attention", true), ("num_attention_heads", 8), ("time_embedding_type", "fourier"),
            ("resnet_time_scale_shift", "spatial"), ("mid_block_type", "UNetMidBlock2DSimpleCrossAttn"),
            ("down_block_types", ["AttnDownBlock2D", "DownBlock2D"]), ("up_block_types", ["UpBlock2D", "KCrossAttnUpBlock2D"]),
            ("transformer_layers_per_block", [[1], [1]]), ("reverse_transformer_layers_per_block", [[1], [1]]),
            ("norm_num_groups", nil), ("norm_num_groups", 3), ("attention_head_dim", [2, 2, 2]),
            ("act_fn", "tanhshrink"), ("downsample_padding", 0), ("layers_per_block", "two"),
        ]
        for (key, value) in cases {
            var c = base
            c[key] = value
            XCTAssertThrowsError(try UNet2DConfig(json: c), "\(key) = \(value)") { error in
                XCTAssertTrue(error is ConfigError && "\(error)".contains("\(key):"), "\(key): \(error)")
            }
        }
        XCTAssertNoThrow(try UNet2DConfig(json: base))
    }

    func testConfigRoundTripsUnknownKeysAndPerBlockValues() throws {
        var c = try JSONConfig(contentsOf: fixtureFolder("linear_heads_list").appendingPathComponent("config.json"))
        c["some_future_key"] = "kept"
        let config = try UNet2DConfig(json: c)
        XCTAssertEqual(config.attentionHeadDim, .perBlock([2, 4, 2]))
        XCTAssertEqual(config.crossAttentionDim, .shared(24))
        XCTAssertEqual(config.freqShift, 1)
        XCTAssertFalse(config.flipSinToCos)
        XCTAssertEqual(config.json().values, c.values)
    }

    /// Video UNets fold frames into the batch and pass one context/time row per item: the blocks
    /// must give what they give on explicitly repeated inputs.
    func testFramesFoldedIntoBatchShareContextAndTimeEmbedding() throws {
        var rng = RandomGenerator(seed: 3)
        let frames = 3, items = 2
        let resnet = ResnetBlock2D(inChannels: 8, outChannels: 12, tembChannels: 10, groups: 4, rng: &rng)
        let transformer = Transformer2DModel(numAttentionHeads: 2, attentionHeadDim: 6, inChannels: 12,
                                             crossAttentionDim: 5, normNumGroups: 4, rng: &rng)
        let x = Tensor.randn([items * frames, 8, 4, 3], rng: &rng)
        let temb = Tensor.randn([items, 10], rng: &rng)
        let context = Tensor.randn([items, 7, 5], rng: &rng)
        func repeatRows(_ t: Tensor) -> Tensor {
            let row = t.count / t.shape[0]
            let out = Tensor(uninitializedShape: [t.shape[0] * frames] + t.shape.dropFirst())
            for i in 0..<t.shape[0] * frames { (out.pointer + i * row).update(from: t.pointer + (i / frames) * row, count: row) }
            return out
        }
        Autograd.inference {
            let shared = transformer(resnet(x, temb: temb), context: context)
            let repeated = transformer(resnet(x, temb: repeatRows(temb)), context: repeatRows(context))
            assertMatches(shared, repeated, tolerance: 1e-6, "folded frames")
        }
    }

    func testTimestepEmbeddingLayout() {
        // flip_sin_to_cos puts cos first; a zero timestep gives cos 1, sin 0.
        let e = timestepEmbedding([0, 1], embeddingDim: 6, flipSinToCos: true, downscaleFreqShift: 0)
        XCTAssertEqual(Array(e.scalars[0..<6]), [1, 1, 1, 0, 0, 0])
        // Frequencies exp(-ln(10⁴)·i/(half − shift)): with shift 1 the last is 10⁻⁴.
        let f = timestepEmbedding([1], embeddingDim: 4, flipSinToCos: false, downscaleFreqShift: 1)
        XCTAssertEqual(f[flat: 0], sin(1), accuracy: 1e-6)
        XCTAssertEqual(f[flat: 1], sin(1e-4), accuracy: 1e-9)
        XCTAssertEqual(f[flat: 3], cos(1e-4), accuracy: 1e-6)
        // Odd widths are zero-padded at the end.
        XCTAssertEqual(timestepEmbedding([5], embeddingDim: 5, flipSinToCos: true, downscaleFreqShift: 0)[flat: 4], 0)
    }
}
