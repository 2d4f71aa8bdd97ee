// Softmax along an axis, fused (max, exponentials, sum and scale per row, nothing recorded in
// between) and numerically stable (the row maximum is subtracted first). Backward needs only
// the saved output: dx = y ⊙ (g − Σ g⊙y).
//
// The row kernels here are shared with attention and cross-entropy. Exponentials are computed
// eight lanes at a time: glibc's scalar expf would cost more than the attention GEMMs.

/// e^x per lane: Cephes' expf (x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial in r), within
/// about 2 ulp of the exact value. Inputs are clamped to [-87.3, 88] so 2ⁿ stays a normal float;
/// below that the result is ~1e-38 rather than 0.
/// (`replacing(with:where:)` rather than `pointwiseMin/Max`, which compile to calls.)
@inline(__always) func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let hi: Float = 88, lo: Float = -87.336_54
    var x = x.replacing(with: hi, where: x .> hi)
    x.replace(with: lo, where: x .< lo)
    // Adding 1.5·2²³ rounds x·log2(e) to an integer held in the low mantissa bits of `t`.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    let r = (x - n * 0.693_359_375) + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 0.166_666_655
    p = p * r + 0.500_000_012
    p = p * (r * r) + r + 1
    // 2ⁿ built from its exponent bits; the shift drops the magic constant's high bits.
    let bits = (unsafeBitCast(t, to: SIMD8<UInt32>.self) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// The first `n` (< 8) floats at `p` as lanes, the rest `fill`.
@inline(__always) func loadPartial8(_ p: UnsafePointer<Float>, _ n: Int, fill: Float) -> SIMD8<Float> {
    var v = SIMD8<Float>(repeating: fill)
    for i in 0..<n { v[i] = p[i] }
    return v
}

@inline(__always) func storePartial8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = v[i] }
}

/// p[i] = e^(p[i] − shift) for i < n; returns Σ p[i].
@inline(__always) func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = SIMD8<Float>()
    var j = 0
    while j + 8 <= n {
        let e = exp8(load8(p + j) - shift)
        store8(e, p + j)
        acc += e
        j += 8
    }
    var sum = acc.sum()
    if j < n {
        let e = exp8(loadPartial8(p + j, n - j, fill: 0) - shift)
        storePartial8(e, p + j, n - j)
        for i in 0..<(n - j) { sum += e[i] }
    }
    return sum
}

@inline(__always) func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var j = 0
    while j + 8 <= n {
        let v = load8(p + j)
        m8.replace(with: v, where: v .> m8)
        j += 8
    }
    var m = m8[0]
    for i in 1..<8 where m8[i] > m { m = m8[i] }
    while j < n {
        m = p[j] > m ? p[j] : m
        j += 1
    }
    return m
}

@inline(__always) func scaleInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ s: Float) {
    for j in 0..<n { p[j] *= s }
}

/// Σ a[i]·b[i] with eight partial sums.
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var j = 0
    while j + 8 <= n {
        acc += load8(a + j) * load8(b + j)
        j += 8
    }
    var s = acc.sum()
    while j < n {
        s += a[j] * b[j]
        j += 1
    }
    return s
}

/// Softmax of n contiguous floats, in place.
@inline(__always) func softmaxRowInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let sum = expShiftedInPlace(p, n, shift: rowMax(p, n))
    scaleInPlace(p, n, 1 / sum)
}

/// out = y ⊙ (g − Σ g⊙y) over one row: the gradient through softmax output y. `out` may be `g`.
@inline(__always) func softmaxBackwardRow(y: UnsafePointer<Float>, g: UnsafePointer<Float>,
                                          out: UnsafeMutablePointer<Float>, _ n: Int) {
    let d = dot(g, y, n)
    var j = 0
    while j + 8 <= n {
        store8(load8(y + j) * (load8(g + j) - d), out + j)
        j += 8
    }
    while j < n {
        out[j] = y[j] * (g[j] - d)
        j += 1
    }
}

extension Tensor {
    /// Softmax along `axis` (`torch.softmax(x, dim)`).
    public func softmax(axis: Int = -1) -> Tensor {
        let a = resolvedAxis(axis, "softmax")
        let (outer, n, inner) = splitAround(axis: a)
        let out = Tensor(uninitializedShape: shape)
        let src = pointer, dst = out.pointer
        if inner == 1 {
            parallelFor(outer, grain: max(1, (1 << 14) / max(n, 1))) { rows in
                for o in rows {
                    (dst + o * n).update(from: src + o * n, count: n)
                    softmaxRowInPlace(dst + o * n, n)
                }
            }
        } else {
            // Softmax over a non-last axis: rows of `inner` columns are combined element-wise,
            // so each step stays contiguous.
            parallelFor(outer, grain: max(1, (1 << 14) / max(n * inner, 1))) { range in
                let stats = UnsafeMutablePointer<Float>.allocate(capacity: 2 * inner)
                defer { stats.deallocate() }
                let mx = stats, sum = stats + inner
                for o in range {
                    let x = src + o * n * inner, y = dst + o * n * inner
                    mx.update(repeating: -.infinity, count: inner)
                    sum.update(repeating: 0, count: inner)
                    for j in 0..<n {
                        for i in 0..<inner where x[j * inner + i] > mx[i] { mx[i] = x[j * inner + i] }
                    }
                    for j in 0..<n {
                        let row = y + j * inner
                        for i in 0..<inner { row[i] = x[j * inner + i] - mx[i] }
                        _ = expShiftedInPlace(row, inner, shift: 0)
                        for i in 0..<inner { sum[i] += row[i] }
                    }
                    for i in 0..<inner { sum[i] = 1 / sum[i] }
                    for j in 0..<n {
                        for i in 0..<inner { y[j * inner + i] *= sum[i] }
                    }
                }
            }
        }
        // The closure keeps the output's storage, not the output: a tensor owning a closure that
        // owns it would never be freed if backward never runs.
        let saved = out.storage, inShape = shape
        return Autograd.record(out, "softmax", inputs: [self]) { g in
            let gx = Tensor(uninitializedShape: inShape)
            let y = saved.pointer, gp = g.pointer, gxp = gx.pointer
            if inner == 1 {
                parallelFor(outer, grain: max(1, (1 << 14) / max(n, 1))) { rows in
                    for o in rows { softmaxBackwardRow(y: y + o * n, g: gp + o * n, out: gxp + o * n, n) }
                }
            } else {
                parallelFor(outer, grain: max(1, (1 << 14) / max(n * inner, 1))) { range in
                    let dots = UnsafeMutablePointer<Float>.allocate(capacity: inner)
                    defer { dots.deallocate() }
                    for o in range {
                        let base = o * n * inner
                        dots.update(repeating: 0, count: inner)
                        for j in 0..<n {
                            for i in 0..<inner { dots[i] += gp[base + j * inner + i] * y[base + j * inner + i] }
                        }
                        for j in 0..<n {
                            for i in 0..<inner {
                                let k = base + j * inner + i
                                gxp[k] = y[k] * (gp[k] - dots[i])
                            }
                        }
                    }
                }
            }
            return [gx]
        }
    }
}
