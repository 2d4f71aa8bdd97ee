// diffusers' TransformerTemporalModel (models/transformers/transformer_temporal.py): attention
// across the frames of each pixel. Each clip's frames come folded into the batch axis,
// [N·F, C, H, W]; the model group-normalises over whole clips, attends over the F frames of
// each of the N·H·W pixels ([N·H·W, F, C] tokens), and adds the input back.
//
// diffusers gets there with a permute to [N, C, F, H, W] for the norm and another to tokens, and
// two more on the way back. Here the norm writes its output directly in token order and the
// return trip is one transpose fused with the residual add: [N, F, C, H·W] and [N, H·W, F, C] are
// the same matrix transposed per clip ([F·C, H·W] ↔ [H·W, F·C]).

import Foundation
import LetheCore

/// diffusers' BasicTransformerBlock as the temporal transformers build it (double_self_attention,
/// no encoder states, GEGLU): self-attention, a second self-attention, feed-forward, each
/// pre-normed and residual. AnimateDiff's motion modules (positional_embeddings "sinusoidal")
/// also add frame positions (`pos_embed`) to the normed tokens before each attention;
/// TransformerTemporalModel's blocks have none.
public final class TemporalTransformerBlock: Module {
    public let posEmbed: SinusoidalPositionalEmbedding?
    public let norm1: LayerNorm, attn1: Attention
    public let norm2: LayerNorm, attn2: Attention
    public let norm3: LayerNorm, ff: FeedForward

    /// `maxSequenceLength`: the length of the frame-position table, or nil for no positions.
    public init(dim: Int, numAttentionHeads: Int, attentionHeadDim: Int, maxSequenceLength: Int? = nil, normEps: Float = 1e-5,
                rng: inout RandomGenerator) {
        posEmbed = maxSequenceLength.map { SinusoidalPositionalEmbedding(dim: dim, maxSequenceLength: $0) }
        norm1 = LayerNorm(dim, eps: normEps)
        attn1 = Attention(queryDim: dim, heads: numAttentionHeads, dimHead: attentionHeadDim, rng: &rng)
        norm2 = LayerNorm(dim, eps: normEps)
        attn2 = Attention(queryDim: dim, heads: numAttentionHeads, dimHead: attentionHeadDim, rng: &rng)
        norm3 = LayerNorm(dim, eps: normEps)
        ff = FeedForward(dim: dim, rng: &rng)
        super.init()
        if let posEmbed { child("pos_embed", posEmbed) }
        child("norm1", norm1)
        child("attn1", attn1)
        child("norm2", norm2)
        child("attn2", attn2)
        child("norm3", norm3)
        child("ff", ff)
    }

    /// x [B, F, dim] (B sequences of F frames) → [B, F, dim].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = temporalSelfAttention(attn1, positioned(norm1(x))) + x
        h = temporalSelfAttention(attn2, positioned(norm2(h))) + h
        return ff(norm3(h)) + h
    }

    private func positioned(_ x: Tensor) -> Tensor { posEmbed.map { $0(x) } ?? x }
}

/// Self-attention of `attn` over x [B, F, dim]: the attention's own projections around a kernel
/// for short sequences. Temporal attention runs N·H·W sequences of only F frames, where one pair
/// of GEMM calls per sequence and head would cost far more in call overhead than in arithmetic.
func temporalSelfAttention(_ attn: Attention, _ x: Tensor) -> Tensor {
    guard x.shape[1] <= shortSequenceLimit else { return attn(x) }
    return attn.toOut(shortSequenceAttention(query: attn.toQ(x), key: attn.toK(x), value: attn.toV(x), heads: attn.heads))
}

/// Sequences up to this length use `shortSequenceAttention`; longer ones the GEMM-based attention.
let shortSequenceLimit = 32

/// Also AnimateDiff's motion module (`AnimateDiffTransformer3D`, built with `maxSequenceLength`):
/// the same layers and keys, plus frame positions in its blocks.
public final class TransformerTemporalModel: Module {
    public let norm: GroupNorm
    public let projIn: Linear
    public let transformerBlocks: [TemporalTransformerBlock]
    public let projOut: Linear
    public let numAttentionHeads: Int
    public let attentionHeadDim: Int
    /// The frame-position table's length (motion_max_seq_length); nil: no positions.
    public let maxSequenceLength: Int?

    /// - Parameters:
    ///   - numAttentionHeads, attentionHeadDim: the attention's layout; the tokens are
    ///     heads·headDim wide, which need not equal `inChannels` (proj_in/proj_out convert).
    ///   - maxSequenceLength: AnimateDiff's motion_max_seq_length, the most frames the position
    ///     table covers; nil for diffusers' TransformerTemporalModel, which has no positions.
    public init(numAttentionHeads: Int, attentionHeadDim: Int, inChannels: Int, numLayers: Int = 1,
                normNumGroups: Int = 32, maxSequenceLength: Int? = nil, rng: inout RandomGenerator) {
        let inner = numAttentionHeads * attentionHeadDim
        self.numAttentionHeads = numAttentionHeads
        self.attentionHeadDim = attentionHeadDim
        self.maxSequenceLength = maxSequenceLength
        norm = GroupNorm(groups: normNumGroups, channels: inChannels, eps: 1e-6)
        projIn = Linear(inChannels, inner, rng: &rng)
        transformerBlocks = (0..<numLayers).map { _ in
            TemporalTransformerBlock(dim: inner, numAttentionHeads: numAttentionHeads, attentionHeadDim: attentionHeadDim,
                                     maxSequenceLength: maxSequenceLength, rng: &rng)
        }
        projOut = Linear(inner, inChannels, rng: &rng)
        super.init()
        child("norm", norm)
        child("proj_in", projIn)
        children("transformer_blocks", transformerBlocks)
        child("proj_out", projOut)
    }

    /// x [N·F, C, H, W] (each clip's frames adjacent, F ≤ maxSequenceLength) → [N·F, C, H, W].
    public func callAsFunction(_ x: Tensor, frames: Int) -> Tensor {
        precondition(x.rank == 4 && frames > 0 && x.shape[0] % frames == 0,
                     "TransformerTemporalModel: input must be [N·F, C, H, W] with F = \(frames), got \(x.shape)")
        precondition(maxSequenceLength.map { frames <= $0 } ?? true,
                     "TransformerTemporalModel: \(frames) frames exceed motion_max_seq_length \(maxSequenceLength ?? 0)")
        var h = x.temporalGroupNormTokens(frames: frames, groups: norm.groups, weight: norm.weight, bias: norm.bias, eps: norm.eps)
        h = projIn(h)
        for block in transformerBlocks { h = block(h) }
        return projOut(h).framesFromTemporalTokens(adding: x, frames: frames)
    }

    /// Zeroes proj_out, which makes the module the identity (its residual passes the input
    /// through): how a fresh temporal layer joins a trained image UNet without changing it.
    public func zeroOutput() {
        projOut.weight.assign(Tensor.zeros(projOut.weight.shape))
        if let bias = projOut.bias { bias.assign(Tensor.zeros(bias.shape)) }
    }
}

// MARK: - Layout ops

extension Tensor {
    /// Group norm of each clip followed by the token layout of temporal attention:
    /// x [N·F, C, H, W] → [N·H·W, F, C], where the statistics of clip n, group g pool the group's
    /// channels over all F frames and H·W pixels (torch's GroupNorm on [N, C, F, H, W]), and then
    /// the per-channel affine `weight`·x̂ + `bias`.
    public func temporalGroupNormTokens(frames: Int, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        precondition(rank == 4 && frames > 0 && shape[0] % frames == 0,
                     "temporalGroupNormTokens: input must be [N·F, C, H, W] with F = \(frames), got \(shape)")
        let clips = shape[0] / frames, channels = shape[1], plane = shape[2] * shape[3]
        precondition(groups > 0 && channels % groups == 0, "temporalGroupNormTokens: \(channels) channels do not split into \(groups) groups")
        if let weight { precondition(weight.shape == [channels], "temporalGroupNormTokens: weight \(weight.shape) for \(channels) channels") }
        if let bias { precondition(bias.shape == [channels], "temporalGroupNormTokens: bias \(bias.shape) for \(channels) channels") }
        let perGroup = channels / groups
        let run = perGroup * plane                 // one group of one frame: contiguous
        let groupCount = Double(run * frames)
        let clipStride = frames * channels * plane
        let xp = pointer, wp = weight?.pointer, bp = bias?.pointer

        // Per (clip, group): mean and 1/σ, two passes in Double over the F runs.
        let stats = ClipGroupStatistics(count: clips * groups)
        parallelFor(clips * groups, grain: max(1, 32768 / max(run * frames, 1))) { range in
            for ng in range {
                let n = ng / groups, g = ng % groups
                let base = xp + n * clipStride + g * run
                var total = 0.0
                for f in 0..<frames { total += sumDouble(base + f * channels * plane, run) }
                let mean = total / groupCount
                var squares = 0.0
                for f in 0..<frames { squares += squaredDeviations(base + f * channels * plane, run, mean: mean) }
                stats.mean[ng] = Float(mean)
                stats.rstd[ng] = Float(1 / (squares / groupCount + Double(eps)).squareRoot())
            }
        }
        // y = x·scale + shift per (clip, channel) folds normalisation and affine into one FMA.
        let scale = UnsafeMutablePointer<Float>.allocate(capacity: max(clips * channels, 1))
        let shift = UnsafeMutablePointer<Float>.allocate(capacity: max(clips * channels, 1))
        defer { scale.deallocate(); shift.deallocate() }
        for n in 0..<clips {
            for c in 0..<channels {
                let ng = n * groups + c / perGroup, i = n * channels + c
                scale[i] = stats.rstd[ng] * (wp?[c] ?? 1)
                shift[i] = (bp?[c] ?? 0) - stats.mean[ng] * scale[i]
            }
        }
        let out = Tensor(uninitializedShape: [clips * plane, frames, channels])
        transposeClips(xp, out.pointer, clips: clips, rows: frames * channels, columns: plane,
                       rowScale: scale, rowShift: shift, period: channels)

        let x = self
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return Autograd.record(out, "temporal_group_norm_tokens", inputs: inputs) { g in
            // Back to the input's layout, then torch's group-norm backward per (clip, group).
            let gx = Tensor(uninitializedShape: x.shape)
            transposeClips(g.pointer, gx.pointer, clips: clips, rows: plane, columns: frames * channels)
            let sumDy = UnsafeMutablePointer<Double>.allocate(capacity: max(clips * channels, 1))
            let sumDyX = UnsafeMutablePointer<Double>.allocate(capacity: max(clips * channels, 1))
            defer { sumDy.deallocate(); sumDyX.deallocate() }
            sumDy.initialize(repeating: 0, count: max(clips * channels, 1))
            sumDyX.initialize(repeating: 0, count: max(clips * channels, 1))
            let dp = gx.pointer
            // Σ dy and Σ dy·x per (clip, channel), summed over frames and pixels.
            parallelFor(clips * channels, grain: max(1, 16384 / max(frames * plane, 1))) { range in
                for nc in range {
                    let n = nc / channels, c = nc % channels
                    var s = 0.0, sx = 0.0
                    for f in 0..<frames {
                        let offset = ((n * frames + f) * channels + c) * plane
                        s += sumDouble(dp + offset, plane)
                        sx += dotDouble(dp + offset, xp + offset, plane)
                    }
                    sumDy[nc] = s
                    sumDyX[nc] = sx
                }
            }
            var grads: [Tensor?] = []
            if x.requiresGrad {
                parallelFor(clips * groups, grain: 1) { range in
                    for ng in range {
                        let n = ng / groups, firstChannel = (ng % groups) * perGroup
                        let m = Double(stats.mean[ng]), r = Double(stats.rstd[ng])
                        // With x̂ = (x−m)·r and g = dy·w: dx = r·(g − mean(g) − x̂·mean(g·x̂)).
                        var sumG = 0.0, sumGXhat = 0.0
                        for j in 0..<perGroup {
                            let c = firstChannel + j, nc = n * channels + c
                            let w = Double(wp?[c] ?? 1)
                            sumG += w * sumDy[nc]
                            sumGXhat += w * r * (sumDyX[nc] - m * sumDy[nc])
                        }
                        let meanG = sumG / groupCount, meanGXhat = sumGXhat / groupCount
                        let xCoef = Float(-r * r * meanGXhat)
                        let constant = Float(r * (r * m * meanGXhat - meanG))
                        for f in 0..<frames {
                            for j in 0..<perGroup {
                                let c = firstChannel + j
                                let dyCoef = Float(r) * (wp?[c] ?? 1)
                                let offset = ((n * frames + f) * channels + c) * plane
                                let d = dp + offset, xs = xp + offset
                                for s in 0..<plane { d[s] = dyCoef * d[s] + xCoef * xs[s] + constant }
                            }
                        }
                    }
                }
                grads.append(gx)
            } else {
                grads.append(nil)
            }
            if let weight {
                var gw: Tensor? = nil
                if weight.requiresGrad {
                    // dw[c] = Σ_n r·(Σ dy·x − m·Σ dy)
                    let t = Tensor.zeros([channels])
                    for c in 0..<channels {
                        var acc = 0.0
                        for n in 0..<clips {
                            let ng = n * groups + c / perGroup, nc = n * channels + c
                            acc += Double(stats.rstd[ng]) * (sumDyX[nc] - Double(stats.mean[ng]) * sumDy[nc])
                        }
                        t.pointer[c] = Float(acc)
                    }
                    gw = t
                }
                grads.append(gw)
            }
            if let bias {
                var gb: Tensor? = nil
                if bias.requiresGrad {
                    let t = Tensor.zeros([channels])
                    for c in 0..<channels {
                        var acc = 0.0
                        for n in 0..<clips { acc += sumDy[n * channels + c] }
                        t.pointer[c] = Float(acc)
                    }
                    gb = t
                }
                grads.append(gb)
            }
            return grads
        }
    }

    /// The inverse layout of `temporalGroupNormTokens` plus a residual: tokens [N·H·W, F, C]
    /// → [N·F, C, H, W] shaped like `residual`, with `residual` added.
    public func framesFromTemporalTokens(adding residual: Tensor, frames: Int) -> Tensor {
        precondition(residual.rank == 4 && frames > 0 && residual.shape[0] % frames == 0,
                     "framesFromTemporalTokens: residual must be [N·F, C, H, W] with F = \(frames), got \(residual.shape)")
        let clips = residual.shape[0] / frames, channels = residual.shape[1], plane = residual.shape[2] * residual.shape[3]
        precondition(shape == [clips * plane, frames, channels],
                     "framesFromTemporalTokens: tokens \(shape) do not fit frames \(residual.shape) (expected [\(clips * plane), \(frames), \(channels)])")
        let out = Tensor(uninitializedShape: residual.shape)
        transposeClips(pointer, out.pointer, clips: clips, rows: plane, columns: frames * channels, addend: residual.pointer)
        let tokenShape = shape
        return Autograd.record(out, "frames_from_temporal_tokens", inputs: [self, residual]) { g in
            let gt = Tensor(uninitializedShape: tokenShape)
            transposeClips(g.pointer, gt.pointer, clips: clips, rows: frames * channels, columns: plane)
            return [gt, g]
        }
    }
}

// MARK: - Attention over short sequences

/// softmax(q·kᵀ/√d)·v for each sequence and head, like `scaledDotProductAttention`, computed with
/// SIMD loops instead of GEMM calls: query [B, Lq, heads·d], key and value [B, Lk, heads·d] →
/// [B, Lq, heads·d]. Meant for many short sequences (frames of each pixel), where the work per
/// (sequence, head) is a few hundred multiply-adds. Backward recomputes the probabilities, which
/// costs one more pass of dot products and keeps no B·heads·Lq·Lk buffer alive on the tape.
public func shortSequenceAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int) -> Tensor {
    precondition(query.rank == 3 && key.rank == 3 && value.rank == 3,
                 "shortSequenceAttention: query \(query.shape), key \(key.shape), value \(value.shape) must be [B, L, heads·d]")
    let batch = query.shape[0], lq = query.shape[1], lk = key.shape[1], width = query.shape[2]
    precondition(key.shape[0] == batch && value.shape[0] == batch && value.shape[1] == lk
                    && key.shape[2] == width && value.shape[2] == width && heads > 0 && width % heads == 0,
                 "shortSequenceAttention: query \(query.shape), key \(key.shape), value \(value.shape) do not fit \(heads) heads")
    let d = width / heads
    let scale = 1 / Float(d).squareRoot()
    let out = Tensor.zeros([batch, lq, width])
    let qp = query.pointer, kp = key.pointer, vp = value.pointer, op = out.pointer
    let grain = max(1, 8192 / max(heads * lq * lk * d, 1))

    /// Row i of head h of sequence b: softmax of the scores into p[0..<lk].
    @inline(__always) func probabilities(_ b: Int, _ h: Int, _ i: Int, into p: UnsafeMutablePointer<Float>) {
        let q = qp + (b * lq + i) * width + h * d
        var top = -Float.infinity
        for j in 0..<lk {
            p[j] = scale * dotD(q, kp + (b * lk + j) * width + h * d, d)
            top = max(top, p[j])
        }
        var total: Float = 0
        for j in 0..<lk { p[j] = Foundation.exp(p[j] - top); total += p[j] }
        let inverse = 1 / total
        for j in 0..<lk { p[j] *= inverse }
    }

    parallelFor(batch, grain: grain) { range in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(lk, 1))
        defer { p.deallocate() }
        for b in range {
            for h in 0..<heads {
                for i in 0..<lq {
                    probabilities(b, h, i, into: p)
                    let o = op + (b * lq + i) * width + h * d
                    for j in 0..<lk { axpyD(p[j], vp + (b * lk + j) * width + h * d, o, d) }
                }
            }
        }
    }

    return Autograd.record(out, "short_sequence_attention", inputs: [query, key, value]) { g in
        let gq = query.requiresGrad ? Tensor.zeros(query.shape) : nil
        let gk = key.requiresGrad ? Tensor.zeros(key.shape) : nil
        let gv = value.requiresGrad ? Tensor.zeros(value.shape) : nil
        let gp = g.pointer
        let gqp = gq?.pointer, gkp = gk?.pointer, gvp = gv?.pointer
        // Each sequence's gradients touch only its own rows, so sequences split over the cores.
        parallelFor(batch, grain: grain) { range in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(2 * lk, 1))
            defer { p.deallocate() }
            let ds = p + lk
            for b in range {
                for h in 0..<heads {
                    for i in 0..<lq {
                        probabilities(b, h, i, into: p)
                        let go = gp + (b * lq + i) * width + h * d
                        // dP_j = dO_i·v_j; dS_j = P_j·(dP_j − Σ P·dP)
                        var rowDot: Float = 0
                        for j in 0..<lk {
                            let v = vp + (b * lk + j) * width + h * d
                            ds[j] = dotD(go, v, d)
                            rowDot += p[j] * ds[j]
                            if let gvp { axpyD(p[j], go, gvp + (b * lk + j) * width + h * d, d) }
                        }
                        for j in 0..<lk { ds[j] = scale * p[j] * (ds[j] - rowDot) }
                        let q = qp + (b * lq + i) * width + h * d
                        for j in 0..<lk {
                            let row = (b * lk + j) * width + h * d
                            if let gqp { axpyD(ds[j], kp + row, gqp + (b * lq + i) * width + h * d, d) }
                            if let gkp { axpyD(ds[j], q, gkp + row, d) }
                        }
                    }
                }
            }
        }
        return [gq, gk, gv]
    }
}

/// Σ a[i]·b[i] for i < n, n being a head width.
@inline(__always)
private func dotD(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        acc += load8(a + i) * load8(b + i)
        i += 8
    }
    var total = acc.sum()
    while i < n { total += a[i] * b[i]; i += 1 }
    return total
}

/// y[i] += alpha·x[i] for i < n.
@inline(__always)
private func axpyD(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let a = SIMD8<Float>(repeating: alpha)
    var i = 0
    while i + 8 <= n {
        UnsafeMutableRawPointer(y + i).storeBytes(of: load8(UnsafePointer(y + i)) + a * load8(x + i), as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}

/// Statistics kept by the norm's forward for its backward, freed with the tape node.
private final class ClipGroupStatistics {
    let mean: UnsafeMutablePointer<Float>
    let rstd: UnsafeMutablePointer<Float>
    init(count: Int) {
        mean = .allocate(capacity: max(count, 1))
        rstd = .allocate(capacity: max(count, 1))
    }
    deinit {
        mean.deallocate()
        rstd.deallocate()
    }
}

/// dst[n][c][r] = src[n][r][c]·scale[n·period + r % period] + shift[…] + addend[n][c][r]
/// for each of `clips` [rows, columns] matrices (scale/shift/addend optional). Square tiles keep
/// both the reads and the strided writes within a few cache lines.
private func transposeClips(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, clips: Int, rows: Int, columns: Int,
                            rowScale: UnsafePointer<Float>? = nil, rowShift: UnsafePointer<Float>? = nil, period: Int = 1,
                            addend: UnsafePointer<Float>? = nil) {
    let tile = 16
    let rowTiles = (rows + tile - 1) / tile
    parallelFor(clips * rowTiles, grain: max(1, 16384 / max(tile * columns, 1))) { range in
        for item in range {
            let n = item / rowTiles, r0 = (item % rowTiles) * tile, r1 = min(r0 + tile, rows)
            let s = src + n * rows * columns, d = dst + n * rows * columns
            let a = addend.map { $0 + n * rows * columns }
            var c0 = 0
            while c0 < columns {
                let c1 = min(c0 + tile, columns)
                for r in r0..<r1 {
                    let k = n * period + r % period
                    let scale = rowScale?[k] ?? 1, shift = rowShift?[k] ?? 0
                    let srow = s + r * columns
                    if let a {
                        for c in c0..<c1 { d[c * rows + r] = srow[c] * scale + shift + a[c * rows + r] }
                    } else {
                        for c in c0..<c1 { d[c * rows + r] = srow[c] * scale + shift }
                    }
                }
                c0 = c1
            }
        }
    }
}

@inline(__always)
private func sumDouble(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD8<Float>(), total: Double = 0
    var i = 0
    while i + 8 <= n {
        acc += load8(p + i)
        i += 8
        if i % 4096 == 0 { total += Double(acc.sum()); acc = SIMD8<Float>() }
    }
    total += Double(acc.sum())
    while i < n { total += Double(p[i]); i += 1 }
    return total
}

@inline(__always)
private func squaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean: Double) -> Double {
    let m = SIMD8<Float>(repeating: Float(mean))
    var acc = SIMD8<Float>(), total: Double = 0
    var i = 0
    while i + 8 <= n {
        let d = load8(p + i) - m
        acc += d * d
        i += 8
        if i % 4096 == 0 { total += Double(acc.sum()); acc = SIMD8<Float>() }
    }
    total += Double(acc.sum())
    let mf = Float(mean)
    while i < n { let d = p[i] - mf; total += Double(d * d); i += 1 }
    return total
}

@inline(__always)
private func dotDouble(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD8<Float>(), total: Double = 0
    var i = 0
    while i + 8 <= n {
        acc += load8(a + i) * load8(b + i)
        i += 8
        if i % 4096 == 0 { total += Double(acc.sum()); acc = SIMD8<Float>() }
    }
    total += Double(acc.sum())
    while i < n { total += Double(a[i] * b[i]); i += 1 }
    return total
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
