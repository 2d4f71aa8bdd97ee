import XCTest
@testable import LetheCore

/// Group norm from the definition, statistics in Double.
private func naiveGroupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double) -> [Float] {
    let n = x.shape[0], c = x.shape[1], spatial = x.count / (n * c), per = c / groups
    var out = [Float](repeating: 0, count: x.count)
    for s in 0..<n { for g in 0..<groups {
        let idx = (0..<(per * spatial)).map { (s * c + g * per) * spatial + $0 }
        let mean = idx.reduce(0.0) { $0 + Double(x[flat: $1]) } / Double(idx.count)
        let variance = idx.reduce(0.0) { $0 + (Double(x[flat: $1]) - mean) * (Double(x[flat: $1]) - mean) } / Double(idx.count)
        for i in idx {
            let ch = (i / spatial) % c
            let xhat = (Double(x[flat: i]) - mean) / (variance + eps).squareRoot()
            out[i] = Float(xhat * Double(weight?[flat: ch] ?? 1) + Double(bias?[flat: ch] ?? 0))
        }
    } }
    return out
}

private func naiveLayerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double) -> [Float] {
    let d = x.shape.last!
    var out = [Float](repeating: 0, count: x.count)
    for r in 0..<(x.count / d) {
        let row = (0..<d).map { Double(x[flat: r * d + $0]) }
        let mean = row.reduce(0, +) / Double(d)
        let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
        for j in 0..<d {
            let xhat = (row[j] - mean) / (variance + eps).squareRoot()
            out[r * d + j] = Float(xhat * Double(weight?[flat: j] ?? 1) + Double(bias?[flat: j] ?? 0))
        }
    }
    return out
}

final class NormalizationTests: XCTestCase {
    /// The 24 values used by the torch reference checks.
    private let referenceInput = (0..<24).map { Float($0 * $0 % 11) / 4 - 1 }

    func testGroupNormMatchesDefinition() {
        // Several group counts, spatial ranks (none, 2-D, video 3-D) and sizes whose group
        // length is not a multiple of the SIMD width; a large mean tests the two-pass variance.
        let cases: [([Int], Int)] = [([2, 6, 3, 5], 3), ([2, 6, 3, 5], 1), ([2, 6, 3, 5], 6),
                                     ([3, 8], 4), ([2, 4, 2, 3, 3], 2), ([1, 4, 17, 19], 2)]
        for (seed, (shape, groups)) in cases.enumerated() {
            let x = randomTensor(shape, seed: UInt64(seed), requiresGrad: false, scale: 3) + 50
            let w = randomTensor([shape[1]], seed: UInt64(100 + seed), requiresGrad: false)
            let b = randomTensor([shape[1]], seed: UInt64(200 + seed), requiresGrad: false)
            assertClose(x.groupNorm(groups: groups, weight: w, bias: b), naiveGroupNorm(x, groups: groups, weight: w, bias: b, eps: 1e-5), tolerance: 1e-4)
            assertClose(x.groupNorm(groups: groups, eps: 1e-3), naiveGroupNorm(x, groups: groups, weight: nil, bias: nil, eps: 1e-3), tolerance: 1e-4)
        }
    }

    func testGroupNormAgainstTorchValues() {
        // F.group_norm(x.reshape(2,4,3), 2, weight=[0.5,2,1,-1], bias=[0.1,-0.3,0,1]),
        // x = [(i*i % 11)/4 - 1 for i in range(24)]
        let x = Tensor(shape: [2, 4, 3], data: referenceInput)
        let y = x.groupNorm(groups: 2, weight: Tensor(shape: [4], data: [0.5, 2, 1, -1]),
                            bias: Tensor(shape: [4], data: [0.1, -0.3, 0, 1]))
        assertClose(y, [-0.526777, -0.355838, 0.15698, 3.3467, 0.611676, -0.755838, -0.227919, 0.455838,
                        1.82335, 0.886041, 1.91168, 2.25355, -0.539031, 0.0663668, 1.07536, 0.372664,
                        -1.24173, -1.24173, 0.539159, 1.83314, 0.215664, 1.75482, 2.07832, 1.75482], tolerance: 1e-4)
    }

    func testGroupNormGradients() {
        let x = randomTensor([2, 4, 3, 2], seed: 1)
        let w = randomTensor([4], seed: 2)
        let b = randomTensor([4], seed: 3)
        assertGradientsMatch([x, w, b]) { $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2]) }
        assertGradientsMatch([x]) { $0[0].groupNorm(groups: 4) }
        let video = randomTensor([1, 4, 2, 2, 3], seed: 4)
        assertGradientsMatch([video, w]) { $0[0].groupNorm(groups: 1, weight: $0[1], bias: nil) }
        // Frozen affine parameters still pass the gradient to the input.
        let frozenW = randomTensor([4], seed: 5, requiresGrad: false)
        let frozenB = randomTensor([4], seed: 6, requiresGrad: false)
        assertGradientsMatch([x]) { $0[0].groupNorm(groups: 2, weight: frozenW, bias: frozenB) }
        XCTAssertNil(frozenW.grad)
    }

    func testLayerNormMatchesDefinition() {
        for (seed, shape) in [[3, 5], [2, 3, 17], [4, 64], [1]].enumerated() {
            let x = randomTensor(shape, seed: UInt64(seed), requiresGrad: false, scale: 2) + 10
            let d = shape.last!
            let w = randomTensor([d], seed: UInt64(10 + seed), requiresGrad: false)
            let b = randomTensor([d], seed: UInt64(20 + seed), requiresGrad: false)
            assertClose(x.layerNorm(weight: w, bias: b), naiveLayerNorm(x, weight: w, bias: b, eps: 1e-5), tolerance: 1e-4)
            assertClose(x.layerNorm(weight: w), naiveLayerNorm(x, weight: w, bias: nil, eps: 1e-5), tolerance: 1e-4)
            assertClose(x.layerNorm(bias: b, eps: 1e-2), naiveLayerNorm(x, weight: nil, bias: b, eps: 1e-2), tolerance: 1e-4)
        }
    }

    func testLayerNormAgainstTorchValues() {
        // F.layer_norm(x.reshape(4,6), (6,), weight=[0.5,2,1,-1,0.3,1.5], bias=[0.1,-0.3,0,1,0.2,-0.1])
        let x = Tensor(shape: [4, 6], data: referenceInput)
        let y = x.layerNorm(weight: Tensor(shape: [6], data: [0.5, 2, 1, -1, 0.3, 1.5]),
                            bias: Tensor(shape: [6], data: [0.1, -0.3, 0, 1, 0.2, -0.1]))
        assertClose(y, [-0.526777, -2.12335, 0.11396, -0.823352, 0.336751, -0.441878, -0.0139595, 0.611676,
                        1.82335, 0.886041, -0.0735028, -1.98033, -0.539031, -0.434533, 1.95073, 0.663668,
                        0.0587405, -0.806297, 0.36958, 3.36628, 0.215664, 1.75482, -0.123496, -1.23223], tolerance: 1e-4)
    }

    func testLayerNormGradients() {
        let x = randomTensor([3, 2, 5], seed: 7)
        let w = randomTensor([5], seed: 8)
        let b = randomTensor([5], seed: 9)
        assertGradientsMatch([x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        assertGradientsMatch([x]) { $0[0].layerNorm() }
        assertGradientsMatch([x, b]) { $0[0].layerNorm(weight: nil, bias: $0[1]) }
        let frozenW = randomTensor([5], seed: 10, requiresGrad: false)
        assertGradientsMatch([x]) { $0[0].layerNorm(weight: frozenW, bias: nil) }
        XCTAssertNil(frozenW.grad)
    }

    /// The parameter gradients split rows over the cores past a size threshold; compare that
    /// path with sums written out.
    func testLayerNormParameterGradientsOnManyRows() {
        let x = randomTensor([300, 256], seed: 11)
        let w = randomTensor([256], seed: 12)
        let b = randomTensor([256], seed: 13)
        let g = randomTensor([300, 256], seed: 14, requiresGrad: false)
        x.layerNorm(weight: w, bias: b).backward(g)
        let xhat = Autograd.inference { x.layerNorm() }
        var dw = [Float](repeating: 0, count: 256), db = [Float](repeating: 0, count: 256)
        for r in 0..<300 { for j in 0..<256 {
            dw[j] += g[flat: r * 256 + j] * xhat[flat: r * 256 + j]
            db[j] += g[flat: r * 256 + j]
        } }
        assertClose(w.grad!, dw, tolerance: 1e-3)
        assertClose(b.grad!, db, tolerance: 1e-3)
    }
}
