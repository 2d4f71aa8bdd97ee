import XCTest
@testable import LetheCore

final class MatMulTests: XCTestCase {
    func testValues() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], data: [7, 8, 9, 10, 11, 12])
        assertClose(a.matmul(b), [58, 64, 139, 154])
        assertClose(a.matmul(a, transposeB: true), [14, 32, 32, 77])
        assertClose(a.matmul(a, transposeA: true), [17, 22, 27, 22, 29, 36, 27, 36, 45])
    }

    func testGradientsAllTransposeCombinations() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = randomTensor(ta ? [2, 4, 3] : [2, 3, 4], seed: 1)
                let b = randomTensor(tb ? [2, 5, 4] : [2, 4, 5], seed: 2)
                assertGradientsMatch([a, b]) { $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
                let shared = randomTensor(tb ? [5, 4] : [4, 5], seed: 3)
                assertGradientsMatch([a, shared]) { $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
            }
        }
    }

    func testLinearMatchesDefinitionAndGradients() {
        let x = randomTensor([2, 3, 4], seed: 4)
        let w = randomTensor([5, 4], seed: 5)
        let b = randomTensor([5], seed: 6)
        let y = Autograd.inference { x.linear(weight: w, bias: b) }
        for r in 0..<6 { for o in 0..<5 {
            var acc = b[flat: o]
            for i in 0..<4 { acc += x[flat: r * 4 + i] * w[flat: o * 4 + i] }
            XCTAssertEqual(y[flat: r * 5 + o], acc, accuracy: 1e-5)
        } }
        assertGradientsMatch([x, w, b]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
        assertGradientsMatch([x, w]) { $0[0].linear(weight: $0[1], bias: nil) }
    }
}
