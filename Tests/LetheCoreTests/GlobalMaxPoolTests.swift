import Foundation
import XCTest
@testable import LetheCore

final class GlobalMaxPoolTests: XCTestCase {
    func testForwardTakesEachChannelsMaximum() {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.randn([2, 3, 4, 5], rng: &rng)
        let y = x.globalMaxPool()
        XCTAssertEqual(y.shape, [2, 3])
        for row in 0..<6 {
            XCTAssertEqual(y[flat: row], (0..<20).map { x[flat: row * 20 + $0] }.max()!)
        }
    }

    func testGradientGoesToTheMaximum() {
        // Distinct values a step apart: finite differences never cross a tie.
        let values = (0..<48).map { Float(($0 * 29) % 48) * 0.1 }
        let x = Tensor(shape: [2, 2, 3, 4], data: values, requiresGrad: true)
        assertGradientsMatch([x]) { $0[0].globalMaxPool() }
        x.grad = nil
        x.globalMaxPool().sum().backward()
        XCTAssertEqual(x.grad!.scalars.filter { $0 != 0 }.count, 4)
    }
}
