// Activation functions with the formulas PyTorch uses, so activations match checkpoints'
// reference outputs: GELU (exact erf form and tanh approximation), CLIP's quick GELU, SiLU,
// sigmoid, and diffusers' GEGLU.
//
// Every activation runs eight lanes at a time on `exp8` (Softmax.swift): glibc's scalar expf
// and erff cost 4–20 ns an element, more than the convolution around a SiLU at UNet shapes.
// The kernels are generic over a lane function so each specialises into its own loop; a
// closure passed down to `parallelFor` would stay an indirect call per element.

import Foundation

/// `approximate` of `torch.nn.functional.gelu`: "none" (erf) or "tanh".
public enum GELUApproximation: String, Sendable {
    case none
    case tanh
}

// MARK: - Lane functions

/// An element-wise function and its derivative on eight lanes.
protocol LaneActivation {
    func value(_ x: SIMD8<Float>) -> SIMD8<Float>
    /// f(x) and f′(x); unused halves are dropped by the optimiser once inlined.
    func valueAndDerivative(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>)
}

/// σ(x) = 1 / (1 + e⁻ˣ) and its complement 1 − σ(x) = e⁻ˣ·σ(x), the latter without the
/// cancellation of 1 − σ for large x, so σ′ = σ·(1 − σ) keeps its relative accuracy in both
/// tails. σ is exactly 0 below −88, where e⁻ˣ would overflow (as with IEEE expf).
@inline(__always) func sigmoidAndComplement8(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
    let e = exp8(-x)
    var s = 1 / (1 + e)
    let complement = e * s
    s.replace(with: 0, where: x .< -88)
    return (s, complement)
}

struct SigmoidLanes: LaneActivation {
    @inline(__always) func value(_ x: SIMD8<Float>) -> SIMD8<Float> { sigmoidAndComplement8(x).0 }
    @inline(__always) func valueAndDerivative(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        let (s, c) = sigmoidAndComplement8(x)
        return (s, s * c)
    }
}

/// x·σ(x).
struct SiLULanes: LaneActivation {
    @inline(__always) func value(_ x: SIMD8<Float>) -> SIMD8<Float> { x * sigmoidAndComplement8(x).0 }
    @inline(__always) func valueAndDerivative(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        let (s, c) = sigmoidAndComplement8(x)
        return (x * s, s * (1 + x * c))
    }
}

/// x·σ(1.702x).
struct QuickGELULanes: LaneActivation {
    @inline(__always) func value(_ x: SIMD8<Float>) -> SIMD8<Float> { x * sigmoidAndComplement8(1.702 * x).0 }
    @inline(__always) func valueAndDerivative(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        let (s, c) = sigmoidAndComplement8(1.702 * x)
        return (x * s, s + 1.702 * x * s * c)
    }
}

/// x·Φ(x) with the normal CDF from erfc. Φ(x) = ½·erfc(−x/√2); erfc(z), z ≥ 0, uses the
/// Chebyshev fit of Numerical Recipes (erfcc, relative error < 1.2e-7 for every z), so Φ keeps
/// its relative accuracy in the negative tail where ½(1 + erf) cancels. Measured against
/// Double: about 1e-6 relative down to x = −5, 1e-5 beyond (ActivationTests); torch's
/// ½x(1 + erf) form is off by 5% at x = −5 and returns 0 below −5.5.
struct GELULanes: LaneActivation {
    @inline(__always) func normalCDF(_ x: SIMD8<Float>) -> (cdf: SIMD8<Float>, halfSquare: SIMD8<Float>) {
        let halfSquare = 0.5 * x * x  // z² for z = |x|/√2
        let z = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7fff_ffff, to: SIMD8<Float>.self) * 0.707_106_77
        let t = 1 / (1 + 0.5 * z)
        var p = SIMD8<Float>(repeating: 0.170_872_77)
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        let exponent = p - halfSquare
        // Below exp8's clamp Φ is under the smallest normal float: 0, as the erf form gives.
        var halfErfc = 0.5 * t * exp8(exponent)
        halfErfc.replace(with: 0, where: exponent .< -87.3)
        return (halfErfc.replacing(with: 1 - halfErfc, where: x .>= 0), halfSquare)
    }

    @inline(__always) func value(_ x: SIMD8<Float>) -> SIMD8<Float> { x * normalCDF(x).cdf }
    @inline(__always) func valueAndDerivative(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        // d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
        let (cdf, halfSquare) = normalCDF(x)
        var pdf = 0.398_942_3 * exp8(-halfSquare)
        pdf.replace(with: 0, where: halfSquare .> 87.3)
        return (x * cdf, cdf + x * pdf)
    }
}

/// ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), evaluated as x·σ(2u) (the same function:
/// 1 + tanh u = 2σ(2u)), which has no cancellation for small u.
struct GELUTanhLanes: LaneActivation {
    @inline(__always) func value(_ x: SIMD8<Float>) -> SIMD8<Float> {
        x * sigmoidAndComplement8(1.595_769_1 * (x + 0.044_715 * x * x * x)).0
    }
    @inline(__always) func valueAndDerivative(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        // d/dx = s + 2x·s(1−s)·u′ with s = σ(2u), since 1 − tanh²u = 4s(1−s).
        let (s, c) = sigmoidAndComplement8(1.595_769_1 * (x + 0.044_715 * x * x * x))
        let du = 0.797_884_56 * (1 + 0.134_145 * x * x)
        return (x * s, s + 2 * x * s * c * du)
    }
}

// MARK: - Kernels

/// Calls `body(offset, lanes)` for blocks of eight covering `range`, the last one partial.
@inline(__always)
func forEachBlock8(_ range: Range<Int>, _ body: (Int, Int) -> Void) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        body(i, 8)
        i += 8
    }
    if i < range.upperBound { body(i, range.upperBound - i) }
}

@inline(__always) func loadLanes(_ p: UnsafePointer<Float>, _ n: Int) -> SIMD8<Float> {
    n == 8 ? load8(p) : loadPartial8(p, n, fill: 0)
}

@inline(__always) func storeLanes(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == 8 { store8(v, p) } else { storePartial8(v, p, n) }
}

/// dst[i] = f(src[i]) for i < n.
func activationForward<F: LaneActivation>(_ f: F, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    parallelFor(n, grain: 1 << 14) { r in
        forEachBlock8(r) { i, k in storeLanes(f.value(loadLanes(src + i, k)), dst + i, k) }
    }
}

/// dx[i] = g[i]·f′(x[i]) for i < n.
func activationBackward<F: LaneActivation>(_ f: F, x: UnsafePointer<Float>, g: UnsafePointer<Float>,
                                           dx: UnsafeMutablePointer<Float>, _ n: Int) {
    parallelFor(n, grain: 1 << 14) { r in
        forEachBlock8(r) { i, k in
            storeLanes(loadLanes(g + i, k) * f.valueAndDerivative(loadLanes(x + i, k)).1, dx + i, k)
        }
    }
}

/// GEGLU over rows of [hidden | gate]: out = hidden·f(gate), half the width.
func gegluForward<F: LaneActivation>(_ f: F, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                     rows: Int, half: Int) {
    parallelFor(rows, grain: max(1, (1 << 14) / max(half, 1))) { r in
        for row in r {
            let h = src + row * 2 * half, gate = h + half, o = dst + row * half
            forEachBlock8(0..<half) { j, k in
                storeLanes(loadLanes(h + j, k) * f.value(loadLanes(gate + j, k)), o + j, k)
            }
        }
    }
}

/// GEGLU's backward: d hidden = g·f(gate), d gate = g·hidden·f′(gate).
func gegluBackward<F: LaneActivation>(_ f: F, x: UnsafePointer<Float>, g: UnsafePointer<Float>,
                                      dx: UnsafeMutablePointer<Float>, rows: Int, half: Int) {
    parallelFor(rows, grain: max(1, (1 << 14) / max(half, 1))) { r in
        for row in r {
            let h = x + row * 2 * half, gate = h + half, go = g + row * half
            let dh = dx + row * 2 * half, dgate = dh + half
            forEachBlock8(0..<half) { j, k in
                let (value, slope) = f.valueAndDerivative(loadLanes(gate + j, k))
                let gj = loadLanes(go + j, k)
                storeLanes(gj * value, dh + j, k)
                storeLanes(gj * loadLanes(h + j, k) * slope, dgate + j, k)
            }
        }
    }
}

extension Tensor {
    /// An element-wise activation, recorded. The backward keeps the input (not the output) so
    /// nothing holds a reference back to the result.
    private func activation<F: LaneActivation>(_ name: String, _ f: F) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        activationForward(f, pointer, out.pointer, count)
        let x = self
        return Autograd.record(out, name, inputs: [x]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            activationBackward(f, x: x.pointer, g: g.pointer, dx: gx.pointer, x.count)
            return [gx]
        }
    }

    /// x·Φ(x) (`F.gelu(x, approximate=...)`).
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        switch approximate {
        case .none: return activation("gelu", GELULanes())
        case .tanh: return activation("gelu", GELUTanhLanes())
        }
    }

    /// x·σ(1.702x): the GELU approximation of OpenAI's CLIP (`quick_gelu` in transformers).
    public func quickGELU() -> Tensor { activation("quick_gelu", QuickGELULanes()) }

    /// x·σ(x) (`F.silu`).
    public func silu() -> Tensor { activation("silu", SiLULanes()) }

    /// 1 / (1 + e⁻ˣ).
    public func sigmoid() -> Tensor { activation("sigmoid", SigmoidLanes()) }

    /// diffusers' GEGLU after its projection: the last dimension splits into halves
    /// (hidden, gate) and the result is hidden · gelu(gate), of half the width.
    public func geglu(approximate: GELUApproximation = .none) -> Tensor {
        switch approximate {
        case .none: return geglu(GELULanes())
        case .tanh: return geglu(GELUTanhLanes())
        }
    }

    private func geglu<F: LaneActivation>(_ f: F) -> Tensor {
        let width = shape.last ?? 0
        precondition(rank >= 1 && width % 2 == 0, "geglu: last dimension of \(shape) must be even")
        let half = width / 2, rows = count / max(width, 1)
        let out = Tensor(uninitializedShape: Array(shape.dropLast()) + [half])
        gegluForward(f, pointer, out.pointer, rows: rows, half: half)
        let x = self
        return Autograd.record(out, "geglu", inputs: [x]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            gegluBackward(f, x: x.pointer, g: g.pointer, dx: gx.pointer, rows: rows, half: half)
            return [gx]
        }
    }
}
