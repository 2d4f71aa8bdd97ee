// The config.json of diffusers' UNetMotionModel (AnimateDiff: an image UNet plus motion
// modules), with diffusers' keys and defaults.
//
// Unlike UNet2DConditionModel's config, `num_attention_heads` is the spatial transformers' head
// count (diffusers' from_unet2d copies the image UNet's attention_head_dim into it) and
// `motion_num_attention_heads` the motion modules'; both split a block of C channels into heads
// of C / heads channels. diffusers hard-codes the rest (3×3 conv_in/conv_out, cos-first timestep
// embedding without shift, SiLU before conv_out, the motion modules' group count = norm_num_groups).
//
// Values that add layers or inputs Lethe does not implement (time_cond_proj_dim,
// addition_embed_type, encoder_hid_dim_type, asymmetric reverse_* layer lists, nested per-layer
// lists) or that diffusers itself cannot build are rejected when the config is read, naming the
// key. Other keys are kept and written back unchanged (diffusers ignores
// reverse_motion_num_attention_heads, for instance).

import Foundation
import LetheCore

public struct UNetMotionConfig: Equatable {
    public static let downBlockTypeNames: Set<String> = ["DownBlockMotion", "CrossAttnDownBlockMotion"]
    public static let upBlockTypeNames: Set<String> = ["UpBlockMotion", "CrossAttnUpBlockMotion"]

    /// Height and width the model was trained at: one value (square) or [height, width].
    public var sampleSize: [Int]? = nil
    public var inChannels = 4
    public var outChannels = 4
    public var downBlockTypes = ["CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion", "DownBlockMotion"]
    public var upBlockTypes = ["UpBlockMotion", "CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion"]
    public var blockOutChannels = [320, 640, 1280, 1280]
    public var layersPerBlock: PerBlock<Int> = .shared(2)
    public var downsamplePadding = 1
    public var midBlockScaleFactor: Double = 1
    public var actFn = "silu"
    public var normNumGroups = 32
    public var normEps: Double = 1e-5
    public var crossAttentionDim: PerBlock<Int> = .shared(1280)
    public var transformerLayersPerBlock: PerBlock<Int> = .shared(1)
    /// Motion-module transformer layers per block (the up path mirrors the down path).
    public var temporalTransformerLayersPerBlock: PerBlock<Int> = .shared(1)
    /// Spatial transformer layers of the mid block; nil: transformer_layers_per_block's last value.
    public var transformerLayersPerMidBlock: Int? = nil
    public var temporalTransformerLayersPerMidBlock = 1
    public var useLinearProjection = false
    /// The spatial transformers' head count per block (not a head width).
    public var numAttentionHeads: PerBlock<Int> = .shared(8)
    /// The most frames a clip may have: the length of the motion modules' position table.
    public var motionMaxSeqLength = 32
    /// The motion modules' head count per block.
    public var motionNumAttentionHeads: PerBlock<Int> = .shared(8)
    /// Whether the mid block has motion modules (UNetMidBlockCrossAttnMotion) or is the image
    /// UNet's UNetMidBlock2DCrossAttn.
    public var useMotionMidBlock = true
    public var midBlockLayers = 1

    /// Every key of the file it was read from (unknown ones included).
    public var otherValues: [String: JSONValue] = [:]
    /// Where it was read from, for error messages.
    public var source = "UNetMotionModel config"

    public init() {}

    /// The keys the fields above stand for, and the ones refused unless null.
    public static let modelledKeys: Set<String> = [
        "sample_size", "in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
        "layers_per_block", "downsample_padding", "mid_block_scale_factor", "act_fn", "norm_num_groups", "norm_eps",
        "cross_attention_dim", "transformer_layers_per_block", "reverse_transformer_layers_per_block",
        "temporal_transformer_layers_per_block", "reverse_temporal_transformer_layers_per_block",
        "transformer_layers_per_mid_block", "temporal_transformer_layers_per_mid_block", "use_linear_projection",
        "num_attention_heads", "motion_max_seq_length", "motion_num_attention_heads", "use_motion_mid_block",
        "mid_block_layers", "encoder_hid_dim_type", "addition_embed_type", "time_cond_proj_dim",
    ]
    /// Keys whose non-null values add layers or inputs Lethe does not implement.
    static let refusedUnlessNull: [(key: String, why: String)] = [
        ("time_cond_proj_dim", "a timestep condition projection is not supported by Lethe"),
        ("addition_embed_type", "added (SDXL-style) embeddings are not supported by Lethe"),
        ("encoder_hid_dim_type", "an encoder hidden-state projection (IP-Adapter) is not supported by Lethe"),
        ("reverse_transformer_layers_per_block", "asymmetric spatial transformer depths are not supported by Lethe"),
        ("reverse_temporal_transformer_layers_per_block", "asymmetric motion-module depths are not supported by Lethe"),
    ]

    /// Keys kept from the file that the fields do not model (metadata such as "_class_name" aside).
    public var unmodelledValues: [String: JSONValue] {
        otherValues.filter { !Self.modelledKeys.contains($0.key) && !$0.key.hasPrefix("_") }
    }

    /// Equal when they build the same model and keep the same unmodelled keys, wherever they
    /// were read from and however the file spelled the values.
    public static func == (a: UNetMotionConfig, b: UNetMotionConfig) -> Bool {
        a.sampleSize == b.sampleSize && a.inChannels == b.inChannels && a.outChannels == b.outChannels
            && a.downBlockTypes == b.downBlockTypes && a.upBlockTypes == b.upBlockTypes
            && a.blockOutChannels == b.blockOutChannels && a.layersPerBlock == b.layersPerBlock
            && a.downsamplePadding == b.downsamplePadding && a.midBlockScaleFactor == b.midBlockScaleFactor
            && a.actFn == b.actFn && a.normNumGroups == b.normNumGroups && a.normEps == b.normEps
            && a.crossAttentionDim == b.crossAttentionDim && a.transformerLayersPerBlock == b.transformerLayersPerBlock
            && a.temporalTransformerLayersPerBlock == b.temporalTransformerLayersPerBlock
            && a.transformerLayersPerMidBlock == b.transformerLayersPerMidBlock
            && a.temporalTransformerLayersPerMidBlock == b.temporalTransformerLayersPerMidBlock
            && a.useLinearProjection == b.useLinearProjection && a.numAttentionHeads == b.numAttentionHeads
            && a.motionMaxSeqLength == b.motionMaxSeqLength && a.motionNumAttentionHeads == b.motionNumAttentionHeads
            && a.useMotionMidBlock == b.useMotionMidBlock && a.midBlockLayers == b.midBlockLayers
            && a.unmodelledValues == b.unmodelledValues
    }

    public var blockCount: Int { downBlockTypes.count }
    /// diffusers: block_out_channels[0] · 4.
    public var timeEmbedDim: Int { blockOutChannels[0] * 4 }
    /// How many times the up path doubles the resolution.
    public var upsamplerCount: Int { max(blockCount - 1, 0) }
    /// The mid block's spatial transformer depth as diffusers resolves it.
    public var resolvedTransformerLayersPerMidBlock: Int {
        transformerLayersPerMidBlock ?? transformerLayersPerBlock.resolved(count: blockCount).last ?? 1
    }

    // MARK: - Reading

    public init(json c: JSONConfig) throws {
        source = c.source
        otherValues = c.values
        for (key, why) in Self.refusedUnlessNull where c.has(key) {
            throw ConfigError(source: source, key: key, "\(c[key]!): \(why); expected null")
        }
        if c.has("sample_size") {
            if case .array = c["sample_size"] { sampleSize = try c.intArray("sample_size") } else { sampleSize = [try c.int("sample_size")] }
        }
        inChannels = try c.int("in_channels", default: inChannels)
        outChannels = try c.int("out_channels", default: outChannels)
        downBlockTypes = try c.stringArray("down_block_types", default: downBlockTypes)
        upBlockTypes = try c.stringArray("up_block_types", default: upBlockTypes)
        blockOutChannels = try c.intArray("block_out_channels", default: blockOutChannels)
        layersPerBlock = try Self.perBlockInt(c, "layers_per_block", default: 2)
        downsamplePadding = try c.int("downsample_padding", default: downsamplePadding)
        midBlockScaleFactor = try c.double("mid_block_scale_factor", default: midBlockScaleFactor)
        actFn = try c.string("act_fn", default: actFn)
        for key in ["norm_num_groups", "num_attention_heads", "motion_num_attention_heads", "temporal_transformer_layers_per_mid_block"] {
            if let v = c[key], v == .null {
                throw ConfigError(source: source, key: key, "null: diffusers cannot build UNetMotionModel without it; expected an integer")
            }
        }
        normNumGroups = try c.int("norm_num_groups", default: normNumGroups)
        normEps = try c.double("norm_eps", default: normEps)
        crossAttentionDim = try Self.perBlockInt(c, "cross_attention_dim", default: 1280)
        transformerLayersPerBlock = try Self.perBlockInt(c, "transformer_layers_per_block", default: 1)
        temporalTransformerLayersPerBlock = try Self.perBlockInt(c, "temporal_transformer_layers_per_block", default: 1)
        for key in ["transformer_layers_per_mid_block", "temporal_transformer_layers_per_mid_block"] {
            if case .array? = c[key] {
                throw ConfigError(source: source, key: key, "per-layer lists are not supported by Lethe; expected an integer")
            }
        }
        transformerLayersPerMidBlock = try c.optionalInt("transformer_layers_per_mid_block")
        temporalTransformerLayersPerMidBlock = try c.int("temporal_transformer_layers_per_mid_block", default: 1)
        useLinearProjection = try c.bool("use_linear_projection", default: useLinearProjection)
        numAttentionHeads = try Self.perBlockInt(c, "num_attention_heads", default: 8)
        motionMaxSeqLength = try c.int("motion_max_seq_length", default: motionMaxSeqLength)
        motionNumAttentionHeads = try Self.perBlockInt(c, "motion_num_attention_heads", default: 8)
        useMotionMidBlock = try c.bool("use_motion_mid_block", default: useMotionMidBlock)
        midBlockLayers = try c.int("mid_block_layers", default: midBlockLayers)
        try validate()
    }

    public init(contentsOf url: URL) throws { try self.init(json: JSONConfig(contentsOf: url)) }

    /// An integer or a list of integers (one per block); a list containing lists (per-layer
    /// values of an asymmetric UNet) is refused.
    private static func perBlockInt(_ c: JSONConfig, _ key: String, default d: Int) throws -> PerBlock<Int> {
        guard case let .array(items)? = c[key] else { return .shared(try c.int(key, default: d)) }
        if items.contains(where: { if case .array = $0 { return true }; return false }) {
            throw ConfigError(source: c.source, key: key, "per-layer lists (an asymmetric UNet) are not supported by Lethe; use one integer per block")
        }
        return .perBlock(try c.intArray(key))
    }

    // MARK: - Checking

    /// Throws a ConfigError naming the key for anything diffusers would reject or Lethe cannot build.
    public func validate() throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: source, key: key, message) }
        let n = downBlockTypes.count
        guard n > 0 else { throw fail("down_block_types", "expected at least one block") }
        for t in downBlockTypes where !Self.downBlockTypeNames.contains(t) {
            throw fail("down_block_types", "\"\(t)\" is not supported by UNetMotionModel; expected one of \(Self.downBlockTypeNames.sorted())")
        }
        for t in upBlockTypes where !Self.upBlockTypeNames.contains(t) {
            throw fail("up_block_types", "\"\(t)\" is not supported by UNetMotionModel; expected one of \(Self.upBlockTypeNames.sorted())")
        }
        guard upBlockTypes.count == n else { throw fail("up_block_types", "expected \(n) blocks like down_block_types, found \(upBlockTypes.count)") }
        guard blockOutChannels.count == n else {
            throw fail("block_out_channels", "expected \(n) values (one per down block), found \(blockOutChannels.count)")
        }
        func checkCount(_ key: String, _ v: PerBlock<Int>, minimum: Int) throws {
            if case let .perBlock(vs) = v, vs.count != n { throw fail(key, "expected \(n) values (one per down block), found \(vs.count)") }
            for x in v.resolved(count: n) where x < minimum { throw fail(key, "expected integers ≥ \(minimum), found \(x)") }
        }
        try checkCount("layers_per_block", layersPerBlock, minimum: 1)
        try checkCount("cross_attention_dim", crossAttentionDim, minimum: 1)
        try checkCount("transformer_layers_per_block", transformerLayersPerBlock, minimum: 1)
        try checkCount("temporal_transformer_layers_per_block", temporalTransformerLayersPerBlock, minimum: 1)
        try checkCount("num_attention_heads", numAttentionHeads, minimum: 1)
        try checkCount("motion_num_attention_heads", motionNumAttentionHeads, minimum: 1)
        guard inChannels > 0 else { throw fail("in_channels", "expected a positive integer, found \(inChannels)") }
        guard outChannels > 0 else { throw fail("out_channels", "expected a positive integer, found \(outChannels)") }
        guard normNumGroups > 0 else { throw fail("norm_num_groups", "expected a positive integer, found \(normNumGroups)") }
        for c in blockOutChannels where c <= 0 { throw fail("block_out_channels", "expected positive integers, found \(c)") }
        for c in blockOutChannels where c % normNumGroups != 0 {
            throw fail("norm_num_groups", "\(normNumGroups) groups do not divide a block of \(c) channels (block_out_channels)")
        }
        guard normEps > 0 else { throw fail("norm_eps", "expected a positive number, found \(normEps)") }
        for (heads, c) in zip(numAttentionHeads.resolved(count: n), blockOutChannels) where heads > c {
            throw fail("num_attention_heads", "\(heads) heads do not fit a block of \(c) channels")
        }
        for (heads, c) in zip(motionNumAttentionHeads.resolved(count: n), blockOutChannels) {
            guard heads <= c else { throw fail("motion_num_attention_heads", "\(heads) heads do not fit a block of \(c) channels") }
            // The position table interleaves sin and cos, so diffusers can only build even widths.
            let width = heads * (c / heads)
            guard width % 2 == 0 else {
                throw fail("motion_num_attention_heads", "\(heads) heads of \(c / heads) channels make an odd width \(width); the sinusoidal positions need an even one")
            }
        }
        guard motionMaxSeqLength >= 1 else { throw fail("motion_max_seq_length", "expected a positive integer, found \(motionMaxSeqLength)") }
        guard midBlockLayers >= 1 else { throw fail("mid_block_layers", "expected a positive integer, found \(midBlockLayers)") }
        if let l = transformerLayersPerMidBlock, l < 1 { throw fail("transformer_layers_per_mid_block", "expected a positive integer, found \(l)") }
        guard temporalTransformerLayersPerMidBlock >= 1 else {
            throw fail("temporal_transformer_layers_per_mid_block", "expected a positive integer, found \(temporalTransformerLayersPerMidBlock)")
        }
        guard downsamplePadding >= 1 else {
            throw fail("downsample_padding", "\(downsamplePadding) (asymmetric padding) is not supported by Lethe; expected 1")
        }
        guard midBlockScaleFactor != 0 else { throw fail("mid_block_scale_factor", "must not be 0") }
        _ = try Activation(diffusersName: actFn, source: source, key: "act_fn")
    }

    // MARK: - Writing

    /// The config as diffusers' save_pretrained writes it; keys read from a file but not modelled
    /// here are kept.
    public func json() -> JSONConfig {
        var c = JSONConfig(values: otherValues, source: source)
        func ints(_ v: PerBlock<Int>) -> JSONValue {
            switch v { case let .shared(x): return .int(x); case let .perBlock(xs): return .array(xs.map { .int($0) }) }
        }
        // Python writes 1.0 as 1.0, which reads back as an integer: keep the file's spelling.
        func number(_ key: String, _ v: Double) -> JSONValue {
            if case let .int(i)? = otherValues[key], Double(i) == v { return .int(i) }
            return .double(v)
        }
        c["_class_name"] = "UNetMotionModel"
        if otherValues["_diffusers_version"] == nil { c["_diffusers_version"] = .string(SchedulerConfig.referenceDiffusersVersion) }
        c["sample_size"] = sampleSize.map { $0.count == 1 ? .int($0[0]) : .array($0.map { .int($0) }) } ?? .null
        c["in_channels"] = .int(inChannels)
        c["out_channels"] = .int(outChannels)
        c["down_block_types"] = .array(downBlockTypes.map { .string($0) })
        c["up_block_types"] = .array(upBlockTypes.map { .string($0) })
        c["block_out_channels"] = .array(blockOutChannels.map { .int($0) })
        c["layers_per_block"] = ints(layersPerBlock)
        c["downsample_padding"] = .int(downsamplePadding)
        c["mid_block_scale_factor"] = number("mid_block_scale_factor", midBlockScaleFactor)
        c["act_fn"] = .string(actFn)
        c["norm_num_groups"] = .int(normNumGroups)
        c["norm_eps"] = number("norm_eps", normEps)
        c["cross_attention_dim"] = ints(crossAttentionDim)
        c["transformer_layers_per_block"] = ints(transformerLayersPerBlock)
        c["reverse_transformer_layers_per_block"] = .null
        c["temporal_transformer_layers_per_block"] = ints(temporalTransformerLayersPerBlock)
        c["reverse_temporal_transformer_layers_per_block"] = .null
        c["transformer_layers_per_mid_block"] = transformerLayersPerMidBlock.map { .int($0) } ?? .null
        c["temporal_transformer_layers_per_mid_block"] = .int(temporalTransformerLayersPerMidBlock)
        c["use_linear_projection"] = .bool(useLinearProjection)
        c["num_attention_heads"] = ints(numAttentionHeads)
        c["motion_max_seq_length"] = .int(motionMaxSeqLength)
        c["motion_num_attention_heads"] = ints(motionNumAttentionHeads)
        c["use_motion_mid_block"] = .bool(useMotionMidBlock)
        c["mid_block_layers"] = .int(midBlockLayers)
        c["time_cond_proj_dim"] = .null
        c["addition_embed_type"] = .null
        c["encoder_hid_dim_type"] = .null
        // Inert without the features above; written as "off" like diffusers writes them.
        for key in ["reverse_motion_num_attention_heads", "encoder_hid_dim", "addition_time_embed_dim",
                    "projection_class_embeddings_input_dim"] where otherValues[key] == nil {
            c[key] = .null
        }
        return c
    }

    public func write(to url: URL) throws { try json().write(to: url) }
}
