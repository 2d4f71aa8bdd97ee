// Group norm and layer norm (torch.nn.GroupNorm, torch.nn.LayerNorm) with fused backward passes.
//
// Forward saves each group's/row's mean and 1/σ (llm.c style), so backward needs no second
// pass over statistics. Reductions run on SIMD8 partial sums: Swift keeps strict float order,
// so a plain `+=` loop would not vectorise. Statistics use two passes (mean, then squared
// deviations) rather than E[x²]−E[x]², which cancels badly for inputs with a large mean.

import Foundation

// MARK: - Vectorised reductions

/// Σ p[i] for i < n.
@inline(__always)
func sumFloats(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0 += load8(p + i)
        acc1 += load8(p + i + 8)
        i += 16
    }
    var total = (acc0 + acc1).sum()
    while i < n { total += p[i]; i += 1 }
    return total
}

/// Σ (p[i] − mean)² for i < n.
@inline(__always)
func sumSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 16 <= n {
        let d0 = load8(p + i) - m, d1 = load8(p + i + 8) - m
        acc0 += d0 * d0
        acc1 += d1 * d1
        i += 16
    }
    var total = (acc0 + acc1).sum()
    while i < n { let d = p[i] - mean; total += d * d; i += 1 }
    return total
}

/// Σ a[i]·b[i] for i < n.
@inline(__always)
func dotFloats(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0 += load8(a + i) * load8(b + i)
        acc1 += load8(a + i + 8) * load8(b + i + 8)
        i += 16
    }
    var total = (acc0 + acc1).sum()
    while i < n { total += a[i] * b[i]; i += 1 }
    return total
}

/// Σ a[i]·b[i]·c[i] for i < n.
@inline(__always)
func dot3Floats(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0 += load8(a + i) * load8(b + i) * load8(c + i)
        acc1 += load8(a + i + 8) * load8(b + i + 8) * load8(c + i + 8)
        i += 16
    }
    var total = (acc0 + acc1).sum()
    while i < n { total += a[i] * b[i] * c[i]; i += 1 }
    return total
}

/// Mean and 1/√(biased variance + eps) of `n` contiguous values. Partial sums are combined in
/// Double: a group can hold hundreds of thousands of values.
@inline(__always)
private func meanAndInverseStd(_ p: UnsafePointer<Float>, _ n: Int, eps: Float) -> (mean: Float, rstd: Float) {
    let block = 4096
    var total = 0.0
    var i = 0
    while i < n { total += Double(sumFloats(p + i, min(block, n - i))); i += block }
    let mean = Float(total / Double(n))
    var squares = 0.0
    i = 0
    while i < n { squares += Double(sumSquaredDeviations(p + i, min(block, n - i), mean: mean)); i += block }
    let variance = squares / Double(n)
    return (mean, Float(1 / (variance + Double(eps)).squareRoot()))
}

// MARK: - Group norm

extension Tensor {
    /// torch.nn.functional.group_norm: input [N, C, ...], channels split into `groups` groups,
    /// each normalised over its channels and all trailing positions; then the per-channel affine
    /// `weight`·x̂ + `bias` ([C] each) when given.
    public func groupNorm(groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        precondition(rank >= 2, "groupNorm: input must be [N, C, ...], got \(shape)")
        let batch = shape[0], channels = shape[1]
        precondition(groups >= 1 && channels % groups == 0, "groupNorm: \(channels) channels do not split into \(groups) groups")
        if let weight { precondition(weight.shape == [channels], "groupNorm: weight \(weight.shape) for \(channels) channels") }
        if let bias { precondition(bias.shape == [channels], "groupNorm: bias \(bias.shape) for \(channels) channels") }
        let spatial = batch * channels == 0 ? 0 : count / (batch * channels)
        let perGroup = channels / groups
        let groupSize = perGroup * spatial
        let statCount = batch * groups
        let out = Tensor(uninitializedShape: shape)
        let mean = UnsafeMutablePointer<Float>.allocate(capacity: max(statCount, 1))
        let rstd = UnsafeMutablePointer<Float>.allocate(capacity: max(statCount, 1))
        let xp = pointer, yp = out.pointer
        let wp = weight?.pointer, bp = bias?.pointer

        parallelFor(statCount, grain: max(1, 32768 / max(groupSize, 1))) { range in
            for ng in range {
                let base = ng * groupSize
                let (m, r) = groupSize == 0 ? (0, 1) : meanAndInverseStd(xp + base, groupSize, eps: eps)
                mean[ng] = m
                rstd[ng] = r
                let firstChannel = (ng % groups) * perGroup
                for j in 0..<perGroup {
                    let c = firstChannel + j
                    // y = x·scale + shift folds normalisation and affine into one multiply-add.
                    let scale = r * (wp?[c] ?? 1)
                    let shift = (bp?[c] ?? 0) - m * scale
                    let src = xp + base + j * spatial, dst = yp + base + j * spatial
                    for s in 0..<spatial { dst[s] = src[s] * scale + shift }
                }
            }
        }

        let stats = NormStatistics(mean: mean, rstd: rstd)
        let x = self
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return Autograd.record(out, "group_norm", inputs: inputs) { g in
            // Per (sample, channel): Σ dy and Σ dy·x. Everything else follows from these sums.
            let rows = batch * channels
            let sumDy = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, 1))
            let sumDyX = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, 1))
            defer { sumDy.deallocate(); sumDyX.deallocate() }
            let gp = g.pointer
            parallelFor(rows, grain: max(1, 16384 / max(spatial, 1))) { range in
                for row in range {
                    sumDy[row] = sumFloats(gp + row * spatial, spatial)
                    sumDyX[row] = dotFloats(gp + row * spatial, xp + row * spatial, spatial)
                }
            }
            var grads: [Tensor?] = []
            if x.requiresGrad {
                let gx = Tensor(uninitializedShape: x.shape)
                let dxp = gx.pointer
                parallelFor(statCount, grain: max(1, 16384 / max(groupSize, 1))) { range in
                    for ng in range {
                        let n = ng / groups, firstChannel = (ng % groups) * perGroup
                        let m = stats.mean[ng], r = stats.rstd[ng]
                        // With x̂ = (x−m)·r and g = dy·w: dx = r·(g − mean(g) − x̂·mean(g·x̂)).
                        var sumG = 0.0, sumGXhat = 0.0
                        for j in 0..<perGroup {
                            let c = firstChannel + j, row = n * channels + c
                            let w = Double(wp?[c] ?? 1)
                            sumG += w * Double(sumDy[row])
                            sumGXhat += w * Double(r) * (Double(sumDyX[row]) - Double(m) * Double(sumDy[row]))
                        }
                        let inv = 1 / Double(groupSize)
                        let meanG = Float(sumG * inv), meanGXhat = Float(sumGXhat * inv)
                        // dx = (r·w)·dy + (−r²·mean(g·x̂))·x + r·(r·m·mean(g·x̂) − mean(g))
                        let xCoef = -r * r * meanGXhat
                        let constant = r * (r * m * meanGXhat - meanG)
                        for j in 0..<perGroup {
                            let c = firstChannel + j
                            let dyCoef = r * (wp?[c] ?? 1)
                            let offset = (n * channels + c) * spatial
                            let src = gp + offset, xs = xp + offset, dst = dxp + offset
                            for s in 0..<spatial { dst[s] = dyCoef * src[s] + xCoef * xs[s] + constant }
                        }
                    }
                }
                grads.append(gx)
            } else {
                grads.append(nil)
            }
            if let weight {
                if weight.requiresGrad {
                    // dw[c] = Σ_n Σ_s dy·x̂ = Σ_n r·(Σ dy·x − m·Σ dy)
                    let gw = Tensor(uninitializedShape: [channels])
                    for c in 0..<channels {
                        var acc = 0.0
                        for n in 0..<batch {
                            let ng = n * groups + c / perGroup, row = n * channels + c
                            acc += Double(stats.rstd[ng]) * (Double(sumDyX[row]) - Double(stats.mean[ng]) * Double(sumDy[row]))
                        }
                        gw.pointer[c] = Float(acc)
                    }
                    grads.append(gw)
                } else {
                    grads.append(nil)
                }
            }
            if let bias {
                if bias.requiresGrad {
                    let gb = Tensor(uninitializedShape: [channels])
                    for c in 0..<channels {
                        var acc = 0.0
                        for n in 0..<batch { acc += Double(sumDy[n * channels + c]) }
                        gb.pointer[c] = Float(acc)
                    }
                    grads.append(gb)
                } else {
                    grads.append(nil)
                }
            }
            return grads
        }
    }
}

/// Per-group or per-row statistics saved by a norm's forward for its backward. Freed with the
/// closure that holds it, i.e. when the tape releases the node.
private final class NormStatistics {
    let mean: UnsafeMutablePointer<Float>
    let rstd: UnsafeMutablePointer<Float>
    init(mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        self.mean = mean
        self.rstd = rstd
    }
    deinit {
        mean.deallocate()
        rstd.deallocate()
    }
}

// MARK: - Layer norm

extension Tensor {
    /// torch.nn.functional.layer_norm over the last dimension, with optional elementwise
    /// `weight` and `bias` of that size.
    public func layerNorm(weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        precondition(rank >= 1, "layerNorm: input must have at least one dimension")
        let width = shape[rank - 1]
        if let weight { precondition(weight.shape == [width], "layerNorm: weight \(weight.shape) for last dimension \(width)") }
        if let bias { precondition(bias.shape == [width], "layerNorm: bias \(bias.shape) for last dimension \(width)") }
        let rows = width == 0 ? 0 : count / width
        let out = Tensor(uninitializedShape: shape)
        let stats = NormStatistics(mean: .allocate(capacity: max(rows, 1)), rstd: .allocate(capacity: max(rows, 1)))
        let xp = pointer, yp = out.pointer
        let wp = weight?.pointer, bp = bias?.pointer

        parallelFor(rows, grain: max(1, 16384 / max(width, 1))) { range in
            for row in range {
                let src = xp + row * width, dst = yp + row * width
                let (m, r) = width == 0 ? (0, 1) : meanAndInverseStd(src, width, eps: eps)
                stats.mean[row] = m
                stats.rstd[row] = r
                switch (wp, bp) {
                case let (w?, b?): for j in 0..<width { dst[j] = (src[j] - m) * r * w[j] + b[j] }
                case let (w?, nil): for j in 0..<width { dst[j] = (src[j] - m) * r * w[j] }
                case let (nil, b?): for j in 0..<width { dst[j] = (src[j] - m) * r + b[j] }
                case (nil, nil): for j in 0..<width { dst[j] = (src[j] - m) * r }
                }
            }
        }

        let x = self
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return Autograd.record(out, "layer_norm", inputs: inputs) { g in
            let gp = g.pointer
            var grads: [Tensor?] = []
            if x.requiresGrad {
                let gx = Tensor(uninitializedShape: x.shape)
                let dxp = gx.pointer
                let inv = 1 / Float(width)
                parallelFor(rows, grain: max(1, 16384 / max(width, 1))) { range in
                    for row in range {
                        let dy = gp + row * width, xs = xp + row * width, dst = dxp + row * width
                        let m = stats.mean[row], r = stats.rstd[row]
                        // With g = dy·w: dx = r·(g − mean(g) − x̂·mean(g·x̂)), x̂ = (x−m)·r.
                        let sumG: Float, sumGX: Float
                        if let w = wp {
                            sumG = dotFloats(dy, w, width)
                            sumGX = dot3Floats(dy, w, xs, width)
                        } else {
                            sumG = sumFloats(dy, width)
                            sumGX = dotFloats(dy, xs, width)
                        }
                        let meanG = sumG * inv
                        let meanGXhat = r * (sumGX - m * sumG) * inv
                        let xCoef = -r * r * meanGXhat
                        let constant = r * (r * m * meanGXhat - meanG)
                        if let w = wp {
                            for j in 0..<width { dst[j] = r * w[j] * dy[j] + xCoef * xs[j] + constant }
                        } else {
                            for j in 0..<width { dst[j] = r * dy[j] + xCoef * xs[j] + constant }
                        }
                    }
                }
                grads.append(gx)
            } else {
                grads.append(nil)
            }
            let needWeight = weight?.requiresGrad ?? false, needBias = bias?.requiresGrad ?? false
            var gw: Tensor?, gb: Tensor?
            if needWeight || needBias {
                (gw, gb) = layerNormParameterGradients(g: gp, x: xp, stats: stats, rows: rows, width: width,
                                                       weight: needWeight, bias: needBias)
            }
            if weight != nil { grads.append(gw) }
            if bias != nil { grads.append(gb) }
            return grads
        }
    }
}

/// dw = Σ_rows dy·x̂, db = Σ_rows dy. Rows are split over the cores, each half summing into its
/// own buffer, so the inner loop runs along contiguous columns.
private func layerNormParameterGradients(g: UnsafePointer<Float>, x: UnsafePointer<Float>, stats: NormStatistics,
                                         rows: Int, width: Int, weight: Bool, bias: Bool) -> (Tensor?, Tensor?) {
    let parts = rows * width >= 65536 ? min(coreCount, rows) : 1
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: max(parts * 2 * width, 1))
    partial.update(repeating: 0, count: parts * 2 * width)
    defer { partial.deallocate() }
    parallelForEach(parts) { part in
        let dw = partial + part * 2 * width, db = dw + width
        for row in (rows * part / parts)..<(rows * (part + 1) / parts) {
            let dy = g + row * width, xs = x + row * width
            let m = stats.mean[row], r = stats.rstd[row]
            if weight { for j in 0..<width { dw[j] += dy[j] * (xs[j] - m) * r } }
            if bias { for j in 0..<width { db[j] += dy[j] } }
        }
    }
    func total(_ offset: Int) -> Tensor {
        let t = Tensor.zeros([width])
        for part in 0..<parts { vadd(t.pointer, partial + part * 2 * width + offset, width) }
        return t
    }
    return (weight ? total(0) : nil, bias ? total(width) : nil)
}
