// The blocks of diffusers' UNet3DConditionModel (models/unets/unet_3d_blocks.py): the image
// UNet's resnets, spatial transformers and resamplers, each followed by a temporal layer
// (TemporalConvLayer after a resnet, TransformerTemporalModel after a spatial transformer).
//
// Activations stay [N·F, C, H, W] throughout (frames folded into the batch axis), so every
// spatial layer is the image UNet's layer run on N·F images with one time embedding and one text
// context per clip; only the temporal layers look across frames.

import Foundation
import LetheCore

/// What every block of the video UNet is built from.
public struct UNet3DBlockSettings {
    public var tembChannels: Int
    public var resnetEps: Float
    public var resnetGroups: Int
    public var activation: Activation
    /// The width of every attention head (UNet3D's attention_head_dim): C channels make C / width heads.
    public var attentionHeadWidth: Int
    public var crossAttentionDim: Int

    public init(tembChannels: Int, resnetEps: Float, resnetGroups: Int, activation: Activation,
                attentionHeadWidth: Int, crossAttentionDim: Int) {
        self.tembChannels = tembChannels
        self.resnetEps = resnetEps
        self.resnetGroups = resnetGroups
        self.activation = activation
        self.attentionHeadWidth = attentionHeadWidth
        self.crossAttentionDim = crossAttentionDim
    }

    func resnet(_ inChannels: Int, _ outChannels: Int, outputScaleFactor: Float = 1, rng: inout RandomGenerator) -> ResnetBlock2D {
        ResnetBlock2D(inChannels: inChannels, outChannels: outChannels, tembChannels: tembChannels, groups: resnetGroups,
                      eps: resnetEps, nonlinearity: activation, outputScaleFactor: outputScaleFactor, rng: &rng)
    }

    func temporalConv(_ channels: Int, rng: inout RandomGenerator) -> TemporalConvLayer {
        TemporalConvLayer(inDim: channels, outDim: channels, normNumGroups: resnetGroups, rng: &rng)
    }

    /// diffusers builds these as Transformer2DModel(C // heads, heads, ...): its positional
    /// arguments are (num_attention_heads, attention_head_dim), so the config's
    /// attention_head_dim ends up as the head width here, unlike in UNet2DConditionModel.
    func transformer(_ channels: Int, rng: inout RandomGenerator) -> Transformer2DModel {
        Transformer2DModel(numAttentionHeads: channels / attentionHeadWidth, attentionHeadDim: attentionHeadWidth,
                           inChannels: channels, numLayers: 1, crossAttentionDim: crossAttentionDim,
                           normNumGroups: resnetGroups, useLinearProjection: true, rng: &rng)
    }

    func temporalTransformer(_ channels: Int, rng: inout RandomGenerator) -> TransformerTemporalModel {
        TransformerTemporalModel(numAttentionHeads: channels / attentionHeadWidth, attentionHeadDim: attentionHeadWidth,
                                 inChannels: channels, numLayers: 1, normNumGroups: resnetGroups, rng: &rng)
    }
}

/// A block of a frame-folded video UNet's contracting path (UNet3DConditionModel's and
/// UNetMotionModel's): returns its output and the skip connections it leaves for the up path
/// (one per resnet, plus the downsampled output).
public protocol FrameFoldedDownBlock: Module {
    /// x [N·F, C, H, W], temb [N, T], context [N (or N·F), L, D].
    func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> (Tensor, [Tensor])
}

/// A block of the expanding path: each resnet takes the next skip connection (the last first).
public protocol FrameFoldedUpBlock: Module {
    var resnetCount: Int { get }
    func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor, frames: Int,
                        upsampleSize: (height: Int, width: Int)?) -> Tensor
}

public protocol UNet3DDownBlock: FrameFoldedDownBlock {}
public protocol UNet3DUpBlock: FrameFoldedUpBlock {}

/// `unetWalk` for a video UNet whose frames are folded into the batch axis.
func frameFoldedUNetWalk(_ input: Tensor, down: [any FrameFoldedDownBlock], mid: (Tensor) -> Tensor, up: [any FrameFoldedUpBlock],
                         temb: Tensor, context: Tensor, frames: Int, upsamplerCount: Int) -> Tensor {
    unetWalk(input, downCount: down.count, down: { down[$0]($1, temb: temb, context: context, frames: frames) }, mid: mid,
             upResnetCounts: up.map(\.resnetCount),
             up: { up[$0]($1, skips: $2, temb: temb, context: context, frames: frames, upsampleSize: $3) },
             upsamplerCount: upsamplerCount)
}

/// diffusers' DownBlock3D: (resnet, temporal conv) pairs, then an optional stride-2 conv.
public final class DownBlock3D: Module, UNet3DDownBlock {
    public let resnets: [ResnetBlock2D]
    public let tempConvs: [TemporalConvLayer]
    public let downsamplers: [Downsample2D]?

    public init(inChannels: Int, outChannels: Int, numLayers: Int, addDownsample: Bool, downsamplePadding: Int = 1,
                settings: UNet3DBlockSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], tempConvs: [TemporalConvLayer] = []
        for i in 0..<numLayers {
            resnets.append(settings.resnet(i == 0 ? inChannels : outChannels, outChannels, rng: &rng))
            tempConvs.append(settings.temporalConv(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.tempConvs = tempConvs
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels, padding: downsamplePadding, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        children("temp_convs", tempConvs)
        if let downsamplers { children("downsamplers", downsamplers) }
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for (resnet, tempConv) in zip(resnets, tempConvs) {
            h = tempConv(resnet(h, temb: temb), frames: frames)
            states.append(h)
        }
        if let downsamplers {
            for d in downsamplers { h = d(h) }
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers' CrossAttnDownBlock3D: (resnet, temporal conv, spatial transformer, temporal
/// transformer) groups, then an optional stride-2 conv.
public final class CrossAttnDownBlock3D: Module, UNet3DDownBlock {
    public let resnets: [ResnetBlock2D]
    public let tempConvs: [TemporalConvLayer]
    public let attentions: [Transformer2DModel]
    public let tempAttentions: [TransformerTemporalModel]
    public let downsamplers: [Downsample2D]?

    public init(inChannels: Int, outChannels: Int, numLayers: Int, addDownsample: Bool, downsamplePadding: Int = 1,
                settings: UNet3DBlockSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], tempConvs: [TemporalConvLayer] = []
        var attentions: [Transformer2DModel] = [], tempAttentions: [TransformerTemporalModel] = []
        for i in 0..<numLayers {
            resnets.append(settings.resnet(i == 0 ? inChannels : outChannels, outChannels, rng: &rng))
            tempConvs.append(settings.temporalConv(outChannels, rng: &rng))
            attentions.append(settings.transformer(outChannels, rng: &rng))
            tempAttentions.append(settings.temporalTransformer(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.tempConvs = tempConvs
        self.attentions = attentions
        self.tempAttentions = tempAttentions
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels, padding: downsamplePadding, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        children("temp_convs", tempConvs)
        children("attentions", attentions)
        children("temp_attentions", tempAttentions)
        if let downsamplers { children("downsamplers", downsamplers) }
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for i in resnets.indices {
            h = tempConvs[i](resnets[i](h, temb: temb), frames: frames)
            h = tempAttentions[i](attentions[i](h, context: context), frames: frames)
            states.append(h)
        }
        if let downsamplers {
            for d in downsamplers { h = d(h) }
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers' UNetMidBlock3DCrossAttn: resnet and temporal conv, then (spatial transformer,
/// temporal transformer, resnet, temporal conv).
public final class UNetMidBlock3DCrossAttn: Module {
    public let resnets: [ResnetBlock2D]
    public let tempConvs: [TemporalConvLayer]
    public let attentions: [Transformer2DModel]
    public let tempAttentions: [TransformerTemporalModel]

    public init(inChannels: Int, numLayers: Int = 1, outputScaleFactor: Float = 1, settings: UNet3DBlockSettings,
                rng: inout RandomGenerator) {
        var resnets = [settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng)]
        var tempConvs = [settings.temporalConv(inChannels, rng: &rng)]
        var attentions: [Transformer2DModel] = [], tempAttentions: [TransformerTemporalModel] = []
        for _ in 0..<numLayers {
            attentions.append(settings.transformer(inChannels, rng: &rng))
            tempAttentions.append(settings.temporalTransformer(inChannels, rng: &rng))
            resnets.append(settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng))
            tempConvs.append(settings.temporalConv(inChannels, rng: &rng))
        }
        self.resnets = resnets
        self.tempConvs = tempConvs
        self.attentions = attentions
        self.tempAttentions = tempAttentions
        super.init()
        children("resnets", resnets)
        children("temp_convs", tempConvs)
        children("attentions", attentions)
        children("temp_attentions", tempAttentions)
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor, frames: Int) -> Tensor {
        var h = tempConvs[0](resnets[0](x, temb: temb), frames: frames)
        for i in attentions.indices {
            h = tempAttentions[i](attentions[i](h, context: context), frames: frames)
            h = tempConvs[i + 1](resnets[i + 1](h, temb: temb), frames: frames)
        }
        return h
    }
}

/// Resnet i of an up block takes the previous output (or the block's input) concatenated with a
/// skip connection along channels.
private func upResnet(_ i: Int, inChannels: Int, outChannels: Int, prevOutputChannels: Int, numLayers: Int,
                      settings: UNet3DBlockSettings, rng: inout RandomGenerator) -> ResnetBlock2D {
    let skipChannels = i == numLayers - 1 ? inChannels : outChannels
    let resnetIn = i == 0 ? prevOutputChannels : outChannels
    return settings.resnet(resnetIn + skipChannels, outChannels, rng: &rng)
}

/// diffusers' UpBlock3D: (resnet on [h, skip], temporal conv) pairs, then an optional upsampling conv.
public final class UpBlock3D: Module, UNet3DUpBlock {
    public let resnets: [ResnetBlock2D]
    public let tempConvs: [TemporalConvLayer]
    public let upsamplers: [Upsample2D]?
    public var resnetCount: Int { resnets.count }

    public init(inChannels: Int, prevOutputChannels: Int, outChannels: Int, numLayers: Int, addUpsample: Bool,
                settings: UNet3DBlockSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], tempConvs: [TemporalConvLayer] = []
        for i in 0..<numLayers {
            resnets.append(upResnet(i, inChannels: inChannels, outChannels: outChannels, prevOutputChannels: prevOutputChannels,
                                    numLayers: numLayers, settings: settings, rng: &rng))
            tempConvs.append(settings.temporalConv(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.tempConvs = tempConvs
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        children("temp_convs", tempConvs)
        if let upsamplers { children("upsamplers", upsamplers) }
    }

    public func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor, frames: Int,
                               upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "UpBlock3D: \(skips.count) skip connections for \(resnets.count) resnets")
        var h = x
        for (i, skip) in skips.reversed().enumerated() {
            h = tempConvs[i](resnets[i](Tensor.concatenate([h, skip], axis: 1), temb: temb), frames: frames)
        }
        if let upsamplers {
            for u in upsamplers { h = u(h, outputSize: upsampleSize) }
        }
        return h
    }
}

/// diffusers' CrossAttnUpBlock3D: (resnet on [h, skip], temporal conv, spatial transformer,
/// temporal transformer) groups, then an optional upsampling conv.
public final class CrossAttnUpBlock3D: Module, UNet3DUpBlock {
    public let resnets: [ResnetBlock2D]
    public let tempConvs: [TemporalConvLayer]
    public let attentions: [Transformer2DModel]
    public let tempAttentions: [TransformerTemporalModel]
    public let upsamplers: [Upsample2D]?
    public var resnetCount: Int { resnets.count }

    public init(inChannels: Int, prevOutputChannels: Int, outChannels: Int, numLayers: Int, addUpsample: Bool,
                settings: UNet3DBlockSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = [], tempConvs: [TemporalConvLayer] = []
        var attentions: [Transformer2DModel] = [], tempAttentions: [TransformerTemporalModel] = []
        for i in 0..<numLayers {
            resnets.append(upResnet(i, inChannels: inChannels, outChannels: outChannels, prevOutputChannels: prevOutputChannels,
                                    numLayers: numLayers, settings: settings, rng: &rng))
            tempConvs.append(settings.temporalConv(outChannels, rng: &rng))
            attentions.append(settings.transformer(outChannels, rng: &rng))
            tempAttentions.append(settings.temporalTransformer(outChannels, rng: &rng))
        }
        self.resnets = resnets
        self.tempConvs = tempConvs
        self.attentions = attentions
        self.tempAttentions = tempAttentions
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        children("temp_convs", tempConvs)
        children("attentions", attentions)
        children("temp_attentions", tempAttentions)
        if let upsamplers { children("upsamplers", upsamplers) }
    }

    public func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor, frames: Int,
                               upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "CrossAttnUpBlock3D: \(skips.count) skip connections for \(resnets.count) resnets")
        var h = x
        for (i, skip) in skips.reversed().enumerated() {
            h = tempConvs[i](resnets[i](Tensor.concatenate([h, skip], axis: 1), temb: temb), frames: frames)
            h = tempAttentions[i](attentions[i](h, context: context), frames: frames)
        }
        if let upsamplers {
            for u in upsamplers { h = u(h, outputSize: upsampleSize) }
        }
        return h
    }
}
