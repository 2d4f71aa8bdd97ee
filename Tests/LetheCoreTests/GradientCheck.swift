// Finite-difference checking of hand-written backward passes, shared by every op test.
import XCTest
@testable import LetheCore

/// Checks d(Σ w·f(inputs))/d(input) from autograd against central differences for every
/// input with `requiresGrad`. The loss is accumulated in Double so Float32 rounding in the sum
/// does not swamp the differences; the relative error is measured over the whole gradient.
func assertGradientsMatch(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Double = 1e-2, seed: UInt64 = 99,
                          file: StaticString = #filePath, line: UInt = #line,
                          _ f: ([Tensor]) -> Tensor) {
    for t in inputs { t.grad = nil }
    let y = f(inputs)
    var rng = RandomGenerator(seed: seed)
    let w = Tensor.randn(y.shape, rng: &rng)
    XCTAssertTrue(y.requiresGrad, "output does not require grad", file: file, line: line)
    y.backward(w)

    func loss() -> Double {
        let out = Autograd.inference { f(inputs) }
        var acc = 0.0
        for i in 0..<out.count { acc += Double(out[flat: i]) * Double(w[flat: i]) }
        return acc
    }
    for (n, t) in inputs.enumerated() where t.requiresGrad {
        guard let analytic = t.grad else {
            XCTFail("input \(n) got no gradient", file: file, line: line)
            continue
        }
        XCTAssertEqual(analytic.shape, t.shape, "input \(n) gradient shape", file: file, line: line)
        var diff2 = 0.0, ref2 = 0.0, worst = 0.0, worstAt = 0
        for i in 0..<t.count {
            let saved = t[flat: i]
            t[flat: i] = saved + eps
            let up = loss()
            t[flat: i] = saved - eps
            let down = loss()
            t[flat: i] = saved
            let numeric = (up - down) / (2 * Double(eps))
            let a = Double(analytic[flat: i])
            diff2 += (a - numeric) * (a - numeric)
            ref2 += numeric * numeric
            if abs(a - numeric) > worst { worst = abs(a - numeric); worstAt = i }
        }
        let rel = diff2.squareRoot() / max(ref2.squareRoot(), 1e-8)
        XCTAssertLessThan(rel, tolerance,
                          "input \(n) \(t.shape): relative gradient error \(rel), worst |Δ| \(worst) at \(worstAt)",
                          file: file, line: line)
        XCTAssertGreaterThan(ref2, 0, "input \(n): numeric gradient is all zero; the check proves nothing", file: file, line: line)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, requiresGrad: Bool = true, scale: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    let t = Tensor.randn(shape, rng: &rng, std: scale)
    t.requiresGrad = requiresGrad
    return t
}

func assertClose(_ a: Tensor, _ b: [Float], tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "element count", file: file, line: line)
    for i in 0..<min(a.count, b.count) where abs(a[flat: i] - b[i]) > tolerance * max(1, abs(b[i])) {
        XCTFail("element \(i): \(a[flat: i]) vs \(b[i])", file: file, line: line)
        return
    }
}
