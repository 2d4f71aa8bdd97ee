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
}
