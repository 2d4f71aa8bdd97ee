// A video UNet grown from an image UNet ("inflation", as ModelScope's video UNet was grown from
// Stable Diffusion's): every image layer keeps its weights under its own key, and the layers the
// video UNet adds (transformer_in, temp_convs, temp_attentions) start as the identity, so the
// inflated model first predicts exactly what the image UNet predicts for each frame on its own.
//
// Identity at the start comes from residuals around zeroed output layers: diffusers zeroes the
// last convolution of each TemporalConvLayer; the temporal transformers' proj_out is zeroed here
// as well (AnimateDiff's motion modules start the same way), because diffusers leaves it random.

import Foundation
import LetheCore

public enum InflationError: Error, CustomStringConvertible {
    /// An image-UNet parameter has no place in the video UNet.
    case unmatchedParameter(key: String)
    /// An image-UNet parameter does not fit the video UNet's parameter of the same key.
    case shapeMismatch(key: String, image: [Int], video: [Int])

    public var description: String {
        switch self {
        case let .unmatchedParameter(key):
            return "inflation: the image UNet's parameter \(key) has no counterpart in UNet3DConditionModel"
        case let .shapeMismatch(key, image, video):
            return "inflation: the image UNet's parameter \(key) has shape \(image), the video UNet needs \(video)"
        }
    }
}

extension UNet3DConfig {
    /// The video UNet config whose spatial layers are exactly those of an image UNet with
    /// `image`'s config (block types CrossAttnDownBlock2D → CrossAttnDownBlock3D and so on).
    ///
    /// UNet3DConditionModel hard-codes what UNet2DConditionModel makes configurable, so image
    /// configs that differ from those choices are refused with the key that prevents inflation:
    /// for instance its attention heads must all have one width (UNet3D's attention_head_dim),
    /// and its output activation must be SiLU.
    public init(inflating image: UNet2DConfig) throws {
        try image.validate()
        func refuse(_ key: String, _ why: String) -> ConfigError {
            ConfigError(source: image.source, key: key, "cannot inflate into a UNet3DConditionModel: \(why)")
        }
        let n = image.blockCount
        let channels = image.blockOutChannels
        guard image.midBlockType == "UNetMidBlock2DCrossAttn" else {
            throw refuse("mid_block_type", "the video UNet always has a UNetMidBlock2DCrossAttn-style mid block, found \(image.midBlockType.map { "\"\($0)\"" } ?? "null")")
        }
        let downTypes = try image.downBlockTypes.map { t -> String in
            switch UNet2DConfig.strippingResPrefix(t) {
            case "CrossAttnDownBlock2D": return "CrossAttnDownBlock3D"
            case "DownBlock2D": return "DownBlock3D"
            default: throw refuse("down_block_types", "\"\(t)\" has no video counterpart")
            }
        }
        let upTypes = try image.upBlockTypes.map { t -> String in
            switch UNet2DConfig.strippingResPrefix(t) {
            case "CrossAttnUpBlock2D": return "CrossAttnUpBlock3D"
            case "UpBlock2D": return "UpBlock3D"
            default: throw refuse("up_block_types", "\"\(t)\" has no video counterpart")
            }
        }

        // Spatial attention layout: the image UNet's block i has heads[i] heads of
        // C[i] / heads[i] channels; the video UNet's has C[i] / w heads of w channels.
        let heads = image.attentionHeadDim.resolved(count: n)
        var attended = [n - 1]  // the mid block
        for (i, t) in downTypes.enumerated() where t == "CrossAttnDownBlock3D" { attended.append(i) }
        for (i, t) in upTypes.enumerated() where t == "CrossAttnUpBlock3D" { attended.append(n - 1 - i) }
        let widths = Set(try attended.map { i -> Int in
            guard channels[i] % heads[i] == 0 else {
                throw refuse("attention_head_dim", "\(heads[i]) heads do not split the \(channels[i]) channels of block \(i) evenly")
            }
            return channels[i] / heads[i]
        })
        guard widths.count == 1, let width = widths.first else {
            throw refuse("attention_head_dim", "the attention heads have widths \(widths.sorted()) across blocks; UNet3DConditionModel has one head width for all")
        }

        func single(_ key: String, _ v: PerBlock<Int>) throws -> Int {
            let values = v.resolved(count: n)
            guard let first = values.first, values.allSatisfy({ $0 == first }) else {
                throw refuse(key, "per-block values \(values); UNet3DConditionModel takes one value for all blocks")
            }
            return first
        }
        let layers = try single("layers_per_block", image.layersPerBlock)
        let crossAttentionDim = try single("cross_attention_dim", image.crossAttentionDim)
        guard try single("transformer_layers_per_block", image.transformerLayersPerBlock) == 1 else {
            throw refuse("transformer_layers_per_block", "the video UNet has one transformer layer per attention")
        }
        try image.checkVideoUNetKeepsImageLayers(named: "the video UNet", refuse: refuse)

        self.init()
        source = image.source + " (inflated)"
        sampleSize = image.sampleSize
        inChannels = image.inChannels
        outChannels = image.outChannels
        downBlockTypes = downTypes
        upBlockTypes = upTypes
        blockOutChannels = channels
        layersPerBlock = layers
        downsamplePadding = image.downsamplePadding
        midBlockScaleFactor = image.midBlockScaleFactor
        actFn = image.actFn
        normNumGroups = image.normNumGroups
        normEps = image.normEps
        self.crossAttentionDim = crossAttentionDim
        attentionHeadDim = width
        try validate()
    }
}

extension UNet3DConditionModel {
    /// A video UNet with `image`'s weights in every spatial layer and identity temporal layers:
    /// on a clip it predicts, frame by frame, what `image` predicts for each frame alone.
    /// The temporal layers get fresh weights from `rng` except their zeroed output layers, so
    /// they train away from the identity as soon as gradients reach them.
    public convenience init(inflating image: UNet2DConditionModel, rng: inout RandomGenerator) throws {
        try self.init(config: UNet3DConfig(inflating: image.config), rng: &rng)
        let video = Dictionary(namedParameters().map { ($0.key, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var filled = Set<String>()
        for (key, value) in image.namedParameters() {
            guard let target = video[key] else { throw InflationError.unmatchedParameter(key: key) }
            // Transformer projections are 1×1 convolutions or linears in the image UNet
            // (use_linear_projection) and always linears in the video UNet: same values.
            let isProjection = key.hasSuffix(".proj_in.weight") || key.hasSuffix(".proj_out.weight")
            guard target.shape == value.shape || (isProjection && target.count == value.count) else {
                throw InflationError.shapeMismatch(key: key, image: value.shape, video: target.shape)
            }
            target.assign(value)
            filled.insert(key)
        }
        let unfilled = video.keys.filter { !filled.contains($0) && !Self.isTemporalKey($0) }
        precondition(unfilled.isEmpty, "inflation: spatial parameters \(unfilled.sorted().prefix(5)) got no image weights")

        for layer in modules(of: TemporalConvLayer.self) {
            layer.lastConv.weight.assign(Tensor.zeros(layer.lastConv.weight.shape))
            layer.lastConv.bias.assign(Tensor.zeros(layer.lastConv.bias.shape))
        }
        for transformer in modules(of: TransformerTemporalModel.self) { transformer.zeroOutput() }
    }
}

private extension Module {
    /// Every module of type `T` in this module's tree, in registration order.
    func modules<T: Module>(of type: T.Type) -> [T] {
        var found: [T] = []
        func visit(_ m: Module) {
            if let t = m as? T { found.append(t) }
            for (_, c) in m.children { visit(c) }
        }
        visit(self)
        return found
    }
}

extension UNet2DConfig {
    /// Refuses the image-UNet settings that diffusers' video UNets (UNet3DConditionModel,
    /// UNetMotionModel) cannot express, since their spatial transformers, time embedding, resnets,
    /// conv_in/out and output activation are fixed; `model` names the video UNet in the message.
    func checkVideoUNetKeepsImageLayers(named model: String, refuse: (String, String) -> ConfigError) throws {
        let width0 = blockOutChannels[0]
        guard !onlyCrossAttention.resolved(count: blockCount).contains(true) else {
            throw refuse("only_cross_attention", "\(model)'s spatial transformers always self-attend first")
        }
        guard resnetTimeScaleShift == "default" else {
            throw refuse("resnet_time_scale_shift", "\(model) adds the time embedding (\"default\")")
        }
        guard flipSinToCos && freqShift == 0 else {
            throw refuse(flipSinToCos ? "freq_shift" : "flip_sin_to_cos", "\(model)'s timestep embedding is cos-first with no frequency shift")
        }
        guard timeEmbeddingDim == nil || timeEmbeddingDim == 4 * width0 else {
            throw refuse("time_embedding_dim", "\(model)'s time embedding is 4 × block_out_channels[0] = \(4 * width0) wide")
        }
        guard timeEmbeddingActFn == nil else { throw refuse("time_embedding_act_fn", "\(model) has none; expected null") }
        guard timestepPostAct == nil else { throw refuse("timestep_post_act", "\(model) has none; expected null") }
        guard convInKernel == 3 else { throw refuse("conv_in_kernel", "\(model)'s conv_in is 3×3") }
        guard convOutKernel == 3 else { throw refuse("conv_out_kernel", "\(model)'s conv_out is 3×3") }
        guard !centerInputSample else { throw refuse("center_input_sample", "\(model) does not centre its input") }
        let act = try Activation(diffusersName: actFn, source: source, key: "act_fn")
        guard act == .silu || act == .swish else {
            throw refuse("act_fn", "\(model)'s output activation is SiLU whatever act_fn says, so \"\(actFn)\" would change the output")
        }
    }
}
