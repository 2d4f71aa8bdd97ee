// UNet3DConditionModel against diffusers: fixtures from scripts/fixtures/unet3d_fixtures.py (tiny
// random-weight video UNets saved with save_pretrained, inputs, float64 reference outputs), plus
// the fused temporal layout ops and inflation from an image UNet.
import Foundation
import XCTest
@testable import LetheCore
@testable import LetheModels

final class UNet3DConditionModelTests: XCTestCase {
    static let cases = ["tiny", "three_levels_odd", "five_frames"]

    private func fixtureFolder(_ name: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/unet3d/\(name)")
    }

    private struct Fixture {
        let model: UNet3DConditionModel
        let io: [String: Tensor]
        var sample: Tensor { io["sample"]! }
        var timesteps: [Float] { io["timesteps"]!.scalars }
        var context: Tensor { io["encoder_hidden_states"]! }
        var out: Tensor { io["out"]! }
    }

    private func loadFixture(_ name: String) throws -> Fixture {
        let folder = fixtureFolder(name)
        return Fixture(model: try UNet3DConditionModel.load(directory: folder),
                       io: try SafeTensors.load(folder.appendingPathComponent("io.safetensors")))
    }

    private func checkCase(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try loadFixture(name)
        let batch = f.sample.shape[0]
        let perItem = f.timesteps.count == batch ? f.timesteps : Array(repeating: f.timesteps[0], count: batch)
        let emb = Autograd.inference { f.model.timeEmbedding(f.model.timeProj(perItem)) }
        assertMatches(emb, f.io["time_emb"]!, "\(name) time embedding", file: file, line: line)
        let out = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        assertMatches(out, f.out, "\(name) output", file: file, line: line)
    }

    // One cross-attention level down and up, two frames, one timestep for the batch.
    func testTinyMatchesDiffusers() throws { try checkCase("tiny") }
    // Three levels, two resnets per block, two clips with their own timesteps, GELU, scaled mid
    // block, a 6×6 sample that makes the up path resize to the skip connections.
    func testThreeLevelsOddSizeMatchesDiffusers() throws { try checkCase("three_levels_odd") }
    // Five frames, non-square sample, eight groups, attention on every level.
    func testFiveFramesMatchesDiffusers() throws { try checkCase("five_frames") }

    /// Single temporal and spatial modules of the tiny model on the inputs diffusers gave them.
    func testTemporalModulesMatchDiffusers() throws {
        let f = try loadFixture("tiny")
        let frames = f.sample.shape[2]
        let down = try XCTUnwrap(f.model.downBlocks[0] as? CrossAttnDownBlock3D)
        Autograd.inference {
            let io = f.io
            assertMatches(f.model.transformerIn(io["transformer_in.in"]!, frames: frames), io["transformer_in.out"]!, "transformer_in")
            assertMatches(down.tempConvs[0](io["down_blocks.0.temp_convs.0.in"]!, frames: frames),
                          io["down_blocks.0.temp_convs.0.out"]!, "temp_convs.0")
            assertMatches(down.tempAttentions[0](io["down_blocks.0.temp_attentions.0.in"]!, frames: frames),
                          io["down_blocks.0.temp_attentions.0.out"]!, "temp_attentions.0")
            // The spatial transformer sees each clip's context once for all of its frames.
            assertMatches(down.attentions[0](io["down_blocks.0.attentions.0.in"]!, context: f.context),
                          io["down_blocks.0.attentions.0.out"]!, "attentions.0")
            let emb = f.model.timeEmbedding(f.model.timeProj(f.timesteps))
            assertMatches(f.model.midBlock(io["mid_block.in"]!, temb: emb, context: f.context, frames: frames),
                          io["mid_block.out"]!, "mid_block")
        }
    }

    /// A model built from the config alone has exactly the checkpoint's keys and shapes.
    /// The temporal transformers' attn2 is a second self-attention over frames
    /// (double_self_attention), so ESD-x's cross-attention groups must leave it out and ESD-u's
    /// complement must hold it.
    func testCrossAttentionGroupsLeaveTemporalSelfAttentionOut() throws {
        let model = try loadFixture("tiny").model
        let cross = model.namedParameters(in: .crossAttention).map(\.key)
        XCTAssertFalse(cross.isEmpty)
        XCTAssertTrue(cross.allSatisfy { $0.contains(".attentions.") && !UNet3DConditionModel.isTemporalKey($0) }, "\(cross)")
        let kv = model.namedParameters(in: .crossAttentionKeyValue).map(\.key)
        XCTAssertTrue(!kv.isEmpty && kv.allSatisfy { !UNet3DConditionModel.isTemporalKey($0) }, "\(kv)")
        let temporalAttn2 = model.namedParameters().map(\.key).filter { UNet3DConditionModel.isTemporalKey($0) && $0.contains(".attn2.") }
        XCTAssertFalse(temporalAttn2.isEmpty)
        let rest = Set(model.namedParameters(in: .nonCrossAttention).map(\.key))
        XCTAssertTrue(temporalAttn2.allSatisfy(rest.contains))
    }

    func testFreshModelHasDiffusersKeys() throws {
        for name in Self.cases {
            let folder = fixtureFolder(name)
            let config = try UNet3DConfig(contentsOf: folder.appendingPathComponent("config.json"))
            var rng = RandomGenerator(seed: 1)
            let model = try UNet3DConditionModel(config: config, rng: &rng)
            let weights = try SafeTensors.load(folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
            let mine = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.key, $0.tensor.shape) })
            XCTAssertEqual(Set(mine.keys), Set(weights.keys), "\(name): parameter keys")
            for (key, t) in weights { XCTAssertEqual(mine[key], t.shape, "\(name): \(key)") }
        }
    }

    /// diffusers' zero last convolution makes a fresh TemporalConvLayer the identity.
    func testFreshTemporalConvLayerIsIdentity() {
        var rng = RandomGenerator(seed: 2)
        let layer = TemporalConvLayer(inDim: 8, normNumGroups: 4, rng: &rng)
        let x = Tensor.randn([6, 8, 3, 2], rng: &rng)
        let y = Autograd.inference { layer(x, frames: 3) }
        XCTAssertEqual(y.scalars, x.scalars)
        XCTAssertEqual(layer.namedParameters().map(\.key),
                       ["conv1.0.weight", "conv1.0.bias", "conv1.2.weight", "conv1.2.bias",
                        "conv2.0.weight", "conv2.0.bias", "conv2.3.weight", "conv2.3.bias",
                        "conv3.0.weight", "conv3.0.bias", "conv3.3.weight", "conv3.3.bias",
                        "conv4.0.weight", "conv4.0.bias", "conv4.3.weight", "conv4.3.bias"])
    }

    // MARK: - Fused layout ops

    /// The fused norm-to-tokens op equals diffusers' sequence: [N, C, F, H, W] group norm, then
    /// permute to [N·H·W, F, C]; and its inverse plus residual equals the permute back plus add.
    func testTemporalTokenOpsMatchPermuteComposition() {
        var rng = RandomGenerator(seed: 3)
        let (n, f, c, h, w) = (2, 3, 6, 4, 5)
        let x = Tensor.randn([n * f, c, h, w], rng: &rng, std: 2) + 0.5
        let weight = Tensor.randn([c], rng: &rng), bias = Tensor.randn([c], rng: &rng)
        let fused = x.temporalGroupNormTokens(frames: f, groups: 3, weight: weight, bias: bias, eps: 1e-6)
        let reference = x.reshaped([n, f, c, h, w]).permuted([0, 2, 1, 3, 4])
            .groupNorm(groups: 3, weight: weight, bias: bias, eps: 1e-6)
            .permuted([0, 3, 4, 2, 1]).reshaped([n * h * w, f, c])
        assertMatches(fused, reference, tolerance: 1e-6, "temporalGroupNormTokens")

        let tokens = Tensor.randn([n * h * w, f, c], rng: &rng)
        let back = tokens.framesFromTemporalTokens(adding: x, frames: f)
        let backReference = tokens.reshaped([n, h, w, f, c]).permuted([0, 3, 4, 1, 2]).reshaped([n * f, c, h, w]) + x
        XCTAssertEqual(back.scalars, backReference.scalars)
    }

    func testTemporalTokenOpsGradients() {
        var rng = RandomGenerator(seed: 4)
        let (n, f, c, h, w) = (2, 3, 4, 2, 3)
        let x = Tensor.randn([n * f, c, h, w], rng: &rng) + 0.3
        let weight = Tensor.randn([c], rng: &rng), bias = Tensor.randn([c], rng: &rng)
        let probe = Tensor.randn([n * h * w, f, c], rng: &rng)
        checkGradients([x, weight, bias], "temporalGroupNormTokens") { t in
            t[0].temporalGroupNormTokens(frames: f, groups: 2, weight: t[1], bias: t[2], eps: 1e-5) * probe
        }
        let tokens = Tensor.randn([n * h * w, f, c], rng: &rng)
        let probe2 = Tensor.randn([n * f, c, h, w], rng: &rng)
        checkGradients([tokens, x], "framesFromTemporalTokens") { t in
            t[0].framesFromTemporalTokens(adding: t[1], frames: f) * probe2
        }
    }

    /// The SIMD kernel for short sequences agrees with the GEMM-based attention, forward and
    /// backward, for head widths below, at and above one SIMD vector and unequal lengths.
    func testShortSequenceAttentionMatchesGEMMAttention() {
        var rng = RandomGenerator(seed: 10)
        for (heads, d, lq, lk) in [(2, 3, 4, 4), (1, 8, 3, 5), (3, 10, 6, 2)] {
            let (q, k, v) = (Tensor.randn([5, lq, heads * d], rng: &rng), Tensor.randn([5, lk, heads * d], rng: &rng),
                             Tensor.randn([5, lk, heads * d], rng: &rng))
            let probe = Tensor.randn([5, lq, heads * d], rng: &rng)
            var grads: [[Float]] = []
            for useShort in [true, false] {
                for t in [q, k, v] { t.requiresGrad = true; t.grad = nil }
                let out = useShort ? shortSequenceAttention(query: q, key: k, value: v, heads: heads)
                                   : scaledDotProductAttention(query: q, key: k, value: v, heads: heads)
                (out * probe).sum().backward()
                grads.append(out.scalars + [q, k, v].flatMap { $0.grad!.scalars })
            }
            assertMatches(Tensor(shape: [grads[0].count], data: grads[0]), Tensor(shape: [grads[1].count], data: grads[1]),
                          tolerance: 1e-5, "heads \(heads) × \(d), \(lq) queries, \(lk) keys")
        }
    }

    func testTemporalTransformerAndConvGradients() {
        var rng = RandomGenerator(seed: 5)
        let transformer = TransformerTemporalModel(numAttentionHeads: 2, attentionHeadDim: 3, inChannels: 4, normNumGroups: 2, rng: &rng)
        let conv = TemporalConvLayer(inDim: 4, normNumGroups: 2, rng: &rng)
        // A non-zero last convolution, so the temporal path itself is checked.
        conv.lastConv.weight.assign(Tensor.randn(conv.lastConv.weight.shape, rng: &rng, std: 0.3))
        for p in transformer.parameters + conv.parameters { p.requiresGrad = false }
        let x = Tensor.randn([2 * 3, 4, 2, 2], rng: &rng)
        let probe = Tensor.randn(x.shape, rng: &rng)
        checkGradients([x], "TransformerTemporalModel ∘ TemporalConvLayer") { t in
            conv(transformer(t[0], frames: 3), frames: 3) * probe
        }
    }

    /// The temporal layers' own weights: training a video model moves exactly these, so their
    /// gradients (not only the input's) are checked against central differences.
    func testTemporalModuleParameterGradients() {
        var rng = RandomGenerator(seed: 6)
        let transformer = TransformerTemporalModel(numAttentionHeads: 2, attentionHeadDim: 2, inChannels: 4, normNumGroups: 2, rng: &rng)
        let conv = TemporalConvLayer(inDim: 4, normNumGroups: 2, rng: &rng)
        let parameters = transformer.parameters + conv.parameters
        // Zero-initialised output layers would hide every gradient behind them.
        for p in parameters { p.assign(p + Tensor.randn(p.shape, rng: &rng, std: 0.2)) }
        let x = Tensor.randn([2 * 3, 4, 2, 2], rng: &rng)
        x.requiresGrad = false
        let probe = Tensor.randn(x.shape, rng: &rng)
        checkGradients(parameters, "TransformerTemporalModel ∘ TemporalConvLayer weights") { _ in
            conv(transformer(x, frames: 3), frames: 3) * probe
        }
    }

    /// Central differences of Σ f(inputs) against backward, relative error of each whole gradient.
    private func checkGradients(_ inputs: [Tensor], _ what: String, file: StaticString = #filePath, line: UInt = #line,
                                _ f: ([Tensor]) -> Tensor) {
        for t in inputs { t.requiresGrad = true; t.grad = nil }
        f(inputs).sum().backward()
        let eps: Float = 1e-2
        for (k, t) in inputs.enumerated() {
            guard let analytic = t.grad else { XCTFail("\(what): no gradient for input \(k)", file: file, line: line); continue }
            var diff2 = 0.0, ref2 = 0.0
            for i in 0..<t.count {
                let saved = t[flat: i]
                t[flat: i] = saved + eps
                let up = Autograd.inference { f(inputs).scalars.reduce(0.0) { $0 + Double($1) } }
                t[flat: i] = saved - eps
                let down = Autograd.inference { f(inputs).scalars.reduce(0.0) { $0 + Double($1) } }
                t[flat: i] = saved
                let numeric = (up - down) / (2 * Double(eps))
                diff2 += (Double(analytic[flat: i]) - numeric) * (Double(analytic[flat: i]) - numeric)
                ref2 += numeric * numeric
            }
            XCTAssertGreaterThan(ref2, 0, "\(what): input \(k) has no effect", file: file, line: line)
            XCTAssertLessThan(diff2.squareRoot() / max(ref2.squareRoot(), 1e-30), 1e-2, "\(what): gradient of input \(k)",
                              file: file, line: line)
        }
    }

    // MARK: - Gradients through the whole model

    /// Erasure trains text embeddings through a frozen video UNet: d(output)/d(encoder_hidden_states)
    /// by backward equals central differences.
    func testGradientReachesEncoderHiddenStatesThroughFrozenModel() throws {
        let f = try loadFixture("tiny")
        f.model.setTrainable(false)
        let context = f.context.copy()
        context.requiresGrad = true
        var rng = RandomGenerator(seed: 6)
        let w = Tensor.randn(f.out.shape, rng: &rng)
        func loss() -> Double {
            let out = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: context) }
            return (0..<out.count).reduce(0.0) { $0 + Double(out[flat: $1]) * Double(w[flat: $1]) }
        }
        let out = f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: context)
        XCTAssertTrue(out.requiresGrad)
        out.backward(w)
        let analytic = try XCTUnwrap(context.grad)
        XCTAssertTrue(f.model.parameters.allSatisfy { $0.grad == nil }, "frozen weights collect no gradient")

        let eps: Float = 1e-2
        var diff2 = 0.0, ref2 = 0.0
        for i in stride(from: 0, to: context.count, by: 3) {
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

    // MARK: - Inflation

    /// An image UNet of the kind the clip world uses, scaled down, with every weight random.
    private func randomImageUNet(seed: UInt64) throws -> UNet2DConditionModel {
        var c = UNet2DConfig()
        c.sampleSize = [8]
        c.inChannels = 3
        c.outChannels = 3
        c.blockOutChannels = [8, 16, 16]
        c.layersPerBlock = .shared(1)
        c.downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
        c.upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
        c.attentionHeadDim = .perBlock([2, 4, 4])  // heads of 4 channels everywhere
        c.crossAttentionDim = .shared(8)
        c.normNumGroups = 4
        c.useLinearProjection = false
        var rng = RandomGenerator(seed: seed)
        let model = try UNet2DConditionModel(config: c, rng: &rng)
        randomizeParameters(model, rng: &rng)
        return model
    }

    /// The inflated video UNet on a clip equals the image UNet on each frame, transformer_in
    /// and every temporal layer included (their zeroed output layers make them residual identities).
    func testInflatedVideoUNetMatchesImageUNetPerFrame() throws {
        let image = try randomImageUNet(seed: 7)
        var rng = RandomGenerator(seed: 8)
        let video = try UNet3DConditionModel(inflating: image, rng: &rng)
        XCTAssertEqual(video.config.attentionHeadDim, 4)
        XCTAssertEqual(video.config.downBlockTypes, ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"])

        let (n, f) = (2, 3)
        let context = Tensor.randn([n, 5, 8], rng: &rng)
        let timesteps: [Float] = [20, 700]
        /// The image UNet on the clip's N·F frames as a batch, each with its clip's context and timestep.
        func imagePerFrame(_ clip: Tensor) -> Tensor {
            let f = clip.shape[2]
            let frames = clip.permuted([0, 2, 1, 3, 4]).reshaped([n * f, 3, 8, 8])
            let contexts = Tensor.concatenate((0..<n).flatMap { i in
                Array(repeating: context.slice(axis: 0, range: i..<(i + 1)), count: f)
            }, axis: 0)
            let perFrame = timesteps.flatMap { Array(repeating: $0, count: f) }
            let out = Autograd.inference { image(sample: frames, timesteps: perFrame, encoderHiddenStates: contexts) }
            return out.reshaped([n, f, 3, 8, 8]).permuted([0, 2, 1, 3, 4])
        }
        // A single frame too: the temporal convolutions then see only padding around it.
        let still = Tensor.randn([n, 3, 1, 8, 8], rng: &rng)
        assertMatches(Autograd.inference { video(sample: still, timesteps: timesteps, encoderHiddenStates: context) },
                      imagePerFrame(still), tolerance: 1e-5, "one-frame clips")
        let clip = Tensor.randn([n, 3, f, 8, 8], rng: &rng)
        let videoOut = Autograd.inference { video(sample: clip, timesteps: timesteps, encoderHiddenStates: context) }
        let expected = imagePerFrame(clip)
        assertMatches(videoOut, expected, tolerance: 1e-5, "inflated video UNet vs image UNet per frame")

        // The identity comes from the zeroed layers: undo one and the frames interact.
        video.transformerIn.projOut.weight.assign(Tensor.randn(video.transformerIn.projOut.weight.shape, rng: &rng, std: 0.5))
        let changed = Autograd.inference { video(sample: clip, timesteps: timesteps, encoderHiddenStates: context) }
        let difference = zip(changed.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(difference, 1e-3, "transformer_in must be on the path")
    }

    func testInflationRefusesWhatUNet3DCannotExpress() throws {
        // The clip world's image UNet has heads of 8 channels in both attention levels.
        let clipWorld = try UNet3DConfig(inflating: .clipWorld(crossAttentionDim: 32))
        XCTAssertEqual(clipWorld.attentionHeadDim, 8)
        XCTAssertEqual(clipWorld.upBlockTypes, ["CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "UpBlock3D"])

        var c = try randomImageUNet(seed: 9).config
        c.attentionHeadDim = .shared(2)  // widths 4 and 8
        XCTAssertThrowsError(try UNet3DConfig(inflating: c)) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "attention_head_dim", "\(error)")
        }
        c = try randomImageUNet(seed: 9).config
        c.actFn = "gelu"
        XCTAssertThrowsError(try UNet3DConfig(inflating: c)) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "act_fn", "\(error)")
        }
        c = try randomImageUNet(seed: 9).config
        c.midBlockType = "UNetMidBlock2D"
        XCTAssertThrowsError(try UNet3DConfig(inflating: c)) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "mid_block_type", "\(error)")
        }
    }

    // MARK: - Files and configs

    func testSaveWritesAFolderThatLoadsBack() throws {
        let f = try loadFixture("five_frames")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet3d-save-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try f.model.save(to: dir)
        let again = try UNet3DConditionModel.load(directory: dir)
        XCTAssertEqual(again.config, f.model.config)
        let a = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        let b = Autograd.inference { again(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        XCTAssertEqual(a.scalars, b.scalars)
        let written = try JSONConfig(contentsOf: dir.appendingPathComponent("config.json"))
        XCTAssertEqual(written["_class_name"], "UNet3DConditionModel")
        XCTAssertEqual(written["num_attention_heads"], .null)
    }

    /// The video UNet of the pipeline fixtures (saved by diffusers' TextToVideoSDPipeline in
    /// float16) loads with every key matched.
    func testLoadsTheTextToVideoPipelineUNet() throws {
        let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/pipeline/t2v_tiny/unet")
        let model = try UNet3DConditionModel.load(directory: folder)
        XCTAssertEqual(model.config.blockOutChannels, [8, 16])
        var rng = RandomGenerator(seed: 11)
        let out = Autograd.inference {
            model(sample: Tensor.randn([1, 3, 4, 8, 8], rng: &rng), timesteps: [10], encoderHiddenStates: Tensor.randn([1, 77, 8], rng: &rng))
        }
        XCTAssertEqual(out.shape, [1, 3, 4, 8, 8])
        XCTAssertTrue(out.scalars.allSatisfy(\.isFinite))
    }

    func testMissingWeightsNameTheFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet3d-missing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixtureFolder("tiny").appendingPathComponent("config.json"),
                                         to: dir.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try UNet3DConditionModel.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains(dir.path), "\(error)")
        }
    }

    func testUnsupportedConfigsNameTheKey() throws {
        let base = try JSONConfig(contentsOf: fixtureFolder("tiny").appendingPathComponent("config.json"))
        let bad: [(String, JSONValue)] = [
            ("num_attention_heads", 8),
            ("time_cond_proj_dim", 16),
            ("attention_head_dim", [4, 8]),
            ("norm_num_groups", nil),
            ("norm_num_groups", 3),
            ("down_block_types", ["CrossAttnDownBlock2D", "DownBlock3D"]),
            ("up_block_types", ["UpBlock3D"]),
            ("attention_head_dim", 32),
            ("act_fn", "tanh"),
        ]
        for (key, value) in bad {
            var c = base
            c[key] = value
            XCTAssertThrowsError(try UNet3DConfig(json: c), "\(key) = \(value)") { error in
                XCTAssertEqual((error as? ConfigError)?.key, key, "\(error)")
            }
        }
    }

    func testConfigRoundTripsUnknownKeys() throws {
        var json = try JSONConfig(contentsOf: fixtureFolder("three_levels_odd").appendingPathComponent("config.json"))
        json["some_future_key"] = "kept"
        json["layers_per_block"] = [2, 2, 2]
        let config = try UNet3DConfig(json: json)
        XCTAssertEqual(config.layersPerBlock, 2)
        XCTAssertEqual(config.actFn, "gelu")
        XCTAssertEqual(config.midBlockScaleFactor, 1.5)
        let again = try UNet3DConfig(json: config.json())
        XCTAssertEqual(again, config)
        XCTAssertEqual(config.json()["some_future_key"], "kept")
    }
}
