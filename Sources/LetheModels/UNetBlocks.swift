// The convolutional blocks of diffusers' UNet2DConditionModel (models/resnet.py,
// downsampling.py, upsampling.py, unets/unet_2d_blocks.py), keyed like diffusers' state dict.
//
// Video UNets reuse these blocks with the frames folded into the batch axis ([N·F, C, H, W]):
// a time embedding or context with N rows then serves all F frames of each item, so it is never
// repeated in memory.

import Foundation
import LetheCore

/// How a ResnetBlock2D applies the time embedding (diffusers' `time_embedding_norm`).
public enum TimeEmbeddingNorm: String, Sendable {
    /// h + proj(temb) before norm2.
    case `default`
    /// norm2(h) · (1 + scale) + shift, with (scale, shift) = proj(temb).
    case scaleShift = "scale_shift"
}

/// diffusers' ResnetBlock2D: norm1 → act → conv1 → (+ time) → norm2 → act → conv2, plus the input
/// (through conv_shortcut when the channel count changes), divided by output_scale_factor.
public final class ResnetBlock2D: Module {
    public let norm1: GroupNorm, conv1: Conv2d
    public let timeEmbProj: Linear?
    public let norm2: GroupNorm, conv2: Conv2d
    public let convShortcut: Conv2d?
    public let nonlinearity: Activation
    public let timeEmbeddingNorm: TimeEmbeddingNorm
    public let outputScaleFactor: Float
    public let outChannels: Int

    public init(inChannels: Int, outChannels: Int? = nil, tembChannels: Int?, groups: Int = 32, groupsOut: Int? = nil,
                eps: Float = 1e-6, nonlinearity: Activation = .silu, timeEmbeddingNorm: TimeEmbeddingNorm = .default,
                outputScaleFactor: Float = 1, rng: inout RandomGenerator) {
        let out = outChannels ?? inChannels
        self.outChannels = out
        norm1 = GroupNorm(groups: groups, channels: inChannels, eps: eps)
        conv1 = Conv2d(inChannels, out, kernelSize: 3, padding: 1, rng: &rng)
        timeEmbProj = tembChannels.map { Linear($0, timeEmbeddingNorm == .scaleShift ? 2 * out : out, rng: &rng) }
        norm2 = GroupNorm(groups: groupsOut ?? groups, channels: out, eps: eps)
        conv2 = Conv2d(out, out, kernelSize: 3, padding: 1, rng: &rng)
        convShortcut = inChannels != out ? Conv2d(inChannels, out, kernelSize: 1, rng: &rng) : nil
        self.nonlinearity = nonlinearity
        self.timeEmbeddingNorm = timeEmbeddingNorm
        self.outputScaleFactor = outputScaleFactor
        super.init()
        child("norm1", norm1)
        child("conv1", conv1)
        if let timeEmbProj { child("time_emb_proj", timeEmbProj) }
        child("norm2", norm2)
        child("conv2", conv2)
        if let convShortcut { child("conv_shortcut", convShortcut) }
    }

    /// x [B, Cin, H, W], temb [N, tembChannels] with B a multiple of N (row n conditions samples
    /// n·B/N ..< (n+1)·B/N, i.e. frames folded into the batch) → [B, Cout, H, W].
    public func callAsFunction(_ x: Tensor, temb: Tensor?) -> Tensor {
        var h = conv1(nonlinearity(norm1(x)))
        if let temb, let timeEmbProj {
            let t = timeEmbProj(nonlinearity(temb))
            switch timeEmbeddingNorm {
            case .default:
                h = norm2(addPerChannel(h, t))
            case .scaleShift:
                let parts = t.chunked(2, axis: 1)
                h = addPerChannel(multiplyPerChannel(norm2(h), parts[0] + 1), parts[1])
            }
        } else {
            h = norm2(h)
        }
        h = conv2(nonlinearity(h))
        let shortcut = convShortcut.map { $0(x) } ?? x
        let sum = shortcut + h
        return outputScaleFactor == 1 ? sum : sum / outputScaleFactor
    }
}

/// Views [B, C, H, W] as [N, B/N, C, H·W] and a per-item vector [N, C] as [N, 1, C, 1] so one
/// broadcast applies item n's vector to all of its B/N samples.
private func perItemViews(_ x: Tensor, _ v: Tensor) -> (Tensor, Tensor) {
    let b = x.shape[0], c = x.shape[1], n = v.shape[0]
    precondition(v.rank == 2 && v.shape[1] == c && n > 0 && b % n == 0,
                 "per-channel vector \(v.shape) does not fit activations \(x.shape)")
    let plane = x.count / max(b * c, 1)
    return (x.reshaped([n, b / n, c, plane]), v.reshaped([n, 1, c, 1]))
}

private func addPerChannel(_ x: Tensor, _ v: Tensor) -> Tensor {
    let (xv, vv) = perItemViews(x, v)
    return (xv + vv).reshaped(x.shape)
}

private func multiplyPerChannel(_ x: Tensor, _ v: Tensor) -> Tensor {
    let (xv, vv) = perItemViews(x, v)
    return (xv * vv).reshaped(x.shape)
}

/// diffusers' Downsample2D with a convolution (stride 2), as the UNet's blocks build it
/// (name "op", so the weight is "conv").
public final class Downsample2D: Module {
    public let conv: Conv2d

    public init(channels: Int, outChannels: Int? = nil, padding: Int = 1, rng: inout RandomGenerator) {
        precondition(padding >= 1, "Downsample2D: padding 0 pads asymmetrically, which Lethe does not implement")
        conv = Conv2d(channels, outChannels ?? channels, kernelSize: 3, stride: 2, padding: padding, rng: &rng)
        super.init()
        child("conv", conv)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}

/// diffusers' Upsample2D with a convolution: nearest-neighbour ×2 (or to `outputSize`, when the
/// UNet's input size was not a multiple of its total downsampling), then a 3×3 conv.
public final class Upsample2D: Module {
    public let conv: Conv2d

    public init(channels: Int, outChannels: Int? = nil, rng: inout RandomGenerator) {
        conv = Conv2d(channels, outChannels ?? channels, kernelSize: 3, padding: 1, rng: &rng)
        super.init()
        child("conv", conv)
    }

    public func callAsFunction(_ x: Tensor, outputSize: (height: Int, width: Int)? = nil) -> Tensor {
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        if let size = outputSize, size != (2 * h, 2 * w) {
            return conv(x.upsampleNearest(height: size.height, width: size.width))
        }
        return conv(x.upsampleNearest2x())
    }
}

extension Tensor {
    /// Nearest-neighbour resize of [N, C, H, W] to [N, C, outH, outW] with torch's index rule
    /// (`F.interpolate(size=..., mode="nearest")`: source = ⌊dst · in/out⌋ in Float32).
    /// Backward adds each output's gradient into its source pixel.
    func upsampleNearest(height outH: Int, width outW: Int) -> Tensor {
        precondition(rank == 4, "upsampleNearest: input must be [N, C, H, W], got \(shape)")
        let inH = shape[2], inW = shape[3]
        func sources(_ outSize: Int, _ inSize: Int) -> [Int] {
            let scale = Float(inSize) / Float(outSize)
            return (0..<outSize).map { min(Int((Float($0) * scale).rounded(.down)), inSize - 1) }
        }
        let rows = sources(outH, inH), cols = sources(outW, inW)
        let planes = shape[0] * shape[1]
        let out = Tensor(uninitializedShape: [shape[0], shape[1], outH, outW])
        let src = pointer, dst = out.pointer
        parallelFor(planes, grain: max(1, 16384 / max(outH * outW, 1))) { range in
            for p in range {
                let s = src + p * inH * inW, d = dst + p * outH * outW
                for y in 0..<outH {
                    let srow = s + rows[y] * inW, drow = d + y * outW
                    for x in 0..<outW { drow[x] = srow[cols[x]] }
                }
            }
        }
        let inShape = shape
        return Autograd.record(out, "upsample_nearest", inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let gp = g.pointer, dx = gx.pointer
            parallelFor(planes, grain: max(1, 16384 / max(outH * outW, 1))) { range in
                for p in range {
                    let s = gp + p * outH * outW, d = dx + p * inH * inW
                    for y in 0..<outH {
                        let grow = s + y * outW, drow = d + rows[y] * inW
                        for x in 0..<outW { drow[cols[x]] += grow[x] }
                    }
                }
            }
            return [gx]
        }
    }
}

// MARK: - Blocks

/// What every block of the UNet is built from; one value per block, as get_down_block receives it.
public struct UNetBlockSettings {
    public var tembChannels: Int
    public var resnetEps: Float
    public var resnetGroups: Int
    public var activation: Activation
    public var timeEmbeddingNorm: TimeEmbeddingNorm
    public var numAttentionHeads: Int
    public var crossAttentionDim: Int
    public var transformerLayers: Int
    public var useLinearProjection: Bool
    public var onlyCrossAttention: Bool

    public init(tembChannels: Int, resnetEps: Float, resnetGroups: Int, activation: Activation,
                timeEmbeddingNorm: TimeEmbeddingNorm, numAttentionHeads: Int, crossAttentionDim: Int,
                transformerLayers: Int, useLinearProjection: Bool, onlyCrossAttention: Bool) {
        self.tembChannels = tembChannels
        self.resnetEps = resnetEps
        self.resnetGroups = resnetGroups
        self.activation = activation
        self.timeEmbeddingNorm = timeEmbeddingNorm
        self.numAttentionHeads = numAttentionHeads
        self.crossAttentionDim = crossAttentionDim
        self.transformerLayers = transformerLayers
        self.useLinearProjection = useLinearProjection
        self.onlyCrossAttention = onlyCrossAttention
    }

    func resnet(_ inChannels: Int, _ outChannels: Int, outputScaleFactor: Float = 1, rng: inout RandomGenerator) -> ResnetBlock2D {
        ResnetBlock2D(inChannels: inChannels, outChannels: outChannels, tembChannels: tembChannels, groups: resnetGroups,
                      eps: resnetEps, nonlinearity: activation, timeEmbeddingNorm: timeEmbeddingNorm,
                      outputScaleFactor: outputScaleFactor, rng: &rng)
    }

    /// Transformer2DModel over `channels`, with diffusers' head width channels / heads.
    func transformer(_ channels: Int, onlyCrossAttention: Bool, rng: inout RandomGenerator) -> Transformer2DModel {
        Transformer2DModel(numAttentionHeads: numAttentionHeads, attentionHeadDim: channels / numAttentionHeads,
                           inChannels: channels, numLayers: transformerLayers, crossAttentionDim: crossAttentionDim,
                           normNumGroups: resnetGroups, useLinearProjection: useLinearProjection,
                           onlyCrossAttention: onlyCrossAttention, rng: &rng)
    }
}

/// A block of the contracting path: returns its output and the states the up path will use as
/// skip connections (one per resnet, plus the downsampled output).
public protocol UNetDownBlock: Module {
    func callAsFunction(_ x: Tensor, temb: Tensor?, context: Tensor?) -> (Tensor, [Tensor])
}

public protocol UNetMidBlock: Module {
    func callAsFunction(_ x: Tensor, temb: Tensor?, context: Tensor?) -> Tensor
}

/// A block of the expanding path: each resnet takes the next skip connection (the last first).
public protocol UNetUpBlock: Module {
    var resnetCount: Int { get }
    func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor?, context: Tensor?,
                        upsampleSize: (height: Int, width: Int)?) -> Tensor
}

/// The down path, the middle and the up path of any of the UNets, from the output of its first
/// layers to the input of its last: each down block leaves skip connections, each up block takes
/// `upResnetCounts[i]` of them (the last first). Inputs whose size is not a multiple of the total
/// downsampling were rounded up on the way down; the up path then upsamples to the skip
/// connections' sizes instead of doubling.
func unetWalk(_ input: Tensor, downCount: Int, down: (Int, Tensor) -> (Tensor, [Tensor]), mid: (Tensor) -> Tensor,
              upResnetCounts: [Int], up: (Int, Tensor, [Tensor], (height: Int, width: Int)?) -> Tensor,
              upsamplerCount: Int) -> Tensor {
    var x = input
    var skips = [x]
    for i in 0..<downCount {
        let (h, states) = down(i, x)
        x = h
        skips += states
    }
    x = mid(x)
    let factor = 1 << upsamplerCount
    let forwardUpsampleSize = input.shape[2] % factor != 0 || input.shape[3] % factor != 0
    for (i, count) in upResnetCounts.enumerated() {
        let res = Array(skips.suffix(count))
        skips.removeLast(count)
        var upsampleSize: (height: Int, width: Int)? = nil
        if i < upResnetCounts.count - 1 && forwardUpsampleSize, let next = skips.last {
            upsampleSize = (next.shape[2], next.shape[3])
        }
        x = up(i, x, res, upsampleSize)
    }
    return x
}

/// diffusers' DownBlock2D: resnets, then an optional stride-2 conv.
public final class DownBlock2D: Module, UNetDownBlock {
    public let resnets: [ResnetBlock2D]
    public let downsamplers: [Downsample2D]?

    public init(inChannels: Int, outChannels: Int, numLayers: Int, addDownsample: Bool, downsamplePadding: Int = 1,
                settings: UNetBlockSettings, rng: inout RandomGenerator) {
        resnets = (0..<numLayers).map { settings.resnet($0 == 0 ? inChannels : outChannels, outChannels, rng: &rng) }
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels, padding: downsamplePadding, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        if let downsamplers { children("downsamplers", downsamplers) }
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor?, context: Tensor?) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for resnet in resnets {
            h = resnet(h, temb: temb)
            states.append(h)
        }
        if let downsamplers {
            for d in downsamplers { h = d(h) }
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers' CrossAttnDownBlock2D: (resnet, transformer) pairs, then an optional stride-2 conv.
public final class CrossAttnDownBlock2D: Module, UNetDownBlock {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]
    public let downsamplers: [Downsample2D]?

    public init(inChannels: Int, outChannels: Int, numLayers: Int, addDownsample: Bool, downsamplePadding: Int = 1,
                settings: UNetBlockSettings, rng: inout RandomGenerator) {
        var resnets: [ResnetBlock2D] = []
        var attentions: [Transformer2DModel] = []
        for i in 0..<numLayers {
            resnets.append(settings.resnet(i == 0 ? inChannels : outChannels, outChannels, rng: &rng))
            attentions.append(settings.transformer(outChannels, onlyCrossAttention: settings.onlyCrossAttention, rng: &rng))
        }
        self.resnets = resnets
        self.attentions = attentions
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels, padding: downsamplePadding, rng: &rng)] : nil
        super.init()
        children("attentions", attentions)
        children("resnets", resnets)
        if let downsamplers { children("downsamplers", downsamplers) }
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor?, context: Tensor?) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for (resnet, attention) in zip(resnets, attentions) {
            h = attention(resnet(h, temb: temb), context: context)
            states.append(h)
        }
        if let downsamplers {
            for d in downsamplers { h = d(h) }
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers' UNetMidBlock2DCrossAttn: resnet, then (transformer, resnet) pairs.
public final class UNetMidBlock2DCrossAttn: Module, UNetMidBlock {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]

    public init(inChannels: Int, numLayers: Int = 1, outputScaleFactor: Float = 1, settings: UNetBlockSettings,
                rng: inout RandomGenerator) {
        var resnets = [settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng)]
        var attentions: [Transformer2DModel] = []
        for _ in 0..<numLayers {
            attentions.append(settings.transformer(inChannels, onlyCrossAttention: false, rng: &rng))
            resnets.append(settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng))
        }
        self.resnets = resnets
        self.attentions = attentions
        super.init()
        children("attentions", attentions)
        children("resnets", resnets)
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor?, context: Tensor?) -> Tensor {
        var h = resnets[0](x, temb: temb)
        for (attention, resnet) in zip(attentions, resnets.dropFirst()) {
            h = resnet(attention(h, context: context), temb: temb)
        }
        return h
    }
}

/// diffusers' UNetMidBlock2D as UNet2DConditionModel builds it (no attention, no extra layers):
/// a single resnet.
public final class UNetMidBlock2D: Module, UNetMidBlock {
    public let resnets: [ResnetBlock2D]

    public init(inChannels: Int, outputScaleFactor: Float = 1, settings: UNetBlockSettings, rng: inout RandomGenerator) {
        resnets = [settings.resnet(inChannels, inChannels, outputScaleFactor: outputScaleFactor, rng: &rng)]
        super.init()
        children("resnets", resnets)
    }

    public func callAsFunction(_ x: Tensor, temb: Tensor?, context: Tensor?) -> Tensor { resnets[0](x, temb: temb) }
}

/// The resnets of an up block: resnet i takes the previous output (or the block's input)
/// concatenated with a skip connection along channels.
private func upResnets(inChannels: Int, outChannels: Int, prevOutputChannels: Int, numLayers: Int,
                       settings: UNetBlockSettings, rng: inout RandomGenerator) -> [ResnetBlock2D] {
    (0..<numLayers).map { i in
        let skipChannels = i == numLayers - 1 ? inChannels : outChannels
        let resnetIn = i == 0 ? prevOutputChannels : outChannels
        return settings.resnet(resnetIn + skipChannels, outChannels, rng: &rng)
    }
}

/// diffusers' UpBlock2D: resnets on [h, skip], then an optional upsampling conv.
public final class UpBlock2D: Module, UNetUpBlock {
    public let resnets: [ResnetBlock2D]
    public let upsamplers: [Upsample2D]?
    public var resnetCount: Int { resnets.count }

    public init(inChannels: Int, prevOutputChannels: Int, outChannels: Int, numLayers: Int, addUpsample: Bool,
                settings: UNetBlockSettings, rng: inout RandomGenerator) {
        resnets = upResnets(inChannels: inChannels, outChannels: outChannels, prevOutputChannels: prevOutputChannels,
                            numLayers: numLayers, settings: settings, rng: &rng)
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels, rng: &rng)] : nil
        super.init()
        children("resnets", resnets)
        if let upsamplers { children("upsamplers", upsamplers) }
    }

    public func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor?, context: Tensor?,
                               upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "UpBlock2D: \(skips.count) skip connections for \(resnets.count) resnets")
        var h = x
        for (resnet, skip) in zip(resnets, skips.reversed()) {
            h = resnet(Tensor.concatenate([h, skip], axis: 1), temb: temb)
        }
        if let upsamplers {
            for u in upsamplers { h = u(h, outputSize: upsampleSize) }
        }
        return h
    }
}

/// diffusers' CrossAttnUpBlock2D: (resnet on [h, skip], transformer) pairs, then an optional
/// upsampling conv.
public final class CrossAttnUpBlock2D: Module, UNetUpBlock {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]
    public let upsamplers: [Upsample2D]?
    public var resnetCount: Int { resnets.count }

    public init(inChannels: Int, prevOutputChannels: Int, outChannels: Int, numLayers: Int, addUpsample: Bool,
                settings: UNetBlockSettings, rng: inout RandomGenerator) {
        resnets = upResnets(inChannels: inChannels, outChannels: outChannels, prevOutputChannels: prevOutputChannels,
                            numLayers: numLayers, settings: settings, rng: &rng)
        attentions = (0..<numLayers).map { _ in
            settings.transformer(outChannels, onlyCrossAttention: settings.onlyCrossAttention, rng: &rng)
        }
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels, rng: &rng)] : nil
        super.init()
        children("attentions", attentions)
        children("resnets", resnets)
        if let upsamplers { children("upsamplers", upsamplers) }
    }

    public func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor?, context: Tensor?,
                               upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "CrossAttnUpBlock2D: \(skips.count) skip connections for \(resnets.count) resnets")
        var h = x
        for ((resnet, attention), skip) in zip(zip(resnets, attentions), skips.reversed()) {
            h = attention(resnet(Tensor.concatenate([h, skip], axis: 1), temb: temb), context: context)
        }
        if let upsamplers {
            for u in upsamplers { h = u(h, outputSize: upsampleSize) }
        }
        return h
    }
}
