// diffusers' TemporalConvLayer (models/resnet.py, from ModelScope's video UNet): four
// GroupNorm → SiLU → Conv3d (3, 1, 1) stages along the frame axis, added to the input. The
// last convolution starts at zero, so a fresh layer is the identity and a video UNet built around
// an image UNet first behaves like it frame by frame.

import Foundation
import LetheCore

/// torch.nn.Conv3d with a (kF, 1, 1) kernel and (padding, 0, 0) padding: mixes each pixel's
/// channels across neighbouring frames. Weight [out, in, kF, 1, 1].
public final class TemporalConv3d: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelFrames: Int = 3, padding: Int = 1, rng: inout RandomGenerator) {
        // PyTorch's default initialisation, uniform ±1/√fan_in, like the other layers.
        let bound = 1 / Float(inChannels * kernelFrames).squareRoot()
        weight = Tensor.rand([outChannels, inChannels, kernelFrames, 1, 1], rng: &rng, low: -bound, high: bound)
        bias = Tensor.rand([outChannels], rng: &rng, low: -bound, high: bound)
        self.padding = padding
        super.init()
        parameter("weight", weight)
        parameter("bias", bias)
    }

    /// [N, Cin, F, H, W] → [N, Cout, F, H, W] (with the default kernel and padding).
    public func callAsFunction(_ x: Tensor) -> Tensor { x.temporalConv(weight: weight, bias: bias, padding: padding) }
}

public final class TemporalConvLayer: Module {
    /// The four stages' norms and convolutions; diffusers keys them "convK.0" and "convK.2" (the
    /// first stage) or "convK.3" (the others, which hold a Dropout at index 2).
    public let norms: [GroupNorm]
    public let convs: [TemporalConv3d]

    /// - Parameters:
    ///   - inDim: channels of the input and of the output (the residual needs both).
    ///   - outDim: channels between the stages.
    public init(inDim: Int, outDim: Int? = nil, normNumGroups: Int = 32, rng: inout RandomGenerator) {
        let out = outDim ?? inDim
        norms = [GroupNorm(groups: normNumGroups, channels: inDim)]
            + (1..<4).map { _ in GroupNorm(groups: normNumGroups, channels: out) }
        convs = [TemporalConv3d(inDim, out, rng: &rng)] + (1..<4).map { _ in TemporalConv3d(out, inDim, rng: &rng) }
        super.init()
        for stage in 0..<4 {
            let sequential = ModuleList()
            sequential.child("0", norms[stage])
            sequential.child(stage == 0 ? "2" : "3", convs[stage])
            child("conv\(stage + 1)", sequential)
        }
        // diffusers zero-initialises the last convolution so the layer starts as the identity.
        convs[3].weight.assign(Tensor.zeros(convs[3].weight.shape))
        convs[3].bias.assign(Tensor.zeros(convs[3].bias.shape))
    }

    /// The last convolution, which is zero in a fresh layer.
    public var lastConv: TemporalConv3d { convs[3] }

    /// x [N·F, C, H, W] (each clip's frames adjacent) → [N·F, C, H, W].
    public func callAsFunction(_ x: Tensor, frames: Int) -> Tensor {
        precondition(x.rank == 4 && frames > 0 && x.shape[0] % frames == 0,
                     "TemporalConvLayer: input must be [N·F, C, H, W] with F = \(frames), got \(x.shape)")
        let (c, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        let clips = x.shape[0] / frames
        // The norms pool over all frames of a clip and the convolutions read along frames, so
        // they run on [N, C, F, H, W]: one permute in, one out.
        var h = x.reshaped([clips, frames, c, height, width]).permuted([0, 2, 1, 3, 4])
        for (norm, conv) in zip(norms, convs) { h = conv(norm(h).silu()) }
        return x + h.permuted([0, 2, 1, 3, 4]).reshaped(x.shape)
    }
}
