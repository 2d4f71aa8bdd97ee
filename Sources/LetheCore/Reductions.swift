// Sums and means, of a whole tensor or along one axis.
//
// Whole-tensor sums run over fixed blocks accumulated in Double: the result depends on neither
// the core count nor the order threads finish in, so a seeded run gives the same loss everywhere.

/// Σ term(i) over 0..<count, accumulated in Double over fixed blocks of indices.
func deterministicSum(_ count: Int, _ term: (Int) -> Double) -> Double {
    let blockSize = 1 << 16
    let blocks = (count + blockSize - 1) / blockSize
    if blocks <= 1 {
        var acc = 0.0
        for i in 0..<count { acc += term(i) }
        return acc
    }
    var partial = [Double](repeating: 0, count: blocks)
    partial.withUnsafeMutableBufferPointer { p in
        let base = p.baseAddress!
        parallelForEach(blocks) { b in
            var acc = 0.0
            for i in (b * blockSize)..<min(count, (b + 1) * blockSize) { acc += term(i) }
            base[b] = acc
        }
    }
    return partial.reduce(0, +)
}

extension Tensor {
    /// Sum of all elements, as a scalar (shape []).
    public func sum() -> Tensor { total(divisor: 1, "sum") }

    /// Mean of all elements, as a scalar (shape []).
    public func mean() -> Tensor { total(divisor: count, "mean") }

    private func total(divisor: Int, _ name: String) -> Tensor {
        let p = pointer
        let value = deterministicSum(count) { Double(p[$0]) } / Double(max(divisor, 1))
        let out = Tensor.scalar(Float(value))
        let inShape = shape, factor = 1 / Float(max(divisor, 1))
        return Autograd.record(out, name, inputs: [self]) { g in
            [Tensor(repeating: g.item * factor, shape: inShape)]
        }
    }

    /// Sum along `axis` (`torch.sum(x, dim, keepdim)`).
    public func sum(axis: Int, keepDim: Bool = false) -> Tensor { reduce(axis: axis, keepDim: keepDim, mean: false) }

    /// Mean along `axis` (`torch.mean(x, dim, keepdim)`).
    public func mean(axis: Int, keepDim: Bool = false) -> Tensor { reduce(axis: axis, keepDim: keepDim, mean: true) }

    private func reduce(axis: Int, keepDim: Bool, mean: Bool) -> Tensor {
        let a = resolvedAxis(axis, mean ? "mean" : "sum")
        let (outer, n, inner) = splitAround(axis: a)
        var outShape = shape
        if keepDim { outShape[a] = 1 } else { outShape.remove(at: a) }
        let out = Tensor.zeros(outShape)
        let factor: Float = mean ? 1 / Float(max(n, 1)) : 1
        let src = pointer, dst = out.pointer
        if inner == 1 {
            parallelFor(outer, grain: max(1, (1 << 15) / max(n, 1))) { rows in
                for o in rows {
                    let row = src + o * n
                    var acc: Float = 0
                    for j in 0..<n { acc += row[j] }
                    dst[o] = acc * factor
                }
            }
        } else {
            // Rows of `inner` added into the output row: contiguous and vectorisable. One output
            // row when outer is 1 (e.g. a sum over the batch), so split the columns then.
            let columnsSplit = outer == 1
            parallelFor(columnsSplit ? inner : outer, grain: columnsSplit ? 4096 : max(1, (1 << 15) / max(n * inner, 1))) { r in
                let os = columnsSplit ? 0..<1 : r
                let cols = columnsSplit ? r : 0..<inner
                for o in os {
                    let d = dst + o * inner
                    for j in 0..<n {
                        let s = src + (o * n + j) * inner
                        for i in cols { d[i] += s[i] }
                    }
                    for i in cols { d[i] *= factor }
                }
            }
        }
        let inShape = shape
        return Autograd.record(out, mean ? "mean_axis" : "sum_axis", inputs: [self]) { g in
            let gx = Tensor(uninitializedShape: inShape)
            let gp = g.pointer, gxp = gx.pointer
            parallelFor(outer, grain: max(1, (1 << 15) / max(n * inner, 1))) { rows in
                for o in rows {
                    let go = gp + o * inner
                    for j in 0..<n {
                        let d = gxp + (o * n + j) * inner
                        for i in 0..<inner { d[i] = go[i] * factor }
                    }
                }
            }
            return [gx]
        }
    }
}
