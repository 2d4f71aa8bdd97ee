import XCTest
@testable import LetheCore

final class ShapeOpsTests: XCTestCase {
    func testPermutedMatchesIndexMapping() {
        let shape = [2, 3, 4, 5]
        let x = randomTensor(shape, seed: 1, requiresGrad: false)
        let axes = [2, 0, 3, 1]
        let y = x.permuted(axes)
        XCTAssertEqual(y.shape, [4, 2, 5, 3])
        let inStrides = Tensor.strides(shape), outStrides = Tensor.strides(y.shape)
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 { for d in 0..<5 {
            let src = [a, b, c, d]
            let dst = axes.map { src[$0] }
            let si = zip(src, inStrides).map { $0 * $1 }.reduce(0, +)
            let di = zip(dst, outStrides).map { $0 * $1 }.reduce(0, +)
            XCTAssertEqual(y[flat: di], x[flat: si])
        } } } }
        assertClose(x.permuted([0, 1, 2, 3]), x.scalars)
    }

    func testTransposed() {
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let t = x.transposed(0, 1)
        XCTAssertEqual(t.shape, [3, 2])
        assertClose(t, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(randomTensor([2, 3, 4], seed: 2).transposed(-1, 0).shape, [4, 3, 2])
    }

    func testSliceConcatenateChunk() {
        let x = Tensor(shape: [2, 4], data: [0, 1, 2, 3, 4, 5, 6, 7])
        assertClose(x.slice(axis: 1, range: 1..<3), [1, 2, 5, 6])
        assertClose(x.slice(axis: 0, range: 1..<2), [4, 5, 6, 7])
        let y = Tensor(shape: [2, 1], data: [8, 9])
        let c = Tensor.concatenate([x, y], axis: -1)
        XCTAssertEqual(c.shape, [2, 5])
        assertClose(c, [0, 1, 2, 3, 8, 4, 5, 6, 7, 9])
        let rows = Tensor.concatenate([x, x.slice(axis: 0, range: 0..<1)], axis: 0)
        assertClose(rows, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3])
        // torch.chunk: pieces of ceil(7/3) = 3, the last smaller.
        let z = randomTensor([2, 7], seed: 3, requiresGrad: false)
        let pieces = z.chunked(3, axis: 1)
        XCTAssertEqual(pieces.map(\.shape), [[2, 3], [2, 3], [2, 1]])
        assertClose(Tensor.concatenate(pieces, axis: 1), z.scalars)
        // and fewer pieces than asked when the size does not allow more: chunk(4) of 6 → 2,2,2
        XCTAssertEqual(randomTensor([6], seed: 4).chunked(4, axis: 0).map(\.shape), [[2], [2], [2]])
    }

    func testRowsGathersTheFirstAxisAndAddsGradientsBack() {
        let x = Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5])
        let picked = x.rows([2, 0, 2])
        XCTAssertEqual(picked.shape, [3, 2])
        assertClose(picked, [4, 5, 0, 1, 4, 5])
        // Row 2, taken twice, collects both gradients; row 1, never taken, gets none.
        assertGradientsMatch([randomTensor([3, 2, 2], seed: 6)]) { $0[0].rows([2, 0, 2]) }
    }

    func testShapeOpGradients() {
        let x = randomTensor([2, 3, 4], seed: 5)
        assertGradientsMatch([x]) { $0[0].permuted([1, 2, 0]) }
        assertGradientsMatch([x]) { $0[0].transposed(1, 2) }
        assertGradientsMatch([x]) { $0[0].slice(axis: 1, range: 1..<3) }
        let y = randomTensor([2, 2, 4], seed: 6)
        assertGradientsMatch([x, y]) { Tensor.concatenate([$0[0], $0[1]], axis: 1) }
        assertGradientsMatch([x]) { xs in
            let parts = xs[0].chunked(3, axis: 2)  // 2, 2 wide
            return parts[0] * parts[1]
        }
        // Pieces used unevenly: gradients from each chunk land in their own columns.
        assertGradientsMatch([x]) { xs in
            let parts = xs[0].chunked(2, axis: 1)  // 2 and 1 rows
            return Tensor.concatenate([parts[1], parts[0] * 2], axis: 1)
        }
    }

    // MARK: embedding

    func testEmbeddingLookupAndScatterAddGradient() {
        let w = randomTensor([5, 3], seed: 7)
        let ids = [4, 0, 4, 2]
        let e = w.embeddingLookup(ids: ids, shape: [2, 2])
        XCTAssertEqual(e.shape, [2, 2, 3])
        for (i, id) in ids.enumerated() { for j in 0..<3 { XCTAssertEqual(e[flat: i * 3 + j], w[flat: id * 3 + j]) } }
        let e32 = w.embeddingLookup(ids: ids.map(Int32.init))
        XCTAssertEqual(e32.shape, [4, 3])
        assertClose(e32, e.scalars)
        // A repeated id (4) collects both rows' gradients; an unused row (1, 3) gets zero.
        assertGradientsMatch([w]) { $0[0].embeddingLookup(ids: ids, shape: [2, 2]) }
        w.grad = nil
        w.embeddingLookup(ids: ids).backward(Tensor.ones([4, 3]))
        assertClose(w.grad!, [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 2])
    }

    // MARK: reductions

    func testReductionsMatchLoops() {
        let x = randomTensor([2, 3, 4], seed: 8, requiresGrad: false)
        let v = x.scalars
        XCTAssertEqual(x.sum().shape, [])
        XCTAssertEqual(x.sum().item, v.reduce(0, +), accuracy: 1e-5)
        XCTAssertEqual(x.mean().item, v.reduce(0, +) / 24, accuracy: 1e-6)
        for axis in 0..<3 {
            var expected = [Float](repeating: 0, count: 24 / x.shape[axis])
            var outShape = x.shape
            outShape.remove(at: axis)
            let outStrides = Tensor.strides(outShape)
            for a in 0..<2 { for b in 0..<3 { for c in 0..<4 {
                var idx = [a, b, c]
                idx.remove(at: axis)
                expected[zip(idx, outStrides).map { $0 * $1 }.reduce(0, +)] += x[flat: a * 12 + b * 4 + c]
            } } }
            let s = x.sum(axis: axis)
            XCTAssertEqual(s.shape, outShape)
            assertClose(s, expected, tolerance: 1e-5)
            assertClose(x.mean(axis: axis - 3), expected.map { $0 / Float(x.shape[axis]) }, tolerance: 1e-5)
            var kept = x.shape
            kept[axis] = 1
            XCTAssertEqual(x.sum(axis: axis, keepDim: true).shape, kept)
        }
    }

    func testLargeSumIsDeterministicAndAccurate() {
        // Over several blocks: Double accumulation keeps 1e6 values of 0.1 accurate.
        let x = Tensor(repeating: 0.1, shape: [1_000_000])
        XCTAssertEqual(x.sum().item, 100_000, accuracy: 1)
        XCTAssertEqual(x.mean().item, 0.1, accuracy: 1e-6)
    }

    func testReductionGradients() {
        let x = randomTensor([2, 3, 4], seed: 9)
        assertGradientsMatch([x]) { $0[0].sum() }
        assertGradientsMatch([x]) { $0[0].mean() }
        for axis in [0, 1, -1] {
            assertGradientsMatch([x]) { $0[0].sum(axis: axis) }
            assertGradientsMatch([x]) { $0[0].mean(axis: axis, keepDim: true) }
        }
    }
}
