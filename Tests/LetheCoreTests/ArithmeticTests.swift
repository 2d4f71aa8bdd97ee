import XCTest
@testable import LetheCore

final class ArithmeticTests: XCTestCase {
    func testBroadcastValues() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3], data: [10, 20, 30])
        assertClose(a + b, [11, 22, 33, 14, 25, 36])
        let c = Tensor(shape: [2, 1], data: [2, 4])
        assertClose(a * c, [2, 4, 6, 16, 20, 24])
        assertClose(a / c, [0.5, 1, 1.5, 1, 1.25, 1.5])
        assertClose(c - b, [-8, -18, -28, -6, -16, -26])
        XCTAssertEqual((c - b).shape, [2, 3])
    }

    func testBroadcastNCHWBias() {
        let x = randomTensor([2, 3, 4, 5], seed: 1, requiresGrad: false)
        let b = randomTensor([1, 3, 1, 1], seed: 2, requiresGrad: false)
        let y = x + b
        for n in 0..<2 { for c in 0..<3 { for i in 0..<20 {
            let idx = (n * 3 + c) * 20 + i
            XCTAssertEqual(y[flat: idx], x[flat: idx] + b[flat: c])
        } } }
    }

    func testArithmeticGradients() {
        let a = randomTensor([2, 3, 4], seed: 3)
        let b = randomTensor([3, 1], seed: 4)
        assertGradientsMatch([a, b]) { $0[0] + $0[1] }
        assertGradientsMatch([a, b]) { $0[0] - $0[1] }
        assertGradientsMatch([a, b]) { $0[0] * $0[1] }
        let d = randomTensor([3, 1], seed: 5).map { 2 + abs($0) }
        d.requiresGrad = true
        assertGradientsMatch([a, d]) { $0[0] / $0[1] }
        assertGradientsMatch([a]) { ($0[0] * 3 + 1).squared() }
        assertGradientsMatch([d]) { $0[0].log() + $0[0].sqrt() + ($0[0] * 0.3).exp() }
    }

    func testReshapeKeepsGradientFlowing() {
        let a = randomTensor([2, 6], seed: 6)
        assertGradientsMatch([a]) { $0[0].reshaped([3, -1]) * $0[0].reshaped([3, 4]) }
    }

    func testGradientsAccumulateAndFlowThroughFrozen() {
        let w = randomTensor([3, 3], seed: 7, requiresGrad: false)  // frozen
        let x = randomTensor([2, 3], seed: 8)
        let y = x.matmul(w) + x
        y.backward(Tensor.ones(y.shape))
        XCTAssertNil(w.grad, "a frozen parameter collects no gradient")
        let first = x.grad!.scalars
        let y2 = x.matmul(w) + x
        y2.backward(Tensor.ones(y2.shape))
        for (g, f) in zip(x.grad!.scalars, first) { XCTAssertEqual(g, 2 * f, accuracy: 1e-5) }
    }

    func testInferenceRecordsNothing() {
        let x = randomTensor([2, 3], seed: 9)
        let y = Autograd.inference { x * x }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
    }
}

final class LargeBufferCacheTests: XCTestCase {
    func testFreedLargeBuffersAreReusedAndSmallOnesAreNot() {
        let n = LargeBufferCache.shared.minimumCount
        var a: Tensor? = Tensor(repeating: 7, shape: [n])
        let address = a!.pointer
        a = nil
        let b = Tensor(repeating: 1, shape: [n])
        XCTAssertEqual(b.pointer, address, "the freed buffer of the same size is handed out again")
        XCTAssertTrue(b.scalars.allSatisfy { $0 == 1 }, "a reused buffer holds the new values only")
        let small = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        XCTAssertFalse(LargeBufferCache.shared.give(small, count: 16), "small buffers stay with malloc")
        small.deallocate()
    }
}
