// The config.json of diffusers' UNet2DConditionModel, with diffusers' keys and defaults.
//
// Options that change the architecture in ways Lethe does not implement (class or addition
// embeddings, GLIGEN, dual cross-attention, asymmetric transformer depths, other block types)
// are rejected when the config is read, naming the key: a model that silently ignored them would
// load a real checkpoint and produce wrong outputs. Keys that do not affect the supported blocks
// are kept and written back unchanged, so a real checkpoint's config survives a round trip.

import Foundation
import LetheCore

/// A value diffusers accepts either once for all blocks (`8`) or once per down block (`[5, 10, 20]`).
public enum PerBlock<Value: Equatable>: Equatable {
    case shared(Value)
    case perBlock([Value])

    /// One value per block.
    public func resolved(count: Int) -> [Value] {
        switch self {
        case let .shared(v): return Array(repeating: v, count: count)
        case let .perBlock(vs): return vs
        }
    }
}

public struct UNet2DConfig: Equatable {
    public static let downBlockTypeNames: Set<String> = ["DownBlock2D", "CrossAttnDownBlock2D"]
    public static let upBlockTypeNames: Set<String> = ["UpBlock2D", "CrossAttnUpBlock2D"]
    public static let midBlockTypeNames: Set<String> = ["UNetMidBlock2DCrossAttn", "UNetMidBlock2D"]

    /// Height and width the model was trained at: one value (square) or [height, width].
    public var sampleSize: [Int]? = nil
    public var inChannels = 4
    public var outChannels = 4
    public var centerInputSample = false
    public var flipSinToCos = true
    public var freqShift = 0
    public var downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
    public var midBlockType: String? = "UNetMidBlock2DCrossAttn"
    public var upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    public var onlyCrossAttention: PerBlock<Bool> = .shared(false)
    public var blockOutChannels = [320, 640, 1280, 1280]
    public var layersPerBlock: PerBlock<Int> = .shared(2)
    public var downsamplePadding = 1
    public var midBlockScaleFactor: Double = 1
    /// Kept for the config's sake; Lethe's forward pass is diffusers' eval mode (no dropout).
    public var dropout: Double = 0
    public var actFn = "silu"
    public var normNumGroups = 32
    public var normEps: Double = 1e-5
    public var crossAttentionDim: PerBlock<Int> = .shared(1280)
    public var transformerLayersPerBlock: PerBlock<Int> = .shared(1)
    /// diffusers uses this as the number of attention heads (its `num_attention_heads` must be
    /// null; see diffusers issue 2011): a block of C channels gets `attentionHeadDim` heads of
    /// C / attentionHeadDim channels.
    public var attentionHeadDim: PerBlock<Int> = .shared(8)
    public var useLinearProjection = false
    /// Float32 attention already computes in float32, so upcasting changes nothing here.
    public var upcastAttention = false
    public var resnetTimeScaleShift = "default"
    public var timeEmbeddingType = "positional"
    public var timeEmbeddingDim: Int? = nil
    public var timeEmbeddingActFn: String? = nil
    public var timestepPostAct: String? = nil
    public var convInKernel = 3
    public var convOutKernel = 3

    /// Every key of the file it was read from (unknown and unsupported-but-inert ones included).
    public var otherValues: [String: JSONValue] = [:]
    /// Where it was read from, for error messages.
    public var source = "UNet2DConditionModel config"

    public init() {}

    /// The tiny image UNet of the clip world and of the benchmark: 32×32 RGB, three levels.
    public static func clipWorld(crossAttentionDim: Int = 128) -> UNet2DConfig {
        var c = UNet2DConfig()
        c.sampleSize = [32]
        c.inChannels = 3
        c.outChannels = 3
        c.blockOutChannels = [32, 64, 64]
        c.layersPerBlock = .shared(1)
        c.downBlockTypes = ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
        c.upBlockTypes = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
        c.crossAttentionDim = .shared(crossAttentionDim)
        c.attentionHeadDim = .shared(8)
        c.normNumGroups = 32
        return c
    }

    public var blockCount: Int { downBlockTypes.count }
    public var timeEmbedDim: Int { timeEmbeddingDim ?? blockOutChannels[0] * 4 }

    // MARK: - Reading

    public init(json c: JSONConfig) throws {
        source = c.source
        otherValues = c.values
        try rejectUnsupported(c)

        if c.has("sample_size") {
            if case .array = c["sample_size"] { sampleSize = try c.intArray("sample_size") } else { sampleSize = [try c.int("sample_size")] }
        }
        inChannels = try c.int("in_channels", default: inChannels)
        outChannels = try c.int("out_channels", default: outChannels)
        centerInputSample = try c.bool("center_input_sample", default: centerInputSample)
        flipSinToCos = try c.bool("flip_sin_to_cos", default: flipSinToCos)
        freqShift = try c.int("freq_shift", default: freqShift)
        downBlockTypes = try c.stringArray("down_block_types", default: downBlockTypes)
        // An explicit null means "no mid block", unlike a missing key.
        if let v = c["mid_block_type"], v == .null { midBlockType = nil } else { midBlockType = try c.string("mid_block_type", default: midBlockType) }
        upBlockTypes = try c.stringArray("up_block_types", default: upBlockTypes)
        onlyCrossAttention = try Self.perBlockBool(c, "only_cross_attention", default: false)
        blockOutChannels = try c.intArray("block_out_channels", default: blockOutChannels)
        layersPerBlock = try Self.perBlockInt(c, "layers_per_block", default: 2)
        downsamplePadding = try c.int("downsample_padding", default: downsamplePadding)
        midBlockScaleFactor = try c.double("mid_block_scale_factor", default: midBlockScaleFactor)
        dropout = try c.double("dropout", default: dropout)
        actFn = try c.string("act_fn", default: actFn)
        if let v = c["norm_num_groups"], v == .null {
            throw ConfigError(source: source, key: "norm_num_groups", "null (no normalisation) is only used by block types Lethe does not implement; expected an integer")
        }
        normNumGroups = try c.int("norm_num_groups", default: normNumGroups)
        normEps = try c.double("norm_eps", default: normEps)
        crossAttentionDim = try Self.perBlockInt(c, "cross_attention_dim", default: 1280)
        if case .array(let items)? = c["transformer_layers_per_block"], items.contains(where: { if case .array = $0 { return true }; return false }) {
            throw ConfigError(source: source, key: "transformer_layers_per_block",
                              "per-layer lists (an asymmetric UNet with reverse_transformer_layers_per_block) are not supported by Lethe; use one integer per block")
        }
        transformerLayersPerBlock = try Self.perBlockInt(c, "transformer_layers_per_block", default: 1)
        attentionHeadDim = try Self.perBlockInt(c, "attention_head_dim", default: 8)
        useLinearProjection = try c.bool("use_linear_projection", default: useLinearProjection)
        upcastAttention = try c.bool("upcast_attention", default: upcastAttention)
        resnetTimeScaleShift = try c.string("resnet_time_scale_shift", default: resnetTimeScaleShift)
        timeEmbeddingType = try c.string("time_embedding_type", default: timeEmbeddingType)
        timeEmbeddingDim = try c.optionalInt("time_embedding_dim")
        timeEmbeddingActFn = try c.optionalString("time_embedding_act_fn")
        timestepPostAct = try c.optionalString("timestep_post_act")
        convInKernel = try c.int("conv_in_kernel", default: convInKernel)
        convOutKernel = try c.int("conv_out_kernel", default: convOutKernel)
        try validate()
    }

    public init(contentsOf url: URL) throws { try self.init(json: JSONConfig(contentsOf: url)) }

    /// Keys whose non-default values add layers or inputs Lethe does not implement.
    private func rejectUnsupported(_ c: JSONConfig) throws {
        let unsupported = "is not supported by Lethe's UNet2DConditionModel"
        for key in ["class_embed_type", "addition_embed_type", "time_cond_proj_dim", "encoder_hid_dim",
                    "encoder_hid_dim_type", "num_class_embeds", "reverse_transformer_layers_per_block"] where c.has(key) {
            throw ConfigError(source: c.source, key: key, "\(c[key]!) \(unsupported); expected null")
        }
        if c.has("num_attention_heads") {
            throw ConfigError(source: c.source, key: "num_attention_heads",
                              "must be null: diffusers' UNet2DConditionModel takes the head count from attention_head_dim")
        }
        if try c.bool("dual_cross_attention", default: false) {
            throw ConfigError(source: c.source, key: "dual_cross_attention", "true \(unsupported); expected false")
        }
        let attentionType = try c.string("attention_type", default: "default")
        if attentionType != "default" {
            throw ConfigError(source: c.source, key: "attention_type", "\"\(attentionType)\" (GLIGEN) \(unsupported); expected \"default\"")
        }
    }

    private static func perBlockInt(_ c: JSONConfig, _ key: String, default d: Int) throws -> PerBlock<Int> {
        if case .array? = c[key] { return .perBlock(try c.intArray(key)) }
        return .shared(try c.int(key, default: d))
    }

    private static func perBlockBool(_ c: JSONConfig, _ key: String, default d: Bool) throws -> PerBlock<Bool> {
        guard case let .array(items)? = c[key] else { return .shared(try c.bool(key, default: d)) }
        return .perBlock(try items.map { v -> Bool in
            guard case let .bool(b) = v else {
                throw ConfigError(source: c.source, key: key, "expected true, false or a list of them, found a list containing \(v)")
            }
            return b
        })
    }

    // MARK: - Checking

    /// Throws a ConfigError naming the key for anything diffusers would reject or Lethe cannot build.
    public func validate() throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: source, key: key, message) }
        let n = downBlockTypes.count
        guard n > 0 else { throw fail("down_block_types", "expected at least one block") }
        for t in downBlockTypes where !Self.downBlockTypeNames.contains(Self.strippingResPrefix(t)) {
            throw fail("down_block_types", "\"\(t)\" is not supported by Lethe; expected one of \(Self.downBlockTypeNames.sorted())")
        }
        for t in upBlockTypes where !Self.upBlockTypeNames.contains(Self.strippingResPrefix(t)) {
            throw fail("up_block_types", "\"\(t)\" is not supported by Lethe; expected one of \(Self.upBlockTypeNames.sorted())")
        }
        if let m = midBlockType, !Self.midBlockTypeNames.contains(m) {
            throw fail("mid_block_type", "\"\(m)\" is not supported by Lethe; expected one of \(Self.midBlockTypeNames.sorted()) or null")
        }
        guard upBlockTypes.count == n else { throw fail("up_block_types", "expected \(n) blocks like down_block_types, found \(upBlockTypes.count)") }
        guard blockOutChannels.count == n else { throw fail("block_out_channels", "expected \(n) values (one per down block), found \(blockOutChannels.count)") }
        func checkCount<V>(_ key: String, _ v: PerBlock<V>) throws {
            if case let .perBlock(vs) = v, vs.count != n { throw fail(key, "expected \(n) values (one per down block), found \(vs.count)") }
        }
        try checkCount("only_cross_attention", onlyCrossAttention)
        try checkCount("layers_per_block", layersPerBlock)
        try checkCount("cross_attention_dim", crossAttentionDim)
        try checkCount("transformer_layers_per_block", transformerLayersPerBlock)
        try checkCount("attention_head_dim", attentionHeadDim)
        guard inChannels > 0 else { throw fail("in_channels", "expected a positive integer, found \(inChannels)") }
        guard outChannels > 0 else { throw fail("out_channels", "expected a positive integer, found \(outChannels)") }
        guard normNumGroups > 0 else { throw fail("norm_num_groups", "expected a positive integer, found \(normNumGroups)") }
        for c in blockOutChannels where c <= 0 {
            throw fail("block_out_channels", "expected positive integers, found \(c)")
        }
        for c in blockOutChannels where c % normNumGroups != 0 {
            throw fail("norm_num_groups", "\(normNumGroups) groups do not divide a block of \(c) channels (block_out_channels)")
        }
        guard normEps > 0 else { throw fail("norm_eps", "expected a positive number, found \(normEps)") }
        for l in layersPerBlock.resolved(count: n) where l < 1 { throw fail("layers_per_block", "expected positive integers, found \(l)") }
        for l in transformerLayersPerBlock.resolved(count: n) where l < 1 { throw fail("transformer_layers_per_block", "expected positive integers, found \(l)") }
        for d in crossAttentionDim.resolved(count: n) where d < 1 { throw fail("cross_attention_dim", "expected positive integers, found \(d)") }
        for (heads, channels) in zip(attentionHeadDim.resolved(count: n), blockOutChannels) where heads < 1 || heads > channels {
            throw fail("attention_head_dim", "\(heads) heads (diffusers' meaning of this key) do not fit a block of \(channels) channels")
        }
        guard downsamplePadding >= 1 else {
            throw fail("downsample_padding", "\(downsamplePadding) (asymmetric padding) is not supported by Lethe; expected 1")
        }
        guard midBlockScaleFactor != 0 else { throw fail("mid_block_scale_factor", "must not be 0") }
        guard resnetTimeScaleShift == "default" || resnetTimeScaleShift == "scale_shift" else {
            throw fail("resnet_time_scale_shift", "\"\(resnetTimeScaleShift)\" is not supported by Lethe; expected \"default\" or \"scale_shift\"")
        }
        guard timeEmbeddingType == "positional" else {
            throw fail("time_embedding_type", "\"\(timeEmbeddingType)\" is not supported by Lethe; expected \"positional\"")
        }
        if let d = timeEmbeddingDim, d < 1 { throw fail("time_embedding_dim", "expected a positive integer, found \(d)") }
        for (key, k) in [("conv_in_kernel", convInKernel), ("conv_out_kernel", convOutKernel)] where k < 1 || k % 2 == 0 {
            throw fail(key, "expected a positive odd kernel size, found \(k)")
        }
        _ = try Activation(diffusersName: actFn, source: source, key: "act_fn")
        if let a = timeEmbeddingActFn { _ = try Activation(diffusersName: a, source: source, key: "time_embedding_act_fn") }
        if let a = timestepPostAct { _ = try Activation(diffusersName: a, source: source, key: "timestep_post_act") }
    }

    /// diffusers accepts "UNetResDownBlock2D" for "DownBlock2D" and so on.
    static func strippingResPrefix(_ name: String) -> String {
        name.hasPrefix("UNetRes") ? String(name.dropFirst(7)) : name
    }

    // MARK: - Writing

    /// The config as diffusers' save_pretrained writes it; keys read from a file but not modelled
    /// here are kept.
    public func json() -> JSONConfig {
        var c = JSONConfig(values: otherValues, source: source)
        func ints(_ v: PerBlock<Int>) -> JSONValue {
            switch v { case let .shared(x): return .int(x); case let .perBlock(xs): return .array(xs.map { .int($0) }) }
        }
        func bools(_ v: PerBlock<Bool>) -> JSONValue {
            switch v { case let .shared(x): return .bool(x); case let .perBlock(xs): return .array(xs.map { .bool($0) }) }
        }
        func optional<T>(_ v: T?, _ f: (T) -> JSONValue) -> JSONValue { v.map(f) ?? .null }
        // Python writes 0.0 and 1.0, which read back as integers: keep the file's spelling.
        func number(_ key: String, _ v: Double) -> JSONValue {
            if case let .int(i)? = otherValues[key], Double(i) == v { return .int(i) }
            return .double(v)
        }
        c["_class_name"] = "UNet2DConditionModel"
        if otherValues["_diffusers_version"] == nil { c["_diffusers_version"] = "0.42.1" }
        c["sample_size"] = optional(sampleSize) { $0.count == 1 ? .int($0[0]) : .array($0.map { .int($0) }) }
        c["in_channels"] = .int(inChannels)
        c["out_channels"] = .int(outChannels)
        c["center_input_sample"] = .bool(centerInputSample)
        c["flip_sin_to_cos"] = .bool(flipSinToCos)
        c["freq_shift"] = .int(freqShift)
        c["down_block_types"] = .array(downBlockTypes.map { .string($0) })
        c["mid_block_type"] = optional(midBlockType) { .string($0) }
        c["up_block_types"] = .array(upBlockTypes.map { .string($0) })
        c["only_cross_attention"] = bools(onlyCrossAttention)
        c["block_out_channels"] = .array(blockOutChannels.map { .int($0) })
        c["layers_per_block"] = ints(layersPerBlock)
        c["downsample_padding"] = .int(downsamplePadding)
        c["mid_block_scale_factor"] = number("mid_block_scale_factor", midBlockScaleFactor)
        c["dropout"] = number("dropout", dropout)
        c["act_fn"] = .string(actFn)
        c["norm_num_groups"] = .int(normNumGroups)
        c["norm_eps"] = number("norm_eps", normEps)
        c["cross_attention_dim"] = ints(crossAttentionDim)
        c["transformer_layers_per_block"] = ints(transformerLayersPerBlock)
        c["attention_head_dim"] = ints(attentionHeadDim)
        c["num_attention_heads"] = .null
        c["use_linear_projection"] = .bool(useLinearProjection)
        c["upcast_attention"] = .bool(upcastAttention)
        c["resnet_time_scale_shift"] = .string(resnetTimeScaleShift)
        c["time_embedding_type"] = .string(timeEmbeddingType)
        c["time_embedding_dim"] = optional(timeEmbeddingDim) { .int($0) }
        c["time_embedding_act_fn"] = optional(timeEmbeddingActFn) { .string($0) }
        c["timestep_post_act"] = optional(timestepPostAct) { .string($0) }
        c["conv_in_kernel"] = .int(convInKernel)
        c["conv_out_kernel"] = .int(convOutKernel)
        // The features Lethe rejects, written as "off" so diffusers builds the same model.
        for key in ["class_embed_type", "addition_embed_type", "addition_time_embed_dim", "time_cond_proj_dim",
                    "encoder_hid_dim", "encoder_hid_dim_type", "num_class_embeds", "reverse_transformer_layers_per_block",
                    "projection_class_embeddings_input_dim", "cross_attention_norm", "mid_block_only_cross_attention"]
        where otherValues[key] == nil {
            c[key] = .null
        }
        if otherValues["dual_cross_attention"] == nil { c["dual_cross_attention"] = false }
        if otherValues["attention_type"] == nil { c["attention_type"] = "default" }
        if otherValues["class_embeddings_concat"] == nil { c["class_embeddings_concat"] = false }
        if otherValues["resnet_skip_time_act"] == nil { c["resnet_skip_time_act"] = false }
        if otherValues["resnet_out_scale_factor"] == nil { c["resnet_out_scale_factor"] = 1.0 }
        if otherValues["addition_embed_type_num_heads"] == nil { c["addition_embed_type_num_heads"] = 64 }
        return c
    }

    public func write(to url: URL) throws { try json().write(to: url) }
}
