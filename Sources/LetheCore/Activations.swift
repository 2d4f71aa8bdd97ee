// Activation functions with the formulas PyTorch uses, so activations match checkpoints'
// reference outputs: GELU (exact erf form and tanh approximation), CLIP's quick GELU, SiLU,
// sigmoid, and diffusers' GEGLU.

import Foundation

/// `approximate` of `torch.nn.functional.gelu`: "none" (erf) or "tanh".
public enum GELUApproximation: String, Sendable {
    case none
    case tanh
}

/// GELU and its derivative at x.
@inline(__always) func geluAndDerivative(_ x: Float, _ approximate: GELUApproximation) -> (Float, Float) {
    switch approximate {
    case .none:
        // Φ(x) = ½(1 + erf(x/√2)); d/dx x·Φ(x) = Φ(x) + x·φ(x).
        let cdf = 0.5 * (1 + erf(x * 0.707_106_77))
        let pdf = Foundation.exp(-0.5 * x * x) * 0.398_942_3
        return (x * cdf, cdf + x * pdf)
    case .tanh:
        // ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³).
        let k: Float = 0.797_884_56
        let u = k * (x + 0.044_715 * x * x * x)
        let t = Foundation.tanh(u)
        let du = k * (1 + 3 * 0.044_715 * x * x)
        return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    }
}

@inline(__always) func sigmoidScalar(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

extension Tensor {
    /// Element-wise f with derivative f′ taken at the input, recorded. The backward keeps the
    /// input (not the output) so nothing holds a reference back to the result.
    @inline(__always)
    private func activation(_ name: String, _ f: (Float) -> Float, derivative: @escaping (Float) -> Float) -> Tensor {
        let out = map(f)
        let x = self
        return Autograd.record(out, name, inputs: [x]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            let xp = x.pointer, gp = g.pointer, dp = gx.pointer
            parallelFor(x.count, grain: 1 << 14) { r in
                for i in r { dp[i] = gp[i] * derivative(xp[i]) }
            }
            return [gx]
        }
    }

    /// x·Φ(x) (`F.gelu(x, approximate=...)`).
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        activation("gelu", { geluAndDerivative($0, approximate).0 }, derivative: { geluAndDerivative($0, approximate).1 })
    }

    /// x·σ(1.702x): the GELU approximation of OpenAI's CLIP (`quick_gelu` in transformers).
    public func quickGELU() -> Tensor {
        activation("quick_gelu", { $0 * sigmoidScalar(1.702 * $0) }, derivative: { x in
            let s = sigmoidScalar(1.702 * x)
            return s + 1.702 * x * s * (1 - s)
        })
    }

    /// x·σ(x) (`F.silu`).
    public func silu() -> Tensor {
        activation("silu", { $0 * sigmoidScalar($0) }, derivative: { x in
            let s = sigmoidScalar(x)
            return s * (1 + x * (1 - s))
        })
    }

    /// 1 / (1 + e⁻ˣ).
    public func sigmoid() -> Tensor {
        activation("sigmoid", sigmoidScalar, derivative: { x in
            let s = sigmoidScalar(x)
            return s * (1 - s)
        })
    }

    /// diffusers' GEGLU after its projection: the last dimension splits into halves
    /// (hidden, gate) and the result is hidden · gelu(gate), of half the width.
    public func geglu(approximate: GELUApproximation = .none) -> Tensor {
        let width = shape.last ?? 0
        precondition(rank >= 1 && width % 2 == 0, "geglu: last dimension of \(shape) must be even")
        let half = width / 2, rows = count / max(width, 1)
        let out = Tensor(uninitializedShape: Array(shape.dropLast()) + [half])
        let src = pointer, dst = out.pointer
        parallelFor(rows, grain: max(1, (1 << 14) / max(half, 1))) { r in
            for row in r {
                let h = src + row * width, gate = h + half, o = dst + row * half
                for j in 0..<half { o[j] = h[j] * geluAndDerivative(gate[j], approximate).0 }
            }
        }
        let x = self
        return Autograd.record(out, "geglu", inputs: [x]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            let xp = x.pointer, gp = g.pointer, gxp = gx.pointer
            parallelFor(rows, grain: max(1, (1 << 14) / max(half, 1))) { r in
                for row in r {
                    let h = xp + row * width, gate = h + half, go = gp + row * half
                    let dh = gxp + row * width, dgate = dh + half
                    for j in 0..<half {
                        let (value, slope) = geluAndDerivative(gate[j], approximate)
                        dh[j] = go[j] * value
                        dgate[j] = go[j] * h[j] * slope
                    }
                }
            }
            return [gx]
        }
    }
}
