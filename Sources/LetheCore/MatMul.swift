// Matrix products on OpenBLAS. Transposes are sgemm flags, never copies.

import CBLAS

/// C[M×N] = alpha · op(A) · op(B) + beta · C, all row-major.
/// A is M×K (K×M when transA), B is K×N (N×K when transB).
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 { c.update(repeating: 0, count: m * (ldc ?? n)) }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda ?? (transA ? m : k)),
                b, Int32(ldb ?? (transB ? k : n)),
                beta, c, Int32(ldc ?? n))
}

extension Tensor {
    /// Matrix product of the last two dimensions: self [..., M, K] · other [..., K, N]
    /// (with `transposeA`/`transposeB` the operand's last two dims are swapped). Batch
    /// dimensions must match, or `other` is a plain matrix shared by the whole batch.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs matrices: \(shape) · \(other.shape)")
        let ra = shape[rank - 2], ca = shape[rank - 1]
        let rb = other.shape[other.rank - 2], cb = other.shape[other.rank - 1]
        let (m, k) = transposeA ? (ca, ra) : (ra, ca)
        let (k2, n) = transposeB ? (cb, rb) : (rb, cb)
        precondition(k == k2, "matmul: inner sizes differ in \(shape)\(transposeA ? "ᵀ" : "") · \(other.shape)\(transposeB ? "ᵀ" : "")")
        let batchShape = Array(shape.dropLast(2))
        let batch = batchShape.reduce(1, *)
        let sharedB = other.rank == 2
        precondition(sharedB || Array(other.shape.dropLast(2)) == batchShape,
                     "matmul: batch dims differ in \(shape) · \(other.shape)")
        let out = Tensor(uninitializedShape: batchShape + [m, n])
        let a = self, b = other
        if sharedB && !transposeA {
            // Fold the batch into M: one large GEMM instead of many small ones.
            sgemm(transB: transposeB, m: batch * m, n: n, k: k, a: a.pointer, b: b.pointer, c: out.pointer)
        } else {
            for i in 0..<batch {
                sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                      a: a.pointer + i * m * k, b: b.pointer + (sharedB ? 0 : i * k * n), c: out.pointer + i * m * n)
            }
        }
        return Autograd.record(out, "matmul", inputs: [a, b]) { g in
            var ga: Tensor?
            var gb: Tensor?
            if a.requiresGrad {
                // C = op(A)·op(B): dA = dC·op(B)ᵀ, or op(B)·dCᵀ when A was transposed.
                if transposeA && sharedB {
                    // dA_i = op(B)·dC_iᵀ for each batch item.
                    let gam = Tensor(uninitializedShape: a.shape)
                    for i in 0..<batch {
                        sgemm(transA: transposeB, transB: true, m: k, n: m, k: n,
                              a: b.pointer, b: g.pointer + i * m * n, c: gam.pointer + i * k * m)
                    }
                    ga = gam
                } else {
                    ga = transposeA ? b.matmulRaw(g, transposeA: transposeB, transposeB: true, batchLike: a)
                                    : g.matmulRaw(b, transposeA: false, transposeB: !transposeB, batchLike: a)
                }
            }
            if b.requiresGrad {
                if sharedB {
                    // Sum over the batch: one GEMM over the folded rows.
                    let gbm = Tensor(uninitializedShape: b.shape)
                    if !transposeA {
                        let rows = batch * m
                        if transposeB {
                            sgemm(transA: true, m: n, n: k, k: rows, a: g.pointer, b: a.pointer, c: gbm.pointer)
                        } else {
                            sgemm(transA: true, m: k, n: n, k: rows, a: a.pointer, b: g.pointer, c: gbm.pointer)
                        }
                    } else {
                        gbm.pointer.update(repeating: 0, count: gbm.count)
                        for i in 0..<batch {
                            let ap = a.pointer + i * m * k, gp = g.pointer + i * m * n
                            if transposeB {
                                // dB += dC_iᵀ · A_iᵀ
                                sgemm(transA: true, transB: true, m: n, n: k, k: m, a: gp, b: ap, beta: 1, c: gbm.pointer)
                            } else {
                                sgemm(m: k, n: n, k: m, a: ap, b: gp, beta: 1, c: gbm.pointer)
                            }
                        }
                    }
                    gb = gbm
                } else {
                    gb = transposeB ? g.matmulRaw(a, transposeA: true, transposeB: transposeA, batchLike: b)
                                    : a.matmulRaw(g, transposeA: !transposeA, transposeB: false, batchLike: b)
                }
            }
            return [ga, gb]
        }
    }

    /// Batched product without recording, reshaped like `batchLike`.
    fileprivate func matmulRaw(_ other: Tensor, transposeA: Bool, transposeB: Bool, batchLike: Tensor) -> Tensor {
        Autograd.inference { matmul(other, transposeA: transposeA, transposeB: transposeB) }.reshaped(batchLike.shape)
    }

    /// y = x · Wᵀ + b over the last dimension: x [..., in], weight [out, in], bias [out]
    /// (torch.nn.Linear's layout).
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && shape.last == weight.shape[1],
                     "linear: input \(shape) does not fit weight \(weight.shape)")
        let outF = weight.shape[0], inF = weight.shape[1]
        let rows = count / inF
        let out = Tensor(uninitializedShape: Array(shape.dropLast()) + [outF])
        if let bias {
            precondition(bias.shape == [outF], "linear: bias \(bias.shape) for \(outF) outputs")
            for r in 0..<rows { (out.pointer + r * outF).update(from: bias.pointer, count: outF) }
        }
        sgemm(transB: true, m: rows, n: outF, k: inF, a: pointer, b: weight.pointer, beta: bias == nil ? 0 : 1, c: out.pointer)
        let x = self
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record(out, "linear", inputs: inputs) { g in
            var grads: [Tensor?] = [nil, nil]
            if x.requiresGrad {
                let gx = Tensor(uninitializedShape: x.shape)
                sgemm(m: rows, n: inF, k: outF, a: g.pointer, b: weight.pointer, c: gx.pointer)
                grads[0] = gx
            }
            if weight.requiresGrad {
                let gw = Tensor(uninitializedShape: weight.shape)
                sgemm(transA: true, m: outF, n: inF, k: rows, a: g.pointer, b: x.pointer, c: gw.pointer)
                grads[1] = gw
            }
            if let bias {
                grads.append(bias.requiresGrad ? g.reshaped([rows, outF]).sumRows() : nil)
            }
            return grads
        }
    }

    /// Column sums of a [rows, cols] matrix (no recording): the bias gradient.
    public func sumRows() -> Tensor {
        let cols = shape.last!, rows = count / cols
        let out = Tensor.zeros([cols])
        let p = pointer, o = out.pointer
        for r in 0..<rows {
            let row = p + r * cols
            for c in 0..<cols { o[c] += row[c] }
        }
        return out
    }
}
