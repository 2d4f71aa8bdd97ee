import CBLAS
import Foundation
import XCTest
@testable import LetheCore

/// Attention computed the obvious way, one (item, head, query) at a time, in Double.
private func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int, causal: Bool, scale: Float?) -> [Float] {
    let b = q.shape[0], lq = q.shape[1], lk = k.shape[1]
    let d = q.shape[2] / heads, dv = v.shape[2] / heads
    let s = Double(scale ?? 1 / Float(d).squareRoot())
    var out = [Float](repeating: 0, count: b * lq * heads * dv)
    for n in 0..<b { for h in 0..<heads { for i in 0..<lq {
        let visible = causal ? min(i + 1, lk) : lk
        var scores = [Double](repeating: 0, count: visible)
        for j in 0..<visible {
            var acc = 0.0
            for c in 0..<d {
                acc += Double(q[flat: (n * lq + i) * heads * d + h * d + c]) * Double(k[flat: (n * lk + j) * heads * d + h * d + c])
            }
            scores[j] = acc * s
        }
        let m = scores.max()!
        let e = scores.map { Foundation.exp($0 - m) }
        let z = e.reduce(0, +)
        for c in 0..<dv {
            var acc = 0.0
            for j in 0..<visible { acc += e[j] / z * Double(v[flat: (n * lk + j) * heads * dv + h * dv + c]) }
            out[(n * lq + i) * heads * dv + h * dv + c] = Float(acc)
        }
    } } }
    return out
}

final class AttentionTests: XCTestCase {
    private func check(batch: Int, lq: Int, lk: Int, heads: Int, d: Int, dv: Int, causal: Bool, scale: Float? = nil,
                       file: StaticString = #filePath, line: UInt = #line) {
        let q = randomTensor([batch, lq, heads * d], seed: 1, requiresGrad: false)
        let k = randomTensor([batch, lk, heads * d], seed: 2, requiresGrad: false)
        let v = randomTensor([batch, lk, heads * dv], seed: 3, requiresGrad: false)
        let expected = naiveAttention(q, k, v, heads: heads, causal: causal, scale: scale)
        let y = scaledDotProductAttention(query: q, key: k, value: v, heads: heads, causal: causal, scale: scale)
        XCTAssertEqual(y.shape, [batch, lq, heads * dv], file: file, line: line)
        assertClose(y, expected, tolerance: 1e-5, file: file, line: line)
        // The recording path (probabilities kept for backward) computes the same values.
        q.requiresGrad = true
        let recorded = scaledDotProductAttention(query: q, key: k, value: v, heads: heads, causal: causal, scale: scale)
        XCTAssertTrue(recorded.requiresGrad, file: file, line: line)
        assertClose(recorded, expected, tolerance: 1e-5, file: file, line: line)
    }

    func testSelfAttentionMatchesPerHeadLoop() {
        check(batch: 2, lq: 5, lk: 5, heads: 3, d: 4, dv: 4, causal: false)
        check(batch: 2, lq: 5, lk: 5, heads: 3, d: 4, dv: 4, causal: false, scale: 0.3)
    }

    func testCausalMaskMatchesPerHeadLoop() {
        check(batch: 2, lq: 6, lk: 6, heads: 2, d: 3, dv: 3, causal: true)
        // The first query sees only the first key: its output is exactly that value row.
        let q = randomTensor([1, 4, 2], seed: 4, requiresGrad: false)
        let v = randomTensor([1, 4, 2], seed: 5, requiresGrad: false)
        let y = scaledDotProductAttention(query: q, key: q, value: v, heads: 1, causal: true)
        XCTAssertEqual(y[flat: 0], v[flat: 0], accuracy: 1e-6)
        XCTAssertEqual(y[flat: 1], v[flat: 1], accuracy: 1e-6)
    }

    func testCrossAttentionWithDifferentLengths() {
        check(batch: 2, lq: 3, lk: 7, heads: 2, d: 4, dv: 4, causal: false)
        check(batch: 1, lq: 7, lk: 3, heads: 2, d: 4, dv: 5, causal: false)
        check(batch: 1, lq: 3, lk: 7, heads: 2, d: 4, dv: 4, causal: true)
    }

    func testWideHeadsUseStripKernelAndRemainder() {
        // Head widths of 16·k + r take the SIMD strip path plus sgemm for the last r columns;
        // odd lengths leave rows outside the three-row blocks.
        check(batch: 2, lq: 7, lk: 11, heads: 2, d: 20, dv: 36, causal: false)
        check(batch: 1, lq: 10, lk: 10, heads: 2, d: 32, dv: 32, causal: true)
    }

    func testAttentionGradients() {
        for causal in [false, true] {
            let q = randomTensor([2, 4, 6], seed: 10)
            let k = randomTensor([2, 4, 6], seed: 11)
            let v = randomTensor([2, 4, 6], seed: 12)
            assertGradientsMatch([q, k, v]) { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], heads: 2, causal: causal) }
        }
        // Cross-attention, value width different from the query's, custom scale.
        let q = randomTensor([1, 3, 4], seed: 13)
        let k = randomTensor([1, 5, 4], seed: 14)
        let v = randomTensor([1, 5, 6], seed: 15)
        assertGradientsMatch([q, k, v]) { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], heads: 2, scale: 0.7) }
        // Strip-kernel widths in backward too (dV, dQ, dK are all head-wide), and rows long
        // enough for the vectorised softmax backward.
        let qw = randomTensor([1, 4, 40], seed: 16, scale: 0.3)
        let kw = randomTensor([1, 11, 40], seed: 17, scale: 0.3)
        let vw = randomTensor([1, 11, 40], seed: 18)
        assertGradientsMatch([qw, kw, vw]) { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], heads: 2) }
    }

    func testGradientReachesQueryThroughFrozenKeysAndValues() {
        let q = randomTensor([1, 3, 4], seed: 20)
        let k = randomTensor([1, 3, 4], seed: 21, requiresGrad: false)
        let v = randomTensor([1, 3, 4], seed: 22, requiresGrad: false)
        assertGradientsMatch([q, k, v]) { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], heads: 2) }
        XCTAssertNil(k.grad)
        XCTAssertNil(v.grad)
    }

    func testConcurrentCallsRestoreBLASThreadCount() {
        let before = openblas_get_num_threads()
        let q = randomTensor([2, 6, 8], seed: 23, requiresGrad: false)
        let expected = scaledDotProductAttention(query: q, key: q, value: q, heads: 2).scalars
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            XCTAssertEqual(scaledDotProductAttention(query: q, key: q, value: q, heads: 2).scalars, expected)
        }
        XCTAssertEqual(openblas_get_num_threads(), before)
    }

    // MARK: softmax

    func testSoftmaxRowsSumToOneAndMatchDefinition() {
        let x = randomTensor([3, 13], seed: 30, requiresGrad: false, scale: 3)
        let y = x.softmax()
        for r in 0..<3 {
            let row = (0..<13).map { Double(x[flat: r * 13 + $0]) }
            let z = row.map { Foundation.exp($0) }.reduce(0, +)
            var total: Float = 0
            for j in 0..<13 {
                XCTAssertEqual(y[flat: r * 13 + j], Float(Foundation.exp(row[j]) / z), accuracy: 1e-6)
                total += y[flat: r * 13 + j]
            }
            XCTAssertEqual(total, 1, accuracy: 1e-5)
        }
    }

    func testSoftmaxIsStableForLargeInputs() {
        let y = Tensor(shape: [1, 3], data: [1000, 1001, -1000]).softmax()
        assertClose(y, [0.26894143, 0.7310586, 0], tolerance: 1e-6)
    }

    func testSoftmaxAlongInnerAxis() {
        let x = randomTensor([2, 3, 4], seed: 31, requiresGrad: false)
        let y = x.softmax(axis: 1)
        for n in 0..<2 { for i in 0..<4 {
            let col = (0..<3).map { Double(x[flat: (n * 3 + $0) * 4 + i]) }
            let z = col.map { Foundation.exp($0) }.reduce(0, +)
            for j in 0..<3 {
                XCTAssertEqual(y[flat: (n * 3 + j) * 4 + i], Float(Foundation.exp(col[j]) / z), accuracy: 1e-6)
            }
        } }
    }

    func testSoftmaxGradients() {
        let x = randomTensor([2, 3, 5], seed: 32)
        assertGradientsMatch([x]) { $0[0].softmax() }
        let long = randomTensor([2, 19], seed: 33)  // SIMD blocks plus a tail
        assertGradientsMatch([long]) { $0[0].softmax() }
        assertGradientsMatch([x]) { $0[0].softmax(axis: 1) }
        assertGradientsMatch([x]) { $0[0].softmax(axis: 0) }
    }

    func testVectorisedExpAccuracy() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            var lanes = SIMD8<Float>()
            for i in 0..<8 { lanes[i] = x + Float(i) * 0.013 }
            let e = exp8(lanes)
            for i in 0..<8 {
                let exact = Foundation.exp(Double(lanes[i]))
                worst = max(worst, Float(abs(Double(e[i]) - exact) / exact))
            }
            x += 0.37
        }
        XCTAssertLessThan(worst, 3e-7, "relative error of exp8")
        XCTAssertEqual(exp8(SIMD8(repeating: -.infinity))[0], 0, accuracy: 1e-37)
    }
}
