import XCTest
@testable import LetheCore

/// Direct six-loop convolution: the definition the im2col path must reproduce.
private func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int)) -> [Float] {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let oh = (h + 2 * padding.0 - kh) / stride.0 + 1, ow = (wd + 2 * padding.1 - kw) / stride.1 + 1
    var out = [Float](repeating: 0, count: n * cout * oh * ow)
    for s in 0..<n { for o in 0..<cout { for oy in 0..<oh { for ox in 0..<ow {
        var acc = Double(b?[flat: o] ?? 0)
        for i in 0..<cin { for ky in 0..<kh { for kx in 0..<kw {
            let iy = oy * stride.0 - padding.0 + ky, ix = ox * stride.1 - padding.1 + kx
            guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
            acc += Double(x[flat: ((s * cin + i) * h + iy) * wd + ix]) * Double(w[flat: ((o * cin + i) * kh + ky) * kw + kx])
        } } }
        out[((s * cout + o) * oh + oy) * ow + ox] = Float(acc)
    } } } }
    return out
}

/// The adjoint loops: d⟨g, conv(x, w)⟩/dx and /dw, written from the definition.
private func naiveConv2dGradients(_ x: Tensor, _ w: Tensor, _ g: Tensor, stride: (Int, Int), padding: (Int, Int)) -> (dx: [Float], dw: [Float]) {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let (oh, ow) = (g.shape[2], g.shape[3])
    var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
    for s in 0..<n { for o in 0..<cout { for oy in 0..<oh { for ox in 0..<ow {
        let gv = Double(g[flat: ((s * cout + o) * oh + oy) * ow + ox])
        for i in 0..<cin { for ky in 0..<kh { for kx in 0..<kw {
            let iy = oy * stride.0 - padding.0 + ky, ix = ox * stride.1 - padding.1 + kx
            guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
            let xi = ((s * cin + i) * h + iy) * wd + ix, wi = ((o * cin + i) * kh + ky) * kw + kx
            dx[xi] += gv * Double(w[flat: wi])
            dw[wi] += gv * Double(x[flat: xi])
        } } }
    } } } }
    return (dx.map(Float.init), dw.map(Float.init))
}

/// Direct loop for a (kF, 1, 1) Conv3d with frame padding.
private func naiveTemporalConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, padding: Int) -> [Float] {
    let (n, cin, f, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let (cout, kf) = (w.shape[0], w.shape[2])
    let of = f + 2 * padding - kf + 1
    var out = [Float](repeating: 0, count: n * cout * of * h * wd)
    for s in 0..<n { for o in 0..<cout { for t in 0..<of { for p in 0..<(h * wd) {
        var acc = Double(b?[flat: o] ?? 0)
        for i in 0..<cin { for k in 0..<kf {
            let fi = t - padding + k
            guard fi >= 0, fi < f else { continue }
            acc += Double(x[flat: ((s * cin + i) * f + fi) * h * wd + p]) * Double(w[flat: (o * cin + i) * kf + k])
        } }
        out[((s * cout + o) * of + t) * h * wd + p] = Float(acc)
    } } } }
    return out
}

final class ConvolutionTests: XCTestCase {
    func testConv2DMatchesDirectLoop() {
        // (input, weight, stride, padding): stride 2 with padding, non-square input and kernel,
        // Cin ≠ Cout, 1×1 (the plain-GEMM path); then the schedules (on 2 cores): folded
        // chunks one after another with a partial last chunk, one-sample chunks over the
        // cores, folded chunks over the cores.
        let cases: [([Int], [Int], (Int, Int), (Int, Int))] = [
            ([2, 3, 7, 6], [5, 3, 3, 3], (2, 2), (1, 1)),
            ([2, 3, 7, 6], [4, 3, 3, 2], (2, 1), (1, 0)),
            ([3, 4, 5, 9], [2, 4, 2, 4], (1, 3), (0, 2)),
            ([2, 5, 4, 3], [3, 5, 1, 1], (1, 1), (0, 0)),
            ([6, 2, 16, 16], [3, 2, 3, 3], (1, 1), (1, 1)),
            ([5, 2, 32, 32], [3, 2, 3, 3], (1, 1), (1, 1)),
            ([4, 1, 64, 64], [2, 1, 3, 3], (2, 1), (1, 1)),
            ([18, 2, 16, 16], [2, 2, 3, 3], (1, 1), (1, 1)),
        ]
        for (seed, (xs, ws, stride, padding)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(10 + seed), requiresGrad: false)
            let w = randomTensor(ws, seed: UInt64(20 + seed), requiresGrad: false)
            let b = randomTensor([ws[0]], seed: UInt64(30 + seed), requiresGrad: false)
            for bias in [b, nil] {
                let y = x.conv2d(weight: w, bias: bias, stride: stride, padding: padding)
                let expected = naiveConv2d(x, w, bias, stride: stride, padding: padding)
                XCTAssertEqual(y.shape, [xs[0], ws[0],
                                         (xs[2] + 2 * padding.0 - ws[2]) / stride.0 + 1,
                                         (xs[3] + 2 * padding.1 - ws[3]) / stride.1 + 1])
                assertClose(y, expected, tolerance: 1e-4)
            }
        }
    }

    func testConv2DIntArgumentsAreBothAxes() {
        let x = randomTensor([1, 2, 6, 5], seed: 1, requiresGrad: false)
        let w = randomTensor([3, 2, 3, 3], seed: 2, requiresGrad: false)
        let y = x.conv2d(weight: w, stride: 2, padding: 1)
        XCTAssertEqual(y.shape, [1, 3, 3, 3])
        assertClose(y, naiveConv2d(x, w, nil, stride: (2, 2), padding: (1, 1)))
    }

    func testConv2DAgainstTorchValues() {
        // torch.nn.functional.conv2d(torch.arange(18.).reshape(1,2,3,3) / 10,
        //     torch.arange(16.).reshape(2,2,2,2) / 10 - 0.5, torch.tensor([0.1, -0.2]), stride=2, padding=1)
        let x = Tensor(shape: [1, 2, 3, 3], data: (0..<18).map { Float($0) / 10 })
        let w = Tensor(shape: [2, 2, 2, 2], data: (0..<16).map { Float($0) / 10 - 0.5 })
        let b = Tensor(shape: [2], data: [0.1, -0.2])
        let y = x.conv2d(weight: w, bias: b, stride: 2, padding: 1)
        XCTAssertEqual(y.shape, [1, 2, 2, 2])
        assertClose(y, [0.28, 0.35, 0.16, -0.3, 0.7, 1.97, 2.74, 6.12], tolerance: 1e-5)
    }

    /// Backward of every path (chunked small maps, one-sample chunks with a 32×32 output,
    /// 1×1 as a plain GEMM with and without chunking, chunks run one after another or spread
    /// over the cores) against the adjoint loops.
    func testConv2DBackwardMatchesAdjointLoops() {
        let cases: [([Int], [Int], (Int, Int), (Int, Int))] = [
            ([3, 3, 6, 5], [4, 3, 3, 2], (2, 1), (1, 1)),
            ([2, 2, 32, 32], [3, 2, 3, 3], (1, 1), (1, 1)),
            ([2, 3, 32, 32], [2, 3, 1, 1], (1, 1), (0, 0)),
            ([3, 3, 4, 4], [2, 3, 1, 1], (1, 1), (0, 0)),
            ([6, 2, 16, 16], [3, 2, 3, 3], (1, 1), (1, 1)),
            // Chunks taken whole by each core: folded samples, one-sample chunks, and 1×1.
            ([18, 2, 16, 16], [2, 2, 3, 3], (1, 1), (1, 1)),
            ([4, 2, 32, 32], [2, 2, 3, 3], (1, 1), (1, 1)),
            ([4, 2, 32, 32], [3, 2, 1, 1], (1, 1), (0, 0)),
            ([17, 3, 8, 8], [2, 3, 1, 1], (1, 1), (0, 0)),
        ]
        for (seed, (xs, ws, stride, padding)) in cases.enumerated() {
            let x = randomTensor(xs, seed: UInt64(40 + seed))
            let w = randomTensor(ws, seed: UInt64(50 + seed))
            let b = randomTensor([ws[0]], seed: UInt64(60 + seed))
            let y = x.conv2d(weight: w, bias: b, stride: stride, padding: padding)
            let g = randomTensor(y.shape, seed: UInt64(70 + seed), requiresGrad: false)
            y.backward(g)
            let (dx, dw) = naiveConv2dGradients(x, w, g, stride: stride, padding: padding)
            assertClose(x.grad!, dx, tolerance: 1e-4)
            assertClose(w.grad!, dw, tolerance: 1e-3)
            var db = [Float](repeating: 0, count: ws[0])
            let plane = y.shape[2] * y.shape[3]
            for i in 0..<g.count { db[(i / plane) % ws[0]] += g[flat: i] }
            assertClose(b.grad!, db, tolerance: 1e-3)
        }
    }

    func testConv2DGradientsFiniteDifferences() {
        let x = randomTensor([2, 3, 5, 4], seed: 1)
        let w = randomTensor([4, 3, 3, 2], seed: 2, scale: 0.5)
        let b = randomTensor([4], seed: 3)
        assertGradientsMatch([x, w, b]) { $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1)) }
        assertGradientsMatch([x, w]) { $0[0].conv2d(weight: $0[1], padding: 1) }
        let pw = randomTensor([2, 3, 1, 1], seed: 4)
        assertGradientsMatch([x, pw, randomTensor([2], seed: 5)]) { $0[0].conv2d(weight: $0[1], bias: $0[2]) }
    }

    func testConv2DGradientReachesInputThroughFrozenWeight() {
        let x = randomTensor([2, 2, 4, 4], seed: 6)
        let w = randomTensor([3, 2, 3, 3], seed: 7, requiresGrad: false)
        let b = randomTensor([3], seed: 8, requiresGrad: false)
        assertGradientsMatch([x]) { $0[0].conv2d(weight: w, bias: b, padding: 1) }
        XCTAssertNil(w.grad)
        XCTAssertNil(b.grad)
        // Nothing requires a gradient: no graph is recorded.
        let frozenInput = randomTensor([1, 2, 4, 4], seed: 9, requiresGrad: false)
        XCTAssertFalse(frozenInput.conv2d(weight: w, bias: b, padding: 1).requiresGrad)
    }

    func testTemporalConvMatchesDirectLoop() {
        let x = randomTensor([2, 3, 5, 2, 3], seed: 11, requiresGrad: false)
        for (kf, padding) in [(3, 1), (2, 0), (3, 2), (1, 0)] {
            let w = randomTensor([4, 3, kf, 1, 1], seed: UInt64(12 + kf), requiresGrad: false)
            let b = randomTensor([4], seed: 13, requiresGrad: false)
            for bias in [b, nil] {
                let y = x.temporalConv(weight: w, bias: bias, padding: padding)
                XCTAssertEqual(y.shape, [2, 4, 5 + 2 * padding - kf + 1, 2, 3])
                assertClose(y, naiveTemporalConv(x, w, bias, padding: padding), tolerance: 1e-4)
            }
        }
    }

    func testTemporalConvGradients() {
        let x = randomTensor([2, 3, 4, 2, 2], seed: 14)
        let w = randomTensor([2, 3, 3, 1, 1], seed: 15)
        let b = randomTensor([2], seed: 16)
        assertGradientsMatch([x, w, b]) { $0[0].temporalConv(weight: $0[1], bias: $0[2], padding: 1) }
        assertGradientsMatch([x, w]) { $0[0].temporalConv(weight: $0[1], padding: 0) }
        let frozen = randomTensor([2, 3, 3, 1, 1], seed: 17, requiresGrad: false)
        assertGradientsMatch([x]) { $0[0].temporalConv(weight: frozen, padding: 1) }
        XCTAssertNil(frozen.grad)
    }
}
