// An AnimateDiff video UNet grown from an image UNet (diffusers' UNetMotionModel.from_unet2d
// without a motion adapter): every image layer keeps its weights under its own key, and fresh
// motion modules are added after each resnet / spatial transformer with their proj_out zeroed
// (AnimateDiff's zero initialisation; diffusers leaves it random), so each motion module is a
// residual identity and the video model first predicts exactly what the image UNet predicts for
// each frame on its own.
//
// diffusers' from_unet2d silently drops the image config's keys UNetMotionModel has no place for
// (flip_sin_to_cos, resnet_time_scale_shift, conv kernels, ...), which changes the model when
// they are not the values UNetMotionModel hard-codes. Here such configs are refused, naming the
// key, like UNet3D inflation.

import Foundation
import LetheCore

extension UNetMotionConfig {
    /// The motion UNet config whose image layers are exactly those of an image UNet with `image`'s
    /// config (CrossAttnDownBlock2D → CrossAttnDownBlockMotion and so on; num_attention_heads is
    /// the image config's attention_head_dim, which diffusers uses as the head count), with
    /// motion modules of the given layout (diffusers' defaults: 8 heads, 32 frames at most, a
    /// motion mid block, one transformer layer each).
    public init(addingMotionModulesTo image: UNet2DConfig, motionNumAttentionHeads: PerBlock<Int> = .shared(8),
                motionMaxSeqLength: Int = 32, useMotionMidBlock: Bool = true,
                temporalTransformerLayersPerBlock: PerBlock<Int> = .shared(1)) throws {
        try image.validate()
        func refuse(_ key: String, _ why: String) -> ConfigError {
            ConfigError(source: image.source, key: key, "cannot add motion modules (UNetMotionModel): \(why)")
        }
        let channels = image.blockOutChannels
        guard image.midBlockType == "UNetMidBlock2DCrossAttn" else {
            throw refuse("mid_block_type", "UNetMotionModel's mid block is a UNetMidBlock2DCrossAttn (with or without motion modules), found \(image.midBlockType.map { "\"\($0)\"" } ?? "null")")
        }
        try image.checkVideoUNetKeepsImageLayers(named: "UNetMotionModel", refuse: refuse)

        self.init()
        source = image.source + " (with motion modules)"
        sampleSize = image.sampleSize
        inChannels = image.inChannels
        outChannels = image.outChannels
        downBlockTypes = image.downBlockTypes.map { $0.contains("CrossAttn") ? "CrossAttnDownBlockMotion" : "DownBlockMotion" }
        upBlockTypes = image.upBlockTypes.map { $0.contains("CrossAttn") ? "CrossAttnUpBlockMotion" : "UpBlockMotion" }
        blockOutChannels = channels
        layersPerBlock = image.layersPerBlock
        downsamplePadding = image.downsamplePadding
        midBlockScaleFactor = image.midBlockScaleFactor
        actFn = image.actFn
        normNumGroups = image.normNumGroups
        normEps = image.normEps
        crossAttentionDim = image.crossAttentionDim
        transformerLayersPerBlock = image.transformerLayersPerBlock
        useLinearProjection = image.useLinearProjection
        numAttentionHeads = image.attentionHeadDim
        self.motionNumAttentionHeads = motionNumAttentionHeads
        self.motionMaxSeqLength = motionMaxSeqLength
        self.useMotionMidBlock = useMotionMidBlock
        self.temporalTransformerLayersPerBlock = temporalTransformerLayersPerBlock
        try validate()
    }
}

extension UNetMotionModel {
    /// A video UNet with `image`'s weights in every image layer and identity motion modules: on
    /// a clip it predicts, frame by frame, what `image` predicts for each frame alone. The motion
    /// modules get fresh weights from `rng` except their zeroed proj_out, so they train away from
    /// the identity as soon as gradients reach them (`setTrainable(only: .temporal)`).
    public convenience init(addingMotionModulesTo image: UNet2DConditionModel, motionNumAttentionHeads: PerBlock<Int> = .shared(8),
                            motionMaxSeqLength: Int = 32, useMotionMidBlock: Bool = true,
                            temporalTransformerLayersPerBlock: PerBlock<Int> = .shared(1), rng: inout RandomGenerator) throws {
        let config = try UNetMotionConfig(addingMotionModulesTo: image.config, motionNumAttentionHeads: motionNumAttentionHeads,
                                          motionMaxSeqLength: motionMaxSeqLength, useMotionMidBlock: useMotionMidBlock,
                                          temporalTransformerLayersPerBlock: temporalTransformerLayersPerBlock)
        try self.init(config: config, rng: &rng)
        let video = Dictionary(namedParameters().map { ($0.key, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var filled = Set<String>()
        for (key, value) in image.namedParameters() {
            guard let target = video[key] else { throw MotionInflationError.unmatchedParameter(key: key) }
            guard target.shape == value.shape else {
                throw MotionInflationError.shapeMismatch(key: key, image: value.shape, video: target.shape)
            }
            target.assign(value)
            filled.insert(key)
        }
        let unfilled = video.keys.filter { !filled.contains($0) && !Self.isTemporalKey($0) }
        precondition(unfilled.isEmpty, "motion inflation: image parameters \(unfilled.sorted().prefix(5)) got no image weights")
        for module in motionModules { module.zeroOutput() }
    }
}

public enum MotionInflationError: Error, CustomStringConvertible {
    /// An image-UNet parameter has no place in the motion UNet.
    case unmatchedParameter(key: String)
    /// An image-UNet parameter does not fit the motion UNet's parameter of the same key.
    case shapeMismatch(key: String, image: [Int], video: [Int])

    public var description: String {
        switch self {
        case let .unmatchedParameter(key):
            return "adding motion modules: the image UNet's parameter \(key) has no counterpart in UNetMotionModel"
        case let .shapeMismatch(key, image, video):
            return "adding motion modules: the image UNet's parameter \(key) has shape \(image), UNetMotionModel needs \(video)"
        }
    }
}
