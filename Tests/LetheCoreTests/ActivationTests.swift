import XCTest
@testable import LetheCore

final class ActivationTests: XCTestCase {
    // Reference values printed by torch 2.x (F.gelu, F.silu, torch.sigmoid, x·sigmoid(1.702x)).
    let inputs: [Float] = [-3, -1, -0.5, 0, 0.5, 1, 3]

    func testGELUMatchesTorch() {
        let x = Tensor(shape: [7], data: inputs)
        assertClose(x.gelu(), [-0.0040498674, -0.15865529, -0.15426879, 0, 0.3457312, 0.8413447, 2.9959502], tolerance: 1e-6)
        assertClose(x.gelu(approximate: .tanh), [-0.003637433, -0.158808, -0.154286, 0, 0.345714, 0.841192, 2.9963627], tolerance: 1e-6)
        XCTAssertEqual(GELUApproximation(rawValue: "tanh"), .tanh, "config strings are torch's")
    }

    func testQuickGELUSiLUSigmoidMatchTorch() {
        let x = Tensor(shape: [7], data: inputs)
        assertClose(x.quickGELU(), [-0.01807131, -0.15420423, -0.14961156, 0, 0.35038844, 0.84579575, 2.9819288], tolerance: 1e-6)
        assertClose(x.silu(), [-0.14227761, -0.26894143, -0.18877034, 0, 0.31122968, 0.7310586, 2.8577225], tolerance: 1e-6)
        assertClose(x.sigmoid(), [0.047425874, 0.26894143, 0.37754068, 0.5, 0.62245935, 0.7310586, 0.95257413], tolerance: 1e-6)
        let extreme = Tensor(shape: [2], data: [-200, 200]).sigmoid()
        XCTAssertEqual(extreme.scalars, [0, 1], "sigmoid saturates without NaN")
    }

    func testGEGLUIsHiddenTimesGELUOfGate() {
        let x = randomTensor([2, 3, 8], seed: 1, requiresGrad: false)
        for approximate in [GELUApproximation.none, .tanh] {
            let y = x.geglu(approximate: approximate)
            XCTAssertEqual(y.shape, [2, 3, 4])
            let gates = x.slice(axis: -1, range: 4..<8).gelu(approximate: approximate)
            for r in 0..<6 { for j in 0..<4 {
                XCTAssertEqual(y[flat: r * 4 + j], x[flat: r * 8 + j] * gates[flat: r * 4 + j], accuracy: 1e-6)
            } }
        }
    }

    func testActivationGradients() {
        let x = randomTensor([3, 5], seed: 2, scale: 2)
        assertGradientsMatch([x]) { $0[0].gelu() }
        assertGradientsMatch([x]) { $0[0].gelu(approximate: .tanh) }
        assertGradientsMatch([x]) { $0[0].quickGELU() }
        assertGradientsMatch([x]) { $0[0].silu() }
        assertGradientsMatch([x]) { $0[0].sigmoid() }
        let h = randomTensor([2, 3, 6], seed: 3, scale: 2)
        assertGradientsMatch([h]) { $0[0].geglu() }
        assertGradientsMatch([h]) { $0[0].geglu(approximate: .tanh) }
    }
    /// The SIMD kernels against Double-precision formulas on a dense grid (an element count
    /// that is not a multiple of eight, so the partial last block runs too). Values are checked
    /// relative to themselves, derivatives relative to max(1, |f′|) (f′ crosses zero).
    func testSIMDActivationsMatchDoublePrecision() {
        let xs = stride(from: -20.0, through: 20.0, by: 1.0 / 64).map { Float($0) } + [0.123]
        XCTAssertNotEqual(xs.count % 8, 0)
        func sigma(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
        func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
        let k = (2 / Double.pi).squareRoot()
        // (name, op, f, f′, value tolerance for x ≥ −5, below −5)
        let cases: [(String, (Tensor) -> Tensor, (Double) -> Double, (Double) -> Double, Double, Double)] = [
            ("sigmoid", { $0.sigmoid() }, sigma, { sigma($0) * sigma(-$0) }, 5e-7, 5e-7),
            ("silu", { $0.silu() }, { $0 * sigma($0) }, { sigma($0) * (1 + $0 * sigma(-$0)) }, 5e-7, 5e-7),
            ("quick_gelu", { $0.quickGELU() }, { $0 * sigma(1.702 * $0) },
             { sigma(1.702 * $0) + 1.702 * $0 * sigma(1.702 * $0) * sigma(-1.702 * $0) }, 2e-6, 5e-6),
            ("gelu", { $0.gelu() }, { $0 * phi($0) },
             { phi($0) + $0 * Foundation.exp(-0.5 * $0 * $0) / (2 * Double.pi).squareRoot() }, 2e-6, 2e-5),
            // x·σ(2u) is ½x(1 + tanh u) without the cancellation Double would suffer for u ≪ 0.
            ("gelu_tanh", { $0.gelu(approximate: .tanh) }, { x in x * sigma(2 * k * (x + 0.044715 * x * x * x)) },
             { x in
                 let s = sigma(2 * k * (x + 0.044715 * x * x * x))
                 return s + 2 * x * s * (1 - s) * k * (1 + 3 * 0.044715 * x * x)
             }, 4e-6, 5e-5),
        ]
        for (name, op, f, df, near, far) in cases {
            let x = Tensor(shape: [xs.count], data: xs, requiresGrad: true)
            let y = op(x)
            y.backward(Tensor.ones(x.shape))
            var worstValue = 0.0, worstSlope = 0.0
            for (i, xf) in xs.enumerated() {
                let xd = Double(xf), ref = f(xd), slope = df(xd)
                let valueError = abs(Double(y[flat: i]) - ref) / max(abs(ref), 1e-30) / (xd >= -5 ? near : far)
                worstValue = max(worstValue, valueError)
                worstSlope = max(worstSlope, abs(Double(x.grad![flat: i]) - slope) / max(abs(slope), 1))
            }
            XCTAssertLessThan(worstValue, 1, "\(name): value error over tolerance by \(worstValue)×")
            XCTAssertLessThan(worstSlope, 5e-7, "\(name): derivative error")
        }
    }

    func testActivationTailsSaturateCleanly() {
        let x = Tensor(shape: [6], data: [-200, -30, -1e-30, 1e-30, 30, 200])
        XCTAssertEqual(x.sigmoid()[flat: 0], 0, "below −88 σ is 0, as with IEEE expf")
        for (name, y, expected) in [("sigmoid", x.sigmoid(), [0, 9.357623e-14, 0.5, 0.5, 1, 1]),
                                    ("silu", x.silu(), [0, -2.8072872e-12, -5e-31, 5e-31, 30, 200]),
                                    ("gelu", x.gelu(), [0, 0, -5e-31, 5e-31, 30, 200])] as [(String, Tensor, [Float])] {
            for (i, e) in expected.enumerated() {
                XCTAssertEqual(y[flat: i], e, accuracy: abs(e) * 1e-5, "\(name)(\(x[flat: i]))")
            }
        }
        XCTAssertTrue(Tensor(shape: [1], data: [.nan]).gelu()[flat: 0].isNaN, "NaN propagates")
        XCTAssertTrue(Tensor(shape: [1], data: [.nan]).silu()[flat: 0].isNaN, "NaN propagates")
    }

    func testGEGLUWithPartialLaneBlocks() {
        // Half-width 11: one full block of eight and a partial one per row.
        let h = randomTensor([3, 22], seed: 4, scale: 2)
        let y = h.geglu()
        let gates = Autograd.inference { h.slice(axis: -1, range: 11..<22).gelu() }
        for r in 0..<3 { for j in 0..<11 {
            XCTAssertEqual(y[flat: r * 11 + j], h[flat: r * 22 + j] * gates[flat: r * 11 + j], accuracy: 1e-6)
        } }
        assertGradientsMatch([h]) { $0[0].geglu() }
    }
}
