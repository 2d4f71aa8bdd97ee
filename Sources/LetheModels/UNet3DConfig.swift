// The config.json of diffusers' UNet3DConditionModel (the ModelScope / ZeroScope video UNet),
// with diffusers' keys and defaults.
//
// diffusers' UNet3DConditionModel takes far fewer options than the image UNet and hard-codes the
// rest (3×3 conv_in/conv_out, sin-first-cos timestep embedding without shift, a SiLU before
// conv_out, linear projections in every transformer, one transformer layer per attention, the
// cross-attention mid block). Values that diffusers itself cannot build (a list for
// attention_head_dim, null norm_num_groups, num_attention_heads) or that add layers Lethe does
// not implement (time_cond_proj_dim) are rejected when the config is read, naming the key.
// Other keys are kept and written back unchanged.

import Foundation
import LetheCore

public struct UNet3DConfig: Equatable {
    public static let downBlockTypeNames: Set<String> = ["DownBlock3D", "CrossAttnDownBlock3D"]
    public static let upBlockTypeNames: Set<String> = ["UpBlock3D", "CrossAttnUpBlock3D"]

    /// Height and width the model was trained at: one value (square) or [height, width].
    public var sampleSize: [Int]? = nil
    public var inChannels = 4
    public var outChannels = 4
    public var downBlockTypes = ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"]
    public var upBlockTypes = ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"]
    public var blockOutChannels = [320, 640, 1280, 1280]
    public var layersPerBlock = 2
    public var downsamplePadding = 1
    public var midBlockScaleFactor: Double = 1
    public var actFn = "silu"
    public var normNumGroups = 32
    public var normEps: Double = 1e-5
    public var crossAttentionDim = 1024
    /// Unlike in UNet2DConditionModel, the width of each attention head: a block of C channels
    /// gets C / attentionHeadDim heads (spatial and temporal alike), while transformer_in has 8
    /// heads of this width. One value for the whole model.
    public var attentionHeadDim = 64

    /// Every key of the file it was read from (unknown ones included).
    public var otherValues: [String: JSONValue] = [:]
    /// Where it was read from, for error messages.
    public var source = "UNet3DConditionModel config"

    public init() {}

    /// The keys the fields above stand for.
    public static let modelledKeys: Set<String> = [
        "sample_size", "in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
        "layers_per_block", "downsample_padding", "mid_block_scale_factor", "act_fn", "norm_num_groups", "norm_eps",
        "cross_attention_dim", "attention_head_dim", "num_attention_heads", "time_cond_proj_dim",
    ]

    /// Keys kept from the file that the fields do not model (metadata such as "_class_name" aside).
    public var unmodelledValues: [String: JSONValue] {
        otherValues.filter { !Self.modelledKeys.contains($0.key) && !$0.key.hasPrefix("_") }
    }

    /// Equal when they build the same model and keep the same unmodelled keys, wherever they
    /// were read from and however the file spelled the values (1 or 1.0, 2 or [2, 2]).
    public static func == (a: UNet3DConfig, b: UNet3DConfig) -> Bool {
        a.sampleSize == b.sampleSize && a.inChannels == b.inChannels && a.outChannels == b.outChannels
            && a.downBlockTypes == b.downBlockTypes && a.upBlockTypes == b.upBlockTypes
            && a.blockOutChannels == b.blockOutChannels && a.layersPerBlock == b.layersPerBlock
            && a.downsamplePadding == b.downsamplePadding && a.midBlockScaleFactor == b.midBlockScaleFactor
            && a.actFn == b.actFn && a.normNumGroups == b.normNumGroups && a.normEps == b.normEps
            && a.crossAttentionDim == b.crossAttentionDim && a.attentionHeadDim == b.attentionHeadDim
            && a.unmodelledValues == b.unmodelledValues
    }

    public var blockCount: Int { downBlockTypes.count }
    /// diffusers: block_out_channels[0] · 4.
    public var timeEmbedDim: Int { blockOutChannels[0] * 4 }
    /// How many times the up path doubles the resolution.
    public var upsamplerCount: Int { max(blockCount - 1, 0) }

    // MARK: - Reading

    public init(json c: JSONConfig) throws {
        source = c.source
        otherValues = c.values
        for key in ["num_attention_heads", "time_cond_proj_dim"] where c.has(key) {
            let why = key == "num_attention_heads"
                ? "diffusers' UNet3DConditionModel refuses it (the head layout comes from attention_head_dim)"
                : "a timestep condition projection is not supported by Lethe"
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
        layersPerBlock = try Self.singleInt(c, "layers_per_block", default: layersPerBlock)
        downsamplePadding = try c.int("downsample_padding", default: downsamplePadding)
        midBlockScaleFactor = try c.double("mid_block_scale_factor", default: midBlockScaleFactor)
        actFn = try c.string("act_fn", default: actFn)
        if let v = c["norm_num_groups"], v == .null {
            throw ConfigError(source: source, key: "norm_num_groups",
                              "null: diffusers cannot build UNet3DConditionModel's resnets without groups; expected an integer")
        }
        normNumGroups = try c.int("norm_num_groups", default: normNumGroups)
        normEps = try c.double("norm_eps", default: normEps)
        crossAttentionDim = try Self.singleInt(c, "cross_attention_dim", default: crossAttentionDim)
        attentionHeadDim = try Self.singleInt(c, "attention_head_dim", default: attentionHeadDim)
        try validate()
    }

    public init(contentsOf url: URL) throws { try self.init(json: JSONConfig(contentsOf: url)) }

    /// An integer, or a list whose values are all equal (diffusers' UNet3D passes these keys on
    /// whole, so a list of different values cannot build).
    private static func singleInt(_ c: JSONConfig, _ key: String, default d: Int) throws -> Int {
        guard case .array? = c[key] else { return try c.int(key, default: d) }
        let values = try c.intArray(key)
        guard let first = values.first, values.allSatisfy({ $0 == first }) else {
            throw ConfigError(source: c.source, key: key,
                              "\(values): UNet3DConditionModel takes one value for all blocks; expected an integer")
        }
        return first
    }

    // MARK: - Checking

    /// Throws a ConfigError naming the key for anything diffusers would reject or Lethe cannot build.
    public func validate() throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: source, key: key, message) }
        let n = downBlockTypes.count
        guard n > 0 else { throw fail("down_block_types", "expected at least one block") }
        for t in downBlockTypes where !Self.downBlockTypeNames.contains(t) {
            throw fail("down_block_types", "\"\(t)\" is not supported by UNet3DConditionModel; expected one of \(Self.downBlockTypeNames.sorted())")
        }
        for t in upBlockTypes where !Self.upBlockTypeNames.contains(t) {
            throw fail("up_block_types", "\"\(t)\" is not supported by UNet3DConditionModel; expected one of \(Self.upBlockTypeNames.sorted())")
        }
        guard upBlockTypes.count == n else { throw fail("up_block_types", "expected \(n) blocks like down_block_types, found \(upBlockTypes.count)") }
        guard blockOutChannels.count == n else {
            throw fail("block_out_channels", "expected \(n) values (one per down block), found \(blockOutChannels.count)")
        }
        guard inChannels > 0 else { throw fail("in_channels", "expected a positive integer, found \(inChannels)") }
        guard outChannels > 0 else { throw fail("out_channels", "expected a positive integer, found \(outChannels)") }
        guard layersPerBlock >= 1 else { throw fail("layers_per_block", "expected a positive integer, found \(layersPerBlock)") }
        guard normNumGroups > 0 else { throw fail("norm_num_groups", "expected a positive integer, found \(normNumGroups)") }
        for c in blockOutChannels where c <= 0 { throw fail("block_out_channels", "expected positive integers, found \(c)") }
        for c in blockOutChannels where c % normNumGroups != 0 {
            throw fail("norm_num_groups", "\(normNumGroups) groups do not divide a block of \(c) channels (block_out_channels)")
        }
        guard normEps > 0 else { throw fail("norm_eps", "expected a positive number, found \(normEps)") }
        guard crossAttentionDim >= 1 else { throw fail("cross_attention_dim", "expected a positive integer, found \(crossAttentionDim)") }
        guard attentionHeadDim >= 1 else { throw fail("attention_head_dim", "expected a positive integer, found \(attentionHeadDim)") }
        // Every block's transformers (and the mid block's, at the last width) need at least one head.
        for c in blockOutChannels where c < attentionHeadDim {
            throw fail("attention_head_dim", "heads of \(attentionHeadDim) channels do not fit a block of \(c) channels")
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
        c["_class_name"] = "UNet3DConditionModel"
        if otherValues["_diffusers_version"] == nil { c["_diffusers_version"] = .string(SchedulerConfig.referenceDiffusersVersion) }
        c["sample_size"] = sampleSize.map { $0.count == 1 ? .int($0[0]) : .array($0.map { .int($0) }) } ?? .null
        c["in_channels"] = .int(inChannels)
        c["out_channels"] = .int(outChannels)
        c["down_block_types"] = .array(downBlockTypes.map { .string($0) })
        c["up_block_types"] = .array(upBlockTypes.map { .string($0) })
        c["block_out_channels"] = .array(blockOutChannels.map { .int($0) })
        c["layers_per_block"] = .int(layersPerBlock)
        c["downsample_padding"] = .int(downsamplePadding)
        c["mid_block_scale_factor"] = .double(midBlockScaleFactor)
        c["act_fn"] = .string(actFn)
        c["norm_num_groups"] = .int(normNumGroups)
        c["norm_eps"] = .double(normEps)
        c["cross_attention_dim"] = .int(crossAttentionDim)
        c["attention_head_dim"] = .int(attentionHeadDim)
        c["num_attention_heads"] = .null
        c["time_cond_proj_dim"] = .null
        return c
    }

    public func write(to url: URL) throws { try json().write(to: url) }
}
