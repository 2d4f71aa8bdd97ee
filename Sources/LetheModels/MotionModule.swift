// AnimateDiff's motion module: diffusers' AnimateDiffTransformer3D
// (models/unets/unet_motion_model.py), the temporal transformer UNetMotionModel places after
// every resnet (and spatial transformer) of an image UNet. It attends across the frames of each
// pixel like TransformerTemporalModel, with one difference that matters for motion: a
// sinusoidal frame-position embedding (diffusers' SinusoidalPositionalEmbedding) is added to the
// normalised tokens before each of the block's two self-attentions, so frame order is visible to
// the attention (without it, "moving left" and "moving right" differ only by a permutation the
// attention cannot see).
//
// One implementation serves both: AnimateDiffTransformer3D is TransformerTemporalModel built
// with positions. Frames come folded into the batch axis, [N·F, C, H, W]; the group norm over
// each clip writes tokens [N·H·W, F, C] directly, the attention over F frames runs in the
// short-sequence kernel, and the way back is one transpose fused with the residual.

import Foundation
import LetheCore

/// diffusers' SinusoidalPositionalEmbedding: x [B, F, dim] + pe[:, :F], with
/// pe[0, p, 2i] = sin(p·ωᵢ), pe[0, p, 2i+1] = cos(p·ωᵢ), ωᵢ = exp(2i · (−ln 10000 / dim)).
/// `pe` is a persistent buffer in diffusers (state-dict key "pe", [1, max_seq_length, dim]), so
/// it is loaded from the checkpoint like a weight (a float16 checkpoint rounds it) but never trained.
public final class SinusoidalPositionalEmbedding: Module {
    public let pe: Tensor
    public let maxSequenceLength: Int
    public let dim: Int

    public init(dim: Int, maxSequenceLength: Int) {
        precondition(dim > 0 && dim % 2 == 0, "SinusoidalPositionalEmbedding: the width \(dim) must be even")
        precondition(maxSequenceLength > 0, "SinusoidalPositionalEmbedding: max_seq_length must be positive")
        self.dim = dim
        self.maxSequenceLength = maxSequenceLength
        pe = Self.table(dim: dim, maxSequenceLength: maxSequenceLength)
        super.init()
        buffer("pe", pe)
    }

    /// The table in torch's Float32 order of operations (arange · scalar, exp, position · ω, sin/cos).
    public static func table(dim: Int, maxSequenceLength: Int) -> Tensor {
        let scale = Float(-Foundation.log(10000.0) / Double(dim))
        let omegas = stride(from: 0, to: dim, by: 2).map { Foundation.exp(Float($0) * scale) }
        let t = Tensor.zeros([1, maxSequenceLength, dim])
        for p in 0..<maxSequenceLength {
            let row = t.pointer + p * dim
            for (i, omega) in omegas.enumerated() {
                let phase = Float(p) * omega
                row[2 * i] = Foundation.sin(phase)
                row[2 * i + 1] = Foundation.cos(phase)
            }
        }
        return t
    }

    /// x [B, F, dim] with F ≤ max_seq_length → x + pe[:, :F].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let frames = x.shape[1]
        precondition(x.rank == 3 && x.shape[2] == dim && frames <= maxSequenceLength,
                     "SinusoidalPositionalEmbedding: input must be [B, F ≤ \(maxSequenceLength), \(dim)], got \(x.shape) "
                        + "(motion_max_seq_length limits the number of frames)")
        let positions = frames == maxSequenceLength ? pe : pe.slice(axis: 1, range: 0..<frames)
        return x + positions
    }
}

/// diffusers' AnimateDiffTransformer3D: GroupNorm (eps 1e-6) over each clip, proj_in, temporal
/// transformer blocks with frame positions over the F frames of every pixel, proj_out, plus the
/// input — TransformerTemporalModel's layers and keys, built with `maxSequenceLength`.
public typealias AnimateDiffTransformer3D = TransformerTemporalModel
