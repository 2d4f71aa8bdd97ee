// UNetMotionModel (AnimateDiff) against diffusers: fixtures from
// scripts/fixtures/unet_motion_fixtures.py (tiny random-weight motion UNets saved with
// save_pretrained, inputs, float64 reference outputs, module probes), plus the motion module's
// gradients, the position embedding's effect, building from an image UNet, files and configs.
import Foundation
import XCTest
@testable import LetheCore
@testable import LetheModels

final class UNetMotionModelTests: XCTestCase {
    static let cases = ["tiny", "world_like", "no_motion_mid_odd"]

    private func fixtureFolder(_ name: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/unet_motion/\(name)")
    }

    private struct Fixture {
        let model: UNetMotionModel
        let io: [String: Tensor]
        var sample: Tensor { io["sample"]! }
        var timesteps: [Float] { io["timesteps"]!.scalars }
        var context: Tensor { io["encoder_hidden_states"]! }
        var out: Tensor { io["out"]! }
    }

    private func loadFixture(_ name: String) throws -> Fixture {
        let folder = fixtureFolder(name)
        return Fixture(model: try UNetMotionModel.load(directory: folder),
                       io: try SafeTensors.load(folder.appendingPathComponent("io.safetensors")))
    }

    /// The clip's context repeated for each of its frames: diffusers' [N·F, L, D] layout.
    private func perFrame(_ context: Tensor, frames: Int) -> Tensor {
        Tensor.concatenate((0..<context.shape[0]).flatMap { i in
            Array(repeating: context.slice(axis: 0, range: i..<(i + 1)), count: frames)
        }, axis: 0)
    }

    private func checkCase(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try loadFixture(name)
        let batch = f.sample.shape[0], frames = f.sample.shape[2]
        let perItem = f.timesteps.count == batch ? f.timesteps : Array(repeating: f.timesteps[0], count: batch)
        let emb = Autograd.inference { f.model.timeEmbedding(f.model.timeProj(perItem)) }
        assertMatches(emb, f.io["time_emb"]!, "\(name) time embedding", file: file, line: line)
        let out = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        let rel = assertMatches(out, f.out, "\(name) output", file: file, line: line)
        print("UNetMotionModel fixture \(name): relative error \(rel)")
        // diffusers' own layout, one context row per frame, gives the same prediction.
        let framewise = Autograd.inference {
            f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: perFrame(f.context, frames: frames))
        }
        assertMatches(framewise, f.out, "\(name) output with per-frame contexts", file: file, line: line)
    }

    // Two levels, one clip of three frames, one timestep for the batch.
    func testTinyMatchesDiffusers() throws { try checkCase("tiny") }
    // Three levels like the clip world's video model, 8 frames of a 16-frame position table, two
    // clips with their own timesteps, a motion mid block, per-block head counts.
    func testWorldLikeMatchesDiffusers() throws { try checkCase("world_like") }
    // The image mid block, two resnets and two motion layers per block, linear projections,
    // GELU, a scaled mid block, a 6×6 sample.
    func testNoMotionMidOddSizeMatchesDiffusers() throws { try checkCase("no_motion_mid_odd") }

    /// Single motion modules, one motion transformer block and the motion mid block of the tiny
    /// model on the inputs diffusers gave them.
    func testMotionModulesMatchDiffusers() throws {
        let f = try loadFixture("tiny")
        let frames = f.sample.shape[2]
        let down = try XCTUnwrap(f.model.downBlocks[0] as? CrossAttnDownBlockMotion)
        let up = try XCTUnwrap(f.model.upBlocks[1] as? CrossAttnUpBlockMotion)
        let mid = try XCTUnwrap(f.model.midBlock as? UNetMidBlockCrossAttnMotion)
        Autograd.inference {
            let io = f.io
            let path = "down_blocks.0.motion_modules.0"
            assertMatches(down.motionModules[0](io[path + ".in"]!, frames: frames), io[path + ".out"]!, path)
            assertMatches(down.motionModules[0].transformerBlocks[0](io[path + ".transformer_blocks.0.in"]!),
                          io[path + ".transformer_blocks.0.out"]!, path + ".transformer_blocks.0")
            assertMatches(up.motionModules[1](io["up_blocks.1.motion_modules.1.in"]!, frames: frames),
                          io["up_blocks.1.motion_modules.1.out"]!, "up_blocks.1.motion_modules.1")
            let emb = f.model.timeEmbedding(f.model.timeProj(f.timesteps))
            assertMatches(mid(io["mid_block.in"]!, temb: emb, context: f.context, frames: frames), io["mid_block.out"]!, "mid_block")
        }
    }

    /// A fresh position table (as from_unet2d makes it) equals diffusers' float32 table.
    func testFreshPositionTableMatchesDiffusers() throws {
        let reference = try XCTUnwrap(try loadFixture("tiny").io["pe_fresh"])
        let table = SinusoidalPositionalEmbedding.table(dim: reference.shape[2], maxSequenceLength: reference.shape[1])
        XCTAssertEqual(table.shape, reference.shape)
        let worst = zip(table.scalars, reference.scalars).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 2e-6, "largest difference \(worst)")
    }

    /// A model built from the config alone has exactly the checkpoint's keys and shapes: the
    /// parameters plus one position table per motion transformer block, which is a buffer.
    func testFreshModelHasDiffusersKeys() throws {
        for name in Self.cases {
            let folder = fixtureFolder(name)
            let config = try UNetMotionConfig(contentsOf: folder.appendingPathComponent("config.json"))
            var rng = RandomGenerator(seed: 1)
            let model = try UNetMotionModel(config: config, rng: &rng)
            let weights = try SafeTensors.load(folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
            let mine = model.stateDict().mapValues(\.shape)
            XCTAssertEqual(Set(mine.keys), Set(weights.keys), "\(name): state-dict keys")
            for (key, t) in weights { XCTAssertEqual(mine[key], t.shape, "\(name): \(key)") }
            XCTAssertEqual(Set(model.namedBuffers().map(\.key)), Set(weights.keys.filter { $0.hasSuffix(".pos_embed.pe") }))
            XCTAssertFalse(model.namedParameters().contains { $0.key.hasSuffix(".pe") }, "position tables are not parameters")
        }
    }

    // MARK: - Frame positions

    /// What the motion module adds over UNet3D's temporal attention: without positions, attention
    /// across frames cannot tell a clip from the same clip reversed (it is permutation
    /// equivariant); with them it can.
    func testMotionModuleSeesFrameOrder() {
        var rng = RandomGenerator(seed: 12)
        let (n, f, c, h, w) = (2, 4, 8, 2, 3)
        let motion = AnimateDiffTransformer3D(numAttentionHeads: 2, attentionHeadDim: 4, inChannels: c, normNumGroups: 2,
                                              maxSequenceLength: 8, rng: &rng)
        let plain = TransformerTemporalModel(numAttentionHeads: 2, attentionHeadDim: 4, inChannels: c, normNumGroups: 2, rng: &rng)
        // Copy the weights across: the two differ only in the position tables.
        let plainWeights = Dictionary(uniqueKeysWithValues: plain.namedParameters().map { ($0.key, $0.tensor) })
        for (key, p) in motion.namedParameters() { plainWeights[key]!.assign(p) }
        let x = Tensor.randn([n * f, c, h, w], rng: &rng)
        /// Frames of each clip in reverse order.
        func reversed(_ t: Tensor) -> Tensor {
            Tensor.concatenate((0..<n).flatMap { clip in (0..<f).reversed().map { t.slice(axis: 0, range: (clip * f + $0)..<(clip * f + $0 + 1)) } }, axis: 0)
        }
        Autograd.inference {
            let p = plain(reversed(x), frames: f), q = reversed(plain(x, frames: f))
            let plainDifference = zip(p.scalars, q.scalars).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(plainDifference, 1e-5, "without positions, reversing the frames only reverses the output")
            let a = motion(reversed(x), frames: f), b = reversed(motion(x, frames: f))
            let difference = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(difference, 1e-2, "with positions, the order of the frames changes the output")
        }
    }

    // MARK: - Gradients

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

    /// Training a motion UNet moves exactly the motion modules' weights: their gradients and the
    /// input's (what reaches the image layers below) against central differences, through the
    /// position embedding and both self-attentions.
    func testMotionModuleGradients() throws {
        var rng = RandomGenerator(seed: 13)
        let motion = AnimateDiffTransformer3D(numAttentionHeads: 2, attentionHeadDim: 2, inChannels: 4, normNumGroups: 2,
                                              maxSequenceLength: 5, rng: &rng)
        let parameters = motion.parameters
        // Norms at one and zero would hide gradients behind them.
        for p in parameters { p.assign(p + Tensor.randn(p.shape, rng: &rng, std: 0.2)) }
        let positions = try XCTUnwrap(motion.transformerBlocks[0].posEmbed, "a motion module's blocks carry frame positions").pe
        XCTAssertFalse(parameters.contains { $0 === positions })
        let x = Tensor.randn([2 * 3, 4, 2, 2], rng: &rng)
        let probe = Tensor.randn(x.shape, rng: &rng)
        x.requiresGrad = false
        checkGradients(parameters, "AnimateDiffTransformer3D weights") { _ in motion(x, frames: 3) * probe }
        for p in parameters { p.requiresGrad = false }
        checkGradients([x], "AnimateDiffTransformer3D input") { t in motion(t[0], frames: 3) * probe }
        XCTAssertNil(positions.grad, "the position table is a buffer")
    }

    /// Only the motion modules train under `.temporal` (diffusers' freeze_unet2d_params); the
    /// cross-attention groups leave the motion modules' second self-attention (attn2) alone.
    func testParameterGroups() throws {
        let f = try loadFixture("tiny")
        f.model.setTrainable(only: .temporal)
        let trainable = f.model.namedParameters().filter { $0.tensor.requiresGrad }.map(\.key)
        XCTAssertFalse(trainable.isEmpty)
        XCTAssertTrue(trainable.allSatisfy { $0.contains(".motion_modules.") }, "\(trainable.prefix(3))")
        XCTAssertEqual(trainable.count, f.model.motionModules.reduce(0) { $0 + $1.namedParameters().count })
        XCTAssertTrue(f.model.namedBuffers().allSatisfy { !$0.tensor.requiresGrad })
        XCTAssertEqual(f.model.namedParameters(in: .temporal).map(\.key), trainable)
        let cross = f.model.namedParameters(in: .crossAttention).map(\.key)
        XCTAssertFalse(cross.isEmpty)
        XCTAssertTrue(cross.allSatisfy { $0.contains(".attentions.") && $0.contains(".attn2.") }, "\(cross.prefix(3))")
        XCTAssertTrue(f.model.namedParameters(in: .nonCrossAttention).contains { $0.key.contains(".motion_modules.") && $0.key.contains(".attn2.") })
        f.model.setTrainable(only: .all)
        XCTAssertTrue(f.model.namedBuffers().allSatisfy { !$0.tensor.requiresGrad })
    }

    // MARK: - Building from an image UNet

    /// An image UNet of the kind the clip world uses, scaled down, with every weight random.
    private func randomImageUNet(seed: UInt64) throws -> UNet2DConditionModel {
        var c = UNet2DConfig()
        c.sampleSize = [8]
        c.inChannels = 3
        c.outChannels = 3
        c.blockOutChannels = [8, 16, 16]
        c.layersPerBlock = .shared(1)
        c.downBlockTypes = ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
        c.upBlockTypes = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
        c.attentionHeadDim = .shared(2)
        c.crossAttentionDim = .shared(8)
        c.normNumGroups = 4
        var rng = RandomGenerator(seed: seed)
        let model = try UNet2DConditionModel(config: c, rng: &rng)
        randomizeParameters(model, rng: &rng)
        return model
    }

    /// The motion UNet built from an image UNet, on a clip, equals the image UNet on each frame
    /// (the zeroed proj_out makes every motion module a residual identity).
    func testBuiltFromImageUNetMatchesImageUNetPerFrame() throws {
        let image = try randomImageUNet(seed: 7)
        var rng = RandomGenerator(seed: 8)
        let video = try UNetMotionModel(addingMotionModulesTo: image, motionNumAttentionHeads: .shared(2),
                                        motionMaxSeqLength: 8, rng: &rng)
        XCTAssertEqual(video.config.downBlockTypes, ["DownBlockMotion", "CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion"])
        XCTAssertEqual(video.config.upBlockTypes, ["CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion", "UpBlockMotion"])
        XCTAssertEqual(video.config.numAttentionHeads, .shared(2))
        XCTAssertEqual(video.motionModules.count, 3 + 1 + 6)
        for (key, p) in image.namedParameters() { XCTAssertEqual(video.stateDict()[key]?.scalars, p.scalars, key) }

        let (n, f) = (2, 4)
        let context = Tensor.randn([n, 5, 8], rng: &rng)
        let timesteps: [Float] = [20, 700]
        let clip = Tensor.randn([n, 3, f, 8, 8], rng: &rng)
        let frames = clip.permuted([0, 2, 1, 3, 4]).reshaped([n * f, 3, 8, 8])
        let perFrameOut = Autograd.inference {
            image(sample: frames, timesteps: timesteps.flatMap { Array(repeating: $0, count: f) },
                  encoderHiddenStates: perFrame(context, frames: f))
        }
        let expected = perFrameOut.reshaped([n, f, 3, 8, 8]).permuted([0, 2, 1, 3, 4])
        let videoOut = Autograd.inference { video(sample: clip, timesteps: timesteps, encoderHiddenStates: context) }
        assertMatches(videoOut, expected, tolerance: 1e-5, "motion UNet from an image UNet vs the image UNet per frame")

        // The identity comes from the zeroed proj_out: undo one and the frames interact.
        let module = video.motionModules[4]
        module.projOut.weight.assign(Tensor.randn(module.projOut.weight.shape, rng: &rng, std: 0.5))
        let changed = Autograd.inference { video(sample: clip, timesteps: timesteps, encoderHiddenStates: context) }
        let difference = zip(changed.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(difference, 1e-3, "the motion modules must be on the path")
    }

    func testBuildingFromImageUNetRefusesWhatUNetMotionCannotExpress() throws {
        let world = try UNetMotionConfig(addingMotionModulesTo: .clipWorld(crossAttentionDim: 32))
        XCTAssertEqual(world.numAttentionHeads, .shared(8))
        XCTAssertEqual(world.motionNumAttentionHeads, .shared(8))
        XCTAssertEqual(world.blockOutChannels, [32, 64, 64])
        let refusals: [(String, (inout UNet2DConfig) -> Void)] = [
            ("act_fn", { $0.actFn = "gelu" }),
            ("mid_block_type", { $0.midBlockType = "UNetMidBlock2D" }),
            ("flip_sin_to_cos", { $0.flipSinToCos = false }),
            ("resnet_time_scale_shift", { $0.resnetTimeScaleShift = "scale_shift" }),
            ("conv_in_kernel", { $0.convInKernel = 1 }),
        ]
        for (key, change) in refusals {
            var c = try randomImageUNet(seed: 9).config
            change(&c)
            XCTAssertThrowsError(try UNetMotionConfig(addingMotionModulesTo: c), key) { error in
                XCTAssertEqual((error as? ConfigError)?.key, key, "\(error)")
            }
        }
        // Motion heads whose width would be odd cannot carry the sin/cos position table.
        XCTAssertThrowsError(try UNetMotionConfig(addingMotionModulesTo: try randomImageUNet(seed: 9).config,
                                                  motionNumAttentionHeads: .shared(16))) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "motion_num_attention_heads", "\(error)")
        }
    }

    // MARK: - Files and configs

    /// load → save → load: the same keys (position tables included) with the same values, the
    /// same config, the same outputs.
    func testSaveLoadRoundTrip() throws {
        let f = try loadFixture("world_like")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-motion-save-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try f.model.save(to: dir)
        let again = try UNetMotionModel.load(directory: dir)
        XCTAssertEqual(again.config, f.model.config)
        let original = f.model.stateDict(), reloaded = again.stateDict()
        XCTAssertEqual(Set(original.keys), Set(reloaded.keys))
        for (key, t) in original { XCTAssertEqual(reloaded[key]?.scalars, t.scalars, key) }
        let written = try SafeTensors.load(dir.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        XCTAssertEqual(Set(written.keys), Set(original.keys))
        let a = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        let b = Autograd.inference { again(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        XCTAssertEqual(a.scalars, b.scalars)
        let json = try JSONConfig(contentsOf: dir.appendingPathComponent("config.json"))
        XCTAssertEqual(json["_class_name"], "UNetMotionModel")
        XCTAssertEqual(json["motion_num_attention_heads"], [2, 2, 4])
        XCTAssertEqual(json["use_motion_mid_block"], true)
    }

    /// A model folder around a motion UNet is an AnimateDiffPipeline, as diffusers writes it,
    /// and loads back with its UNetMotionModel.
    func testDiffusionModelFolderRoundTrip() throws {
        let t2v = try DiffusionModel.load(directory: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/pipeline/t2v_tiny"))
        var config = try UNetMotionConfig(contentsOf: fixtureFolder("tiny").appendingPathComponent("config.json"))
        config.crossAttentionDim = .shared(t2v.textEncoder.config.hiddenSize)
        var rng = RandomGenerator(seed: 14)
        let unet = try UNetMotionModel(config: config, rng: &rng)
        let model = DiffusionModel(tokenizer: t2v.tokenizer, textEncoder: t2v.textEncoder, unet: unet,
                                   schedulerConfig: t2v.schedulerConfig)
        XCTAssertTrue(model.isVideo)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("motion-model-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let index = try JSONConfig(contentsOf: dir.appendingPathComponent(DiffusionModel.indexName))
        XCTAssertEqual(index["_class_name"], "AnimateDiffPipeline")
        XCTAssertEqual(index["unet"], ["diffusers", "UNetMotionModel"])
        XCTAssertEqual(index["motion_adapter"], [nil, nil])
        let loaded = try DiffusionModel.load(directory: dir)
        let again = try XCTUnwrap(loaded.unet as? UNetMotionModel)
        XCTAssertEqual(again.config, unet.config)
        for (key, t) in unet.stateDict() { XCTAssertEqual(again.stateDict()[key]?.scalars, t.scalars, key) }

        // The sampling loop runs clips through it, up to motion_max_seq_length frames.
        var options = GenerationOptions()
        options.steps = 2
        options.frames = 3
        let clip = try DiffusionPipeline(model: loaded).generate(prompts: ["a red circle"], options: options)
        XCTAssertEqual(clip.shape, [1, config.inChannels, 3, 8, 8])
        XCTAssertTrue(clip.scalars.allSatisfy(\.isFinite))
        options.frames = config.motionMaxSeqLength + 1
        XCTAssertThrowsError(try DiffusionPipeline(model: loaded).generate(prompts: ["a red circle"], options: options)) { error in
            XCTAssertTrue("\(error)".contains("motion_max_seq_length"), "\(error)")
        }
    }

    func testMissingWeightsNameTheFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-motion-missing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixtureFolder("tiny").appendingPathComponent("config.json"),
                                         to: dir.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try UNetMotionModel.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains(dir.path), "\(error)")
        }
    }

    func testUnsupportedConfigsNameTheKey() throws {
        let base = try JSONConfig(contentsOf: fixtureFolder("tiny").appendingPathComponent("config.json"))
        let bad: [(String, JSONValue)] = [
            ("time_cond_proj_dim", 16),
            ("addition_embed_type", "text_time"),
            ("encoder_hid_dim_type", "ip_image_proj"),
            ("reverse_transformer_layers_per_block", [1, 1]),
            ("reverse_temporal_transformer_layers_per_block", [[1], [1, 1]]),
            ("temporal_transformer_layers_per_block", [[1], [1]]),
            ("transformer_layers_per_mid_block", [1]),
            ("motion_num_attention_heads", [2, 2, 2]),
            ("motion_num_attention_heads", 3),
            ("motion_num_attention_heads", nil),
            ("num_attention_heads", nil),
            ("motion_max_seq_length", 0),
            ("norm_num_groups", 3),
            ("down_block_types", ["CrossAttnDownBlock3D", "DownBlockMotion"]),
            ("up_block_types", ["UpBlockMotion"]),
            ("mid_block_layers", 0),
            ("act_fn", "tanh"),
        ]
        for (key, value) in bad {
            var c = base
            c[key] = value
            XCTAssertThrowsError(try UNetMotionConfig(json: c), "\(key) = \(value)") { error in
                XCTAssertEqual((error as? ConfigError)?.key, key, "\(error)")
            }
        }
    }

    func testConfigRoundTripsUnknownKeys() throws {
        var json = try JSONConfig(contentsOf: fixtureFolder("no_motion_mid_odd").appendingPathComponent("config.json"))
        json["some_future_key"] = "kept"
        json["reverse_motion_num_attention_heads"] = 4  // diffusers ignores it
        let config = try UNetMotionConfig(json: json)
        XCTAssertEqual(config.layersPerBlock, .shared(2))
        XCTAssertEqual(config.temporalTransformerLayersPerBlock, .shared(2))
        XCTAssertFalse(config.useMotionMidBlock)
        XCTAssertEqual(config.actFn, "gelu")
        XCTAssertEqual(config.midBlockScaleFactor, 1.5)
        let again = try UNetMotionConfig(json: config.json())
        XCTAssertEqual(again, config)
        XCTAssertEqual(config.json()["some_future_key"], "kept")
        XCTAssertEqual(config.json()["reverse_motion_num_attention_heads"], 4)
    }
}
