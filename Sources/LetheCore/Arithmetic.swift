// Element-wise arithmetic with broadcasting, scalar arithmetic, and reshape.

extension Tensor {
    /// The same storage viewed with another shape (one dimension may be -1).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[i] = count / known
        }
        precondition(Tensor.elementCount(resolved) == count, "cannot reshape \(shape) to \(newShape)")
        let out = Tensor(shape: resolved, storage: storage)
        let inShape = shape
        return Autograd.record(out, "reshape", inputs: [self]) { g in [g.reshaped(inShape)] }
    }

    public func flattened() -> Tensor { reshaped([count]) }
}

public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcastBinary(a, b, +)
    let sa = a.shape, sb = b.shape
    return Autograd.record(out, "add", inputs: [a, b]) { g in
        [a.requiresGrad ? g.summed(toShape: sa) : nil, b.requiresGrad ? g.summed(toShape: sb) : nil]
    }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcastBinary(a, b, -)
    let sa = a.shape, sb = b.shape
    return Autograd.record(out, "sub", inputs: [a, b]) { g in
        [a.requiresGrad ? g.summed(toShape: sa) : nil, b.requiresGrad ? (g * -1).summed(toShape: sb) : nil]
    }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcastBinary(a, b, *)
    return Autograd.record(out, "mul", inputs: [a, b]) { g in
        [a.requiresGrad ? broadcastBinary(g, b, *).summed(toShape: a.shape) : nil,
         b.requiresGrad ? broadcastBinary(g, a, *).summed(toShape: b.shape) : nil]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcastBinary(a, b, /)
    return Autograd.record(out, "div", inputs: [a, b]) { g in
        let ga = a.requiresGrad ? broadcastBinary(g, b, /).summed(toShape: a.shape) : nil
        // d(a/b)/db = -a/b² = -out/b
        let gb = b.requiresGrad ? broadcastBinary(broadcastBinary(g, out, *), b, { -$0 / $1 }).summed(toShape: b.shape) : nil
        return [ga, gb]
    }
}

public prefix func - (a: Tensor) -> Tensor { a * -1 }

public func * (a: Tensor, s: Float) -> Tensor {
    let out = a.map { $0 * s }
    return Autograd.record(out, "scale", inputs: [a]) { g in [g.map { $0 * s }] }
}

public func * (s: Float, a: Tensor) -> Tensor { a * s }

public func + (a: Tensor, s: Float) -> Tensor {
    let out = a.map { $0 + s }
    return Autograd.record(out, "add_scalar", inputs: [a]) { g in [g] }
}

public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }

public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }

extension Tensor {
    /// An element-wise function applied without recording (a building block for ops).
    @inline(__always)
    public func map(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let src = pointer, dst = out.pointer
        parallelFor(count, grain: 1 << 15) { r in
            for i in r { dst[i] = f(src[i]) }
        }
        return out
    }

    /// out[i] = f(self[i], other[i]) for same-shaped tensors, without recording.
    @inline(__always)
    public func zipMap(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(other.count == count, "zipMap: \(shape) vs \(other.shape)")
        let out = Tensor(uninitializedShape: shape)
        let a = pointer, b = other.pointer, dst = out.pointer
        parallelFor(count, grain: 1 << 15) { r in
            for i in r { dst[i] = f(a[i], b[i]) }
        }
        return out
    }

    /// Element-wise unary op with derivative `df(x, y)` (input and output), recorded.
    @inline(__always)
    public func unary(_ name: String, _ f: (Float) -> Float, derivative df: @escaping (Float, Float) -> Float) -> Tensor {
        let out = map(f)
        return Autograd.record(out, name, inputs: [self]) { [self] g in
            let d = Tensor(uninitializedShape: self.shape)
            let x = self.pointer, y = out.pointer, gp = g.pointer, dp = d.pointer
            parallelFor(self.count, grain: 1 << 15) { r in
                for i in r { dp[i] = gp[i] * df(x[i], y[i]) }
            }
            return [d]
        }
    }

    public func squared() -> Tensor { unary("square", { $0 * $0 }, derivative: { x, _ in 2 * x }) }
    public func exp() -> Tensor { unary("exp", { Foundation.exp($0) }, derivative: { _, y in y }) }
    public func log() -> Tensor { unary("log", { Foundation.log($0) }, derivative: { x, _ in 1 / x }) }
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }
}

import Foundation
