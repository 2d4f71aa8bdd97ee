import XCTest
@testable import LetheCore

final class UpsampleTests: XCTestCase {
    func testNearest2xAgainstTorchValues() {
        // F.interpolate(torch.arange(6.).reshape(1,1,2,3), scale_factor=2, mode="nearest")
        let y = Tensor(shape: [1, 1, 2, 3], data: [0, 1, 2, 3, 4, 5]).upsampleNearest2x()
        XCTAssertEqual(y.shape, [1, 1, 4, 6])
        assertClose(y, [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 3, 3, 4, 4, 5, 5])
    }

    func testNearest2xMatchesDefinitionFor4DAnd5D() {
        for shape in [[2, 3, 4, 5], [2, 2, 3, 2, 3]] {
            let x = randomTensor(shape, seed: 1, requiresGrad: false)
            let y = x.upsampleNearest2x()
            let h = shape[shape.count - 2], w = shape[shape.count - 1]
            XCTAssertEqual(y.shape, Array(shape.dropLast(2)) + [2 * h, 2 * w])
            var expected = [Float](repeating: 0, count: y.count)
            for p in 0..<(x.count / (h * w)) { for oy in 0..<(2 * h) { for ox in 0..<(2 * w) {
                expected[(p * 2 * h + oy) * 2 * w + ox] = x[flat: (p * h + oy / 2) * w + ox / 2]
            } } }
            assertClose(y, expected, tolerance: 0)
        }
    }

    func testNearest2xGradients() {
        assertGradientsMatch([randomTensor([2, 2, 3, 2], seed: 2)]) { $0[0].upsampleNearest2x() }
        assertGradientsMatch([randomTensor([1, 2, 2, 3, 2], seed: 3)]) { $0[0].upsampleNearest2x() }
    }
}
