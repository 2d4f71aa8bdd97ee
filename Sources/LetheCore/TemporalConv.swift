// Convolution along the frame axis of a video tensor: torch.nn.Conv3d with kernel (kF, 1, 1),
// as diffusers' TemporalConvLayer uses it.
//
// Per sample, a channel's frames are one contiguous run of F·H·W values, so shifting by t
// frames is shifting the GEMM's operand pointer by t·H·W. Each kernel tap is then one GEMM on
// the input as laid out — [Cout, Cin] · [Cin, frames·H·W] with leading dimension F·H·W — and
// no im2col copy is needed. Padding frames are simply the rows a tap does not reach.

import Foundation

/// The sizes of one temporal convolution.
private struct TemporalConvGeometry {
    let batch, inChannels, frames, plane: Int
    let outChannels, taps, padding, outFrames: Int

    init(input: [Int], weight: [Int], padding: Int) {
        precondition(input.count == 5, "temporalConv: input must be [N, C, F, H, W], got \(input)")
        precondition(weight.count == 5 && weight[3] == 1 && weight[4] == 1,
                     "temporalConv: weight must be [Cout, Cin, kF, 1, 1], got \(weight)")
        precondition(weight[1] == input[1], "temporalConv: weight \(weight) expects \(weight[1]) input channels, input \(input) has \(input[1])")
        precondition(padding >= 0, "temporalConv: padding must be non-negative, got \(padding)")
        batch = input[0]; inChannels = input[1]; frames = input[2]; plane = input[3] * input[4]
        outChannels = weight[0]; taps = weight[2]
        self.padding = padding
        outFrames = frames + 2 * padding - taps + 1
        precondition(outFrames >= 1, "temporalConv: kernel of \(taps) frames longer than \(frames) frames + padding \(padding)")
    }

    /// Output frames f that tap t reads from a real input frame f + t − padding.
    func validFrames(tap t: Int) -> Range<Int> {
        let lo = max(0, padding - t), hi = min(outFrames, frames + padding - t)
        return lo..<max(lo, hi)
    }

    var inSample: Int { inChannels * frames * plane }
    var outSample: Int { outChannels * outFrames * plane }
    var inRow: Int { frames * plane }
    var outRow: Int { outFrames * plane }
}

extension Tensor {
    /// torch.nn.Conv3d with kernel (kF, 1, 1) and padding (padding, 0, 0): input [N, Cin, F, H, W],
    /// weight [Cout, Cin, kF, 1, 1], bias [Cout] → [N, Cout, F + 2·padding − kF + 1, H, W].
    public func temporalConv(weight: Tensor, bias: Tensor? = nil, padding: Int = 0) -> Tensor {
        let geo = TemporalConvGeometry(input: shape, weight: weight.shape, padding: padding)
        if let bias {
            precondition(bias.shape == [geo.outChannels], "temporalConv: bias \(bias.shape) for \(geo.outChannels) output channels")
        }
        let cout = geo.outChannels, cin = geo.inChannels
        let out = Tensor(uninitializedShape: [geo.batch, cout, geo.outFrames, shape[3], shape[4]])
        // Tap-major weight [kF, Cout, Cin]: each tap's matrix contiguous for the GEMM.
        let tapWeights = tapMajor(weight.pointer, outChannels: cout, inChannels: cin, taps: geo.taps)
        let x = self
        if let bias {
            fillWithBias(out.pointer, bias: bias.pointer, batch: geo.batch, channels: cout, plane: geo.outRow)
        } else {
            out.pointer.update(repeating: 0, count: out.count)
        }
        for n in 0..<geo.batch {
            for t in 0..<geo.taps {
                let f = geo.validFrames(tap: t)
                if f.isEmpty { continue }
                sgemm(m: cout, n: f.count * geo.plane, k: cin,
                      a: tapWeights.pointer + t * cout * cin, lda: cin,
                      b: x.pointer + n * geo.inSample + (f.lowerBound + t - padding) * geo.plane, ldb: geo.inRow,
                      beta: 1, c: out.pointer + n * geo.outSample + f.lowerBound * geo.plane, ldc: geo.outRow)
            }
        }

        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record(out, "temporal_conv", inputs: inputs) { g in
            var grads: [Tensor?] = [nil, nil]
            if x.requiresGrad {
                let gx = Tensor.zeros(x.shape)
                for n in 0..<geo.batch {
                    for t in 0..<geo.taps {
                        let f = geo.validFrames(tap: t)
                        if f.isEmpty { continue }
                        // dX[:, f + t − p] += W_tᵀ · dY[:, f]
                        sgemm(transA: true, m: cin, n: f.count * geo.plane, k: cout,
                              a: tapWeights.pointer + t * cout * cin, lda: cin,
                              b: g.pointer + n * geo.outSample + f.lowerBound * geo.plane, ldb: geo.outRow,
                              beta: 1, c: gx.pointer + n * geo.inSample + (f.lowerBound + t - padding) * geo.plane, ldc: geo.inRow)
                    }
                }
                grads[0] = gx
            }
            if weight.requiresGrad {
                let gTap = Tensor.zeros([geo.taps, cout, cin])
                for n in 0..<geo.batch {
                    for t in 0..<geo.taps {
                        let f = geo.validFrames(tap: t)
                        if f.isEmpty { continue }
                        // dW_t += dY[:, f] · X[:, f + t − p]ᵀ
                        sgemm(transB: true, m: cout, n: cin, k: f.count * geo.plane,
                              a: g.pointer + n * geo.outSample + f.lowerBound * geo.plane, lda: geo.outRow,
                              b: x.pointer + n * geo.inSample + (f.lowerBound + t - padding) * geo.plane, ldb: geo.inRow,
                              beta: 1, c: gTap.pointer + t * cout * cin, ldc: cin)
                    }
                }
                let gw = Tensor(uninitializedShape: weight.shape)
                for o in 0..<cout {
                    for i in 0..<cin {
                        for t in 0..<geo.taps {
                            gw.pointer[(o * cin + i) * geo.taps + t] = gTap.pointer[(t * cout + o) * cin + i]
                        }
                    }
                }
                grads[1] = gw
            }
            if let bias {
                grads.append(bias.requiresGrad ? channelSums(g.pointer, batch: geo.batch, channels: cout, plane: geo.outRow) : nil)
            }
            return grads
        }
    }
}

/// [Cout, Cin, kF] → [kF, Cout, Cin].
private func tapMajor(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, taps: Int) -> Tensor {
    let out = Tensor(uninitializedShape: [taps, outChannels, inChannels])
    for o in 0..<outChannels {
        for i in 0..<inChannels {
            for t in 0..<taps {
                out.pointer[(t * outChannels + o) * inChannels + i] = w[(o * inChannels + i) * taps + t]
            }
        }
    }
    return out
}
