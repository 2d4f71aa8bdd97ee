// The attention half of diffusers' UNets (models/transformers/transformer_2d.py, attention.py,
// attention_processor.py, activations.py) for continuous inputs with layer norms, which is what
// UNet2DConditionModel and UNet3DConditionModel build: Transformer2DModel → BasicTransformerBlock
// → Attention / FeedForward(GEGLU). Keys are diffusers' state-dict keys.
//
// Frames folded into the batch axis ([N·F, C, H, W]) may share one context of N rows: each
// item's F frames are adjacent in the batch, so their queries are attended together as one
// longer sequence against that item's keys, without repeating the context.

import Foundation
import LetheCore

/// diffusers' Attention (AttnProcessor2_0) without masks or extra projections:
/// to_out.0(softmax(q·kᵀ/√d)·v) with q = to_q(x), k = to_k(ctx), v = to_v(ctx), ctx = x for
/// self-attention.
public final class Attention: Module {
    public let heads: Int
    public let dimHead: Int
    public let toQ: Linear, toK: Linear, toV: Linear
    public let toOut: Linear
    public let isCrossAttention: Bool
    /// When set, each cross-attention pass adds its probabilities to it (a training loss on
    /// where words attend); nil, the usual case, costs nothing.
    public var mapRecorder: AttentionMapRecorder?

    /// - Parameter crossAttentionDim: the context's width; nil for self-attention.
    public init(queryDim: Int, crossAttentionDim: Int? = nil, heads: Int, dimHead: Int, bias: Bool = false,
                outBias: Bool = true, rng: inout RandomGenerator) {
        let inner = heads * dimHead
        self.heads = heads
        self.dimHead = dimHead
        isCrossAttention = crossAttentionDim != nil
        toQ = Linear(queryDim, inner, bias: bias, rng: &rng)
        toK = Linear(crossAttentionDim ?? queryDim, inner, bias: bias, rng: &rng)
        toV = Linear(crossAttentionDim ?? queryDim, inner, bias: bias, rng: &rng)
        toOut = Linear(inner, queryDim, bias: outBias, rng: &rng)
        super.init()
        child("to_q", toQ)
        child("to_k", toK)
        child("to_v", toV)
        let out = ModuleList()
        out.child("0", toOut)  // "1" is a Dropout, which has no parameters
        child("to_out", out)
    }

    /// x [B, L, queryDim], context [Bc, Lk, crossAttentionDim] with B a multiple of Bc (nil:
    /// self-attention) → [B, L, queryDim].
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        let source = context ?? x
        let b = x.shape[0], l = x.shape[1], bc = source.shape[0]
        precondition(bc > 0 && b % bc == 0, "Attention: context batch \(bc) does not divide query batch \(b)")
        let q = toQ(x), k = toK(source), v = toV(source)
        // Rows of item n's B/Bc samples are contiguous: attend them as one sequence.
        let inner = q.shape[2]
        let query = bc == b ? q : q.reshaped([bc, (b / bc) * l, inner])
        if let mapRecorder, isCrossAttention { mapRecorder.maps.append(probabilities(query: query, key: k)) }
        let o = scaledDotProductAttention(query: query, key: k, value: v, heads: heads).reshaped([b, l, inner])
        return toOut(o)
    }

    /// softmax(q·kᵀ/√d) averaged over heads, [Bc, Lq, Lk], with gradients: the fused attention
    /// keeps its probabilities to itself, so a loss on them computes them again.
    private func probabilities(query: Tensor, key: Tensor) -> Tensor {
        let (n, lq, lk) = (query.shape[0], query.shape[1], key.shape[1])
        let qh = query.reshaped([n, lq, heads, dimHead]).permuted([0, 2, 1, 3])
        let kh = key.reshaped([n, lk, heads, dimHead]).permuted([0, 2, 1, 3])
        let scores = qh.matmul(kh, transposeB: true) * (1 / Float(dimHead).squareRoot())
        return scores.softmax(axis: -1).mean(axis: 1)
    }
}

/// Collects the cross-attention maps of the Attention modules it is attached to, in the order
/// they run: [Bc, Lq, Lk] each, averaged over heads (TokenCompose's grounding loss reads them).
public final class AttentionMapRecorder {
    public var maps: [Tensor] = []

    public init() {}

    /// Attaches a recorder to every cross-attention module under `module`; returns it.
    public static func attach(to module: Module) -> AttentionMapRecorder {
        let recorder = AttentionMapRecorder()
        for attention in crossAttentions(in: module) { attention.mapRecorder = recorder }
        return recorder
    }

    /// Detaches every recorder under `module`.
    public static func detach(from module: Module) {
        for attention in crossAttentions(in: module) { attention.mapRecorder = nil }
    }

    private static func crossAttentions(in module: Module) -> [Attention] {
        var found: [Attention] = []
        func visit(_ m: Module) {
            if let a = m as? Attention, a.isCrossAttention { found.append(a) }
            for (_, child) in m.children { visit(child) }
        }
        visit(module)
        return found
    }
}

/// diffusers' GEGLU: proj to twice the width, then hidden · gelu(gate).
public final class GEGLU: Module {
    public let proj: Linear

    public init(dimIn: Int, dimOut: Int, rng: inout RandomGenerator) {
        proj = Linear(dimIn, 2 * dimOut, rng: &rng)
        super.init()
        child("proj", proj)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { proj(x).geglu() }
}

/// diffusers' FeedForward with activation_fn "geglu": net.0 (GEGLU), net.1 (Dropout), net.2 (Linear).
public final class FeedForward: Module {
    public let geglu: GEGLU
    public let projOut: Linear

    public init(dim: Int, mult: Int = 4, rng: inout RandomGenerator) {
        let inner = dim * mult
        geglu = GEGLU(dimIn: dim, dimOut: inner, rng: &rng)
        projOut = Linear(inner, dim, rng: &rng)
        super.init()
        let net = ModuleList()
        net.child("0", geglu)
        net.child("2", projOut)
        child("net", net)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { projOut(geglu(x)) }
}

/// diffusers' BasicTransformerBlock with norm_type "layer_norm": self-attention, cross-attention
/// to the context, feed-forward, each pre-normed and residual.
public final class BasicTransformerBlock: Module {
    public let norm1: LayerNorm, attn1: Attention
    public let norm2: LayerNorm, attn2: Attention
    public let norm3: LayerNorm, ff: FeedForward
    /// attn1 attends to the context too (diffusers' only_cross_attention).
    public let onlyCrossAttention: Bool

    public init(dim: Int, numAttentionHeads: Int, attentionHeadDim: Int, crossAttentionDim: Int,
                onlyCrossAttention: Bool = false, normEps: Float = 1e-5, rng: inout RandomGenerator) {
        self.onlyCrossAttention = onlyCrossAttention
        norm1 = LayerNorm(dim, eps: normEps)
        attn1 = Attention(queryDim: dim, crossAttentionDim: onlyCrossAttention ? crossAttentionDim : nil,
                          heads: numAttentionHeads, dimHead: attentionHeadDim, rng: &rng)
        norm2 = LayerNorm(dim, eps: normEps)
        attn2 = Attention(queryDim: dim, crossAttentionDim: crossAttentionDim, heads: numAttentionHeads,
                          dimHead: attentionHeadDim, rng: &rng)
        norm3 = LayerNorm(dim, eps: normEps)
        ff = FeedForward(dim: dim, rng: &rng)
        super.init()
        child("norm1", norm1)
        child("attn1", attn1)
        child("norm2", norm2)
        child("attn2", attn2)
        child("norm3", norm3)
        child("ff", ff)
    }

    /// x [B, L, dim], context [Bc, Lk, crossAttentionDim] → [B, L, dim].
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var h = attn1(norm1(x), context: onlyCrossAttention ? context : nil) + x
        h = attn2(norm2(h), context: context) + h
        return ff(norm3(h)) + h
    }
}

/// diffusers' Transformer2DModel for continuous [B, C, H, W] inputs: GroupNorm (eps 1e-6),
/// proj_in, transformer blocks over the H·W positions, proj_out, plus the input.
/// proj_in/proj_out are 1×1 convs or Linears (use_linear_projection); both run here as one GEMM
/// on the token layout, the conv weight [out, in, 1, 1] being viewed as [out, in].
public final class Transformer2DModel: Module {
    public let norm: GroupNorm
    public let projInWeight: Tensor, projInBias: Tensor
    public let transformerBlocks: [BasicTransformerBlock]
    public let projOutWeight: Tensor, projOutBias: Tensor
    public let useLinearProjection: Bool
    public let innerDim: Int

    public init(numAttentionHeads: Int, attentionHeadDim: Int, inChannels: Int, numLayers: Int = 1,
                crossAttentionDim: Int, normNumGroups: Int = 32, useLinearProjection: Bool = false,
                onlyCrossAttention: Bool = false, rng: inout RandomGenerator) {
        let inner = numAttentionHeads * attentionHeadDim
        innerDim = inner
        self.useLinearProjection = useLinearProjection
        norm = GroupNorm(groups: normNumGroups, channels: inChannels, eps: 1e-6)
        let projIn: Module, projOut: Module
        if useLinearProjection {
            let i = Linear(inChannels, inner, rng: &rng), o = Linear(inner, inChannels, rng: &rng)
            (projInWeight, projInBias, projOutWeight, projOutBias) = (i.weight, i.bias!, o.weight, o.bias!)
            (projIn, projOut) = (i, o)
        } else {
            let i = Conv2d(inChannels, inner, kernelSize: 1, rng: &rng), o = Conv2d(inner, inChannels, kernelSize: 1, rng: &rng)
            (projInWeight, projInBias, projOutWeight, projOutBias) = (i.weight, i.bias!, o.weight, o.bias!)
            (projIn, projOut) = (i, o)
        }
        transformerBlocks = (0..<numLayers).map { _ in
            BasicTransformerBlock(dim: inner, numAttentionHeads: numAttentionHeads, attentionHeadDim: attentionHeadDim,
                                  crossAttentionDim: crossAttentionDim, onlyCrossAttention: onlyCrossAttention, rng: &rng)
        }
        super.init()
        child("norm", norm)
        child("proj_in", projIn)
        children("transformer_blocks", transformerBlocks)
        child("proj_out", projOut)
    }

    /// x [B, C, H, W], context [Bc, L, crossAttentionDim] with B a multiple of Bc → [B, C, H, W].
    public func callAsFunction(_ x: Tensor, context: Tensor?) -> Tensor {
        precondition(x.rank == 4, "Transformer2DModel: input must be [B, C, H, W], got \(x.shape)")
        guard let context else { preconditionFailure("Transformer2DModel: cross-attention needs encoder_hidden_states") }
        let (b, c, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let inner = innerDim
        var h = norm(x).permuted([0, 2, 3, 1]).reshaped([b, height * width, c])
        h = h.linear(weight: projInWeight.reshaped([inner, c]), bias: projInBias)
        for block in transformerBlocks { h = block(h, context: context) }
        h = h.linear(weight: projOutWeight.reshaped([c, inner]), bias: projOutBias)
        return h.reshaped([b, height, width, c]).permuted([0, 3, 1, 2]) + x
    }
}
