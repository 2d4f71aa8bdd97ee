// Multi-head scaled dot-product attention on inputs already projected (what diffusers'
// attention processor does between to_q/to_k/to_v and to_out).
//
// Heads are never split out into their own tensors: head h of batch item n is the column block
// [h·d, (h+1)·d) of the rows of item n, and sgemm reads and writes it in place through its
// leading dimension (heads·d). Per (item, head): S = scale·Q·Kᵀ, one fused softmax per row,
// O = P·V. The probabilities P are kept for backward:
//   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q.
// Keeping P costs B·heads·Lq·Lk floats while recording (33.5 MB at batch 32, 4 heads, 256
// tokens); recomputing it in backward, as flash attention does, would save that memory at the
// price of one more GEMM and exp pass per head (by component timings, about 15 ms more CPU
// than the page faults and memory traffic it saves at that size).
// Inference keeps nothing: each worker reuses one Lq·Lk scratch buffer.

import CBLAS
import Foundation

/// Attention of `query` [B, Lq, heads·d] over `key` [B, Lk, heads·d] and `value`
/// [B, Lk, heads·dv] (self-attention when they come from the same sequence, cross-attention
/// otherwise), returning [B, Lq, heads·dv] with the heads merged back.
///
/// - Parameters:
///   - causal: query i sees keys 0...i only (`is_causal` of `F.scaled_dot_product_attention`,
///     aligned top-left like it when Lq ≠ Lk); CLIP's text encoder uses it.
///   - scale: applied to Q·Kᵀ; 1/√d by default.
public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int,
                                      causal: Bool = false, scale: Float? = nil) -> Tensor {
    precondition(query.rank == 3 && key.rank == 3 && value.rank == 3,
                 "attention: query \(query.shape), key \(key.shape), value \(value.shape) must be [B, L, heads·d]")
    let batch = query.shape[0], lq = query.shape[1], lk = key.shape[1]
    precondition(key.shape[0] == batch && value.shape[0] == batch && value.shape[1] == lk,
                 "attention: batch or key length differ in query \(query.shape), key \(key.shape), value \(value.shape)")
    precondition(heads > 0 && query.shape[2] % heads == 0 && key.shape[2] == query.shape[2] && value.shape[2] % heads == 0,
                 "attention: widths of query \(query.shape), key \(key.shape), value \(value.shape) do not split into \(heads) heads")
    let d = query.shape[2] / heads, dv = value.shape[2] / heads
    let ldq = heads * d, ldv = heads * dv
    let scale = scale ?? 1 / Float(d).squareRoot()
    let pairs = batch * heads, square = lq * lk
    let recording = Autograd.isRecording && (query.requiresGrad || key.requiresGrad || value.requiresGrad)
    let probs = recording ? TensorStorage(count: pairs * square) : nil
    let out = Tensor(uninitializedShape: [batch, lq, ldv])
    let qBase = query.pointer, kBase = key.pointer, vBase = value.pointer, oBase = out.pointer

    forEachHead(pairs, scratch: recording ? 0 : square) { pair, scratch in
        let n = pair / heads, h = pair % heads
        let p = probs.map { $0.pointer + pair * square } ?? scratch
        let q = qBase + n * lq * ldq + h * d, k = kBase + n * lk * ldq + h * d
        let v = vBase + n * lk * ldv + h * dv
        sgemm(transB: true, m: lq, n: lk, k: d, alpha: scale, a: q, lda: ldq, b: k, ldb: ldq, c: p, ldc: lk)
        for row in 0..<lq {
            let r = p + row * lk
            let visible = causal ? min(row + 1, lk) : lk
            softmaxRowInPlace(r, visible)
            if visible < lk { (r + visible).update(repeating: 0, count: lk - visible) }
        }
        productWithHead(m: lq, n: dv, k: lk, a: p, lda: lk, b: v, ldb: ldv, c: oBase + n * lq * ldv + h * dv, ldc: ldv)
    }
    guard let probs else { return out }

    return Autograd.record(out, "scaled_dot_product_attention", inputs: [query, key, value]) { g in
        let gq = query.requiresGrad ? Tensor(uninitializedShape: query.shape) : nil
        let gk = key.requiresGrad ? Tensor(uninitializedShape: key.shape) : nil
        let gv = value.requiresGrad ? Tensor(uninitializedShape: value.shape) : nil
        let gBase = g.pointer
        forEachHead(pairs, scratch: square) { pair, ds in
            let n = pair / heads, h = pair % heads
            let p = probs.pointer + pair * square
            let q = qBase + n * lq * ldq + h * d, k = kBase + n * lk * ldq + h * d
            let v = vBase + n * lk * ldv + h * dv
            let go = gBase + n * lq * ldv + h * dv
            if let gv {
                productWithHead(transA: true, m: lk, n: dv, k: lq, a: p, lda: lk, b: go, ldb: ldv,
                                c: gv.pointer + n * lk * ldv + h * dv, ldc: ldv)
            }
            guard gq != nil || gk != nil else { return }
            sgemm(transB: true, m: lq, n: lk, k: dv, a: go, lda: ldv, b: v, ldb: ldv, c: ds, ldc: lk)
            for row in 0..<lq {
                let visible = causal ? min(row + 1, lk) : lk
                softmaxBackwardRow(y: p + row * lk, g: ds + row * lk, out: ds + row * lk, visible)
                if visible < lk { (ds + row * lk + visible).update(repeating: 0, count: lk - visible) }
            }
            if let gq {
                productWithHead(m: lq, n: d, k: lk, alpha: scale, a: ds, lda: lk, b: k, ldb: ldq,
                                c: gq.pointer + n * lq * ldq + h * d, ldc: ldq)
            }
            if let gk {
                productWithHead(transA: true, m: lk, n: d, k: lq, alpha: scale, a: ds, lda: lk, b: q, ldb: ldq,
                                c: gk.pointer + n * lk * ldq + h * d, ldc: ldq)
            }
        }
        return [gq, gk, gv]
    }
}

/// Runs `body(pair, scratch)` for every pair; `scratch` holds `scratch` floats the body may
/// overwrite (one buffer per work item).
///
/// Pairs are spread over the cores with OpenBLAS held to one thread meanwhile. Measured at batch
/// 32, 4 heads, 256 tokens: a serial loop over pairs with two-thread sgemm is 2× slower (the
/// per-pair GEMMs are too small to split well), and two threads each calling a multi-threaded
/// sgemm oversubscribe the cores and run 7× slower. There are
/// several work items per core so a core slowed by another process does not hold up the rest.
private func forEachHead(_ count: Int, scratch: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
    func run(_ range: Range<Int>) {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(scratch, 1))
        defer { buffer.deallocate() }
        for i in range { body(i, buffer) }
    }
    if count < 2 || coreCount == 1 {
        run(0..<count)
        return
    }
    let items = min(count, 8 * coreCount)
    withSingleThreadedBLAS {
        withoutActuallyEscaping(run) { run in
            DispatchQueue.concurrentPerform(iterations: items) { item in
                run((count * item / items)..<(count * (item + 1) / items))
            }
        }
    }
}

/// C[m×n] = alpha·op(A)·B where B and C are one head's columns (n = head width) and k is a
/// sequence length. Single-threaded OpenBLAS 0.3.21 reaches only ~11 GFLOP/s on these thin
/// shapes; register-blocked SIMD over 16-column strips runs 1.5–2× faster (measured for head
/// widths 32 to 160). Columns beyond the last full strip go to sgemm.
@inline(__always)
private func productWithHead(transA: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
    let strips = n / 16
    if strips * 16 < n {
        let j = strips * 16
        sgemm(transA: transA, m: m, n: n - j, k: k, alpha: alpha, a: a, lda: lda, b: b + j, ldb: ldb, c: c + j, ldc: ldc)
    }
    // Element (i, p) of op(A): a[i·rowStep + p·depthStep].
    let rowStep = transA ? 1 : lda, depthStep = transA ? lda : 1
    for strip in 0..<strips {
        let j = strip * 16
        var i = 0
        // Three rows × 16 columns: 12 of the 16 SSE registers hold accumulators.
        while i + 3 <= m {
            var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>()
            var c11 = SIMD8<Float>(), c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
            var ap = a + i * rowStep, bp = b + j
            for _ in 0..<k {
                let b0 = load8(bp), b1 = load8(bp + 8)
                let x0 = ap[0], x1 = ap[rowStep], x2 = ap[2 * rowStep]
                c00 += x0 * b0; c01 += x0 * b1
                c10 += x1 * b0; c11 += x1 * b1
                c20 += x2 * b0; c21 += x2 * b1
                ap += depthStep
                bp += ldb
            }
            let cp = c + i * ldc + j
            store8(alpha * c00, cp); store8(alpha * c01, cp + 8)
            store8(alpha * c10, cp + ldc); store8(alpha * c11, cp + ldc + 8)
            store8(alpha * c20, cp + 2 * ldc); store8(alpha * c21, cp + 2 * ldc + 8)
            i += 3
        }
        while i < m {
            var c0 = SIMD8<Float>(), c1 = SIMD8<Float>()
            var ap = a + i * rowStep, bp = b + j
            for _ in 0..<k {
                let x = ap[0]
                c0 += x * load8(bp); c1 += x * load8(bp + 8)
                ap += depthStep
                bp += ldb
            }
            store8(alpha * c0, c + i * ldc + j); store8(alpha * c1, c + i * ldc + j + 8)
            i += 1
        }
    }
}
