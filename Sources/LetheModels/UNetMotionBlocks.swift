// The blocks of diffusers' UNetMotionModel (models/unets/unet_motion_model.py): the image UNet's
// blocks unchanged (resnets, spatial transformers, resamplers under the same keys), with a motion
// module (AnimateDiffTransformer3D) after each resnet, or after each resnet + spatial transformer
// pair, under "motion_modules.i".
//
// Activations stay [N·F, C, H, W] throughout (frames folded into the batch axis): every image
// layer runs on N·F images with one time embedding per clip (diffusers repeats it F times; the
// resnets here apply row n to all of clip n's frames instead) and one text context per clip or
// per frame; only the motion modules look across frames.

import Foundation
import LetheCore

/// How the motion modules of one block are built.
public struct MotionModuleSettings {
    /// motion_num_attention_heads for this block: C channels make heads of C / heads.
    public var numAttentionHeads: Int
    /// temporal_transformer_layers_per_block for this block.
    public var transformerLayers: Int
    /// diffusers gives the motion modules the resnets' group count (norm_num_groups).
    public var normNumGroups: Int
    /// motion_max_seq_length.
    public var maxSequenceLength: Int

    public init(numAttentionHeads: Int, transformerLayers: Int, normNumGroups: Int, maxSequenceLength: Int) {
        self.numAttentionHeads = numAttentionHeads
        self.transformerLayers = transformerLayers
        self.normNumGroups = normNumGroups
        self.maxSequenceLength = maxSequenceLength
    }

    func module(_ channels: Int, rng: inout RandomGenerator) -> AnimateDiffTransformer3D {
        AnimateDiffTransformer3D(numAttentionHeads: numAttentionHeads, attentionHeadDim: channels / numAttentionHeads,
                                 inChannels: channels, numLayers: transformerLayers, normNumGroups: normNumGroups,
                                 maxSequenceLength: maxSequenceLength, rng: &rng)
    }
}

/// A block of the contracting path (see FrameFoldedDownBlock) with its motion modules.
public protocol UNetMotionDownBlock: FrameFoldedDownBlock {
    var motionModules: [AnimateDiffTransformer3D] { get }
}

public protocol UNetMotionMidBlock: Module {
    var motionModules: [AnimateDiffTransformer3D] { get }
    func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> Tensor
}

/// A block of the expanding path (see FrameFoldedUpBlock) with its motion modules.
public protocol UNetMotionUpBlock: FrameFoldedUpBlock {
    var motionModules: [AnimateDiffTransformer3D] { get }
}

/// diffusers' DownBlockMotion: (resnet, motion module) pairs, then an optional stride-2 conv.
public final class DownBlockMotion: Module, UNetMotionDownBlock {
    public let resnets: [ResnetBlock2D]
    public let motionModules: [AnimateDiffTransformer3D]
    public let downsamplers: [Downsample2D]?

    public init(inChannels: Int, outChannels: Int, numLayers: Int, addDownsample: Bool, downsamplePadding: Int = 1,
                settings: UNetBlockSettings, motion: MotionModuleSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], motionModules: [AnimateDiffTransformer3D] = []
        for i in 0..<numLayers {
            resnets.append(settings.resnet(i == 0 ? inChannels : outChannels, outChannels, rng: &rng))
            motionModules.append(motion.module(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.motionModules = motionModules
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels, padding: downsamplePadding, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        children("motion_modules", motionModules)
        if let downsamplers { children("downsamplers", downsamplers) }
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for (resnet, motion) in zip(resnets, motionModules) {
            h = motion(resnet(h, temb: temb), frames: frames)
            states.append(h)
        }
        if let downsamplers {
            for d in downsamplers { h = d(h) }
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers' CrossAttnDownBlockMotion: (resnet, spatial transformer, motion module) triples,
/// then an optional stride-2 conv.
public final class CrossAttnDownBlockMotion: Module, UNetMotionDownBlock {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]
    public let motionModules: [AnimateDiffTransformer3D]
    public let downsamplers: [Downsample2D]?

    public init(inChannels: Int, outChannels: Int, numLayers: Int, addDownsample: Bool, downsamplePadding: Int = 1,
                settings: UNetBlockSettings, motion: MotionModuleSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], attentions: [Transformer2DModel] = [], motionModules: [AnimateDiffTransformer3D] = []
        for i in 0..<numLayers {
            resnets.append(settings.resnet(i == 0 ? inChannels : outChannels, outChannels, rng: &rng))
            attentions.append(settings.transformer(outChannels, onlyCrossAttention: false, rng: &rng))
            motionModules.append(motion.module(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.attentions = attentions
        self.motionModules = motionModules
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels, padding: downsamplePadding, rng: &rng)] : nil
        super.init()
        children("attentions", attentions)
        children("resnets", resnets)
        children("motion_modules", motionModules)
        if let downsamplers { children("downsamplers", downsamplers) }
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for i in resnets.indices {
            h = motionModules[i](attentions[i](resnets[i](h, temb: temb), context: context), frames: frames)
            states.append(h)
        }
        if let downsamplers {
            for d in downsamplers { h = d(h) }
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers' UNetMidBlockCrossAttnMotion: a resnet, then (spatial transformer, motion module,
/// resnet) triples — the motion module sits between the transformer and the next resnet.
public final class UNetMidBlockCrossAttnMotion: Module, UNetMotionMidBlock {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]
    public let motionModules: [AnimateDiffTransformer3D]

    public init(inChannels: Int, numLayers: Int = 1, outputScaleFactor: Float = 1, settings: UNetBlockSettings,
                motion: MotionModuleSettings, rng: inout RandomGenerator) {
        var resnets = [settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng)]
        var attentions: [Transformer2DModel] = [], motionModules: [AnimateDiffTransformer3D] = []
        for _ in 0..<numLayers {
            attentions.append(settings.transformer(inChannels, onlyCrossAttention: false, rng: &rng))
            resnets.append(settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng))
            motionModules.append(motion.module(inChannels, rng: &rng))
        }
        self.resnets = resnets
        self.attentions = attentions
        self.motionModules = motionModules
        super.init()
        children("attentions", attentions)
        children("resnets", resnets)
        children("motion_modules", motionModules)
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> Tensor {
        var h = resnets[0](x, temb: temb)
        for i in attentions.indices {
            h = resnets[i + 1](motionModules[i](attentions[i](h, context: context), frames: frames), temb: temb)
        }
        return h
    }
}

/// With use_motion_mid_block false, UNetMotionModel keeps the image UNet's mid block: it sees
/// each frame on its own.
extension UNetMidBlock2DCrossAttn: UNetMotionMidBlock {
    public var motionModules: [AnimateDiffTransformer3D] { [] }
    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> Tensor {
        self(x, temb: temb, context: context)
    }
}

/// Resnet i of an up block takes the previous output (or the block's input) concatenated with a
/// skip connection along channels.
private func upResnet(_ i: Int, inChannels: Int, outChannels: Int, prevOutputChannels: Int, numLayers: Int,
                      settings: UNetBlockSettings, rng: inout RandomGenerator) -> ResnetBlock2D {
    let skipChannels = i == numLayers - 1 ? inChannels : outChannels
    let resnetIn = i == 0 ? prevOutputChannels : outChannels
    return settings.resnet(resnetIn + skipChannels, outChannels, rng: &rng)
}

/// diffusers' UpBlockMotion: (resnet on [h, skip], motion module) pairs, then an optional upsampling conv.
public final class UpBlockMotion: Module, UNetMotionUpBlock {
    public let resnets: [ResnetBlock2D]
    public let motionModules: [AnimateDiffTransformer3D]
    public let upsamplers: [Upsample2D]?
    public var resnetCount: Int { resnets.count }

    public init(inChannels: Int, prevOutputChannels: Int, outChannels: Int, numLayers: Int, addUpsample: Bool,
                settings: UNetBlockSettings, motion: MotionModuleSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], motionModules: [AnimateDiffTransformer3D] = []
        for i in 0..<numLayers {
            resnets.append(upResnet(i, inChannels: inChannels, outChannels: outChannels, prevOutputChannels: prevOutputChannels,
                                    numLayers: numLayers, settings: settings, rng: &rng))
            motionModules.append(motion.module(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.motionModules = motionModules
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        children("motion_modules", motionModules)
        if let upsamplers { children("upsamplers", upsamplers) }
    }

    public func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor, frames: Int,
                               upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "UpBlockMotion: \(skips.count) skip connections for \(resnets.count) resnets")
        var h = x
        for (i, skip) in skips.reversed().enumerated() {
            h = motionModules[i](resnets[i](Tensor.concatenate([h, skip], axis: 1), temb: temb), frames: frames)
        }
        if let upsamplers {
            for u in upsamplers { h = u(h, outputSize: upsampleSize) }
        }
        return h
    }
}

/// diffusers' CrossAttnUpBlockMotion: (resnet on [h, skip], spatial transformer, motion module)
/// triples, then an optional upsampling conv.
public final class CrossAttnUpBlockMotion: Module, UNetMotionUpBlock {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]
    public let motionModules: [AnimateDiffTransformer3D]
    public let upsamplers: [Upsample2D]?
    public var resnetCount: Int { resnets.count }

    public init(inChannels: Int, prevOutputChannels: Int, outChannels: Int, numLayers: Int, addUpsample: Bool,
                settings: UNetBlockSettings, motion: MotionModuleSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], attentions: [Transformer2DModel] = [], motionModules: [AnimateDiffTransformer3D] = []
        for i in 0..<numLayers {
            resnets.append(upResnet(i, inChannels: inChannels, outChannels: outChannels, prevOutputChannels: prevOutputChannels,
                                    numLayers: numLayers, settings: settings, rng: &rng))
            attentions.append(settings.transformer(outChannels, onlyCrossAttention: false, rng: &rng))
            motionModules.append(motion.module(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.attentions = attentions
        self.motionModules = motionModules
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels, rng: &rng)] : nil
        super.init()
        children("attentions", attentions)
        children("resnets", resnets)
        children("motion_modules", motionModules)
        if let upsamplers { children("upsamplers", upsamplers) }
    }

    public func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor, frames: Int,
                               upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "CrossAttnUpBlockMotion: \(skips.count) skip connections for \(resnets.count) resnets")
        var h = x
        for (i, skip) in skips.reversed().enumerated() {
            h = resnets[i](Tensor.concatenate([h, skip], axis: 1), temb: temb)
            h = motionModules[i](attentions[i](h, context: context), frames: frames)
        }
        if let upsamplers {
            for u in upsamplers { h = u(h, outputSize: upsampleSize) }
        }
        return h
    }
}
