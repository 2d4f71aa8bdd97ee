import Foundation
import XCTest
@testable import LetheCore

final class BinaryCrossEntropyTests: XCTestCase {
    func testForwardMatchesTheDefinitionEvenForHugeLogits() {
        let logits = Tensor(shape: [2, 3], data: [0.5, -2, 3, 0, 40, -40])
        let targets = Tensor(shape: [2, 3], data: [1, 0, 0.25, 1, 0, 0])
        var expected = 0.0
        for i in 0..<6 {
            let x = Double(logits[flat: i]), t = Double(targets[flat: i])
            // log σ(x) and log(1 − σ(x)) = log σ(−x), each written to stay finite at ±40.
            let logP = -log1p(exp(-x)), logQ = -log1p(exp(x))
            expected -= t * logP + (1 - t) * logQ
        }
        expected /= 6
        let loss = binaryCrossEntropyWithLogits(logits: logits, targets: targets)
        XCTAssertEqual(loss.shape, [])
        XCTAssertEqual(Double(loss.item), expected, accuracy: 1e-5 * expected)
        XCTAssertTrue(loss.item.isFinite)
    }

    func testGradientMatchesFiniteDifferences() {
        var rng = RandomGenerator(seed: 4)
        let logits = Tensor.randn([3, 5], rng: &rng, std: 2)
        logits.requiresGrad = true
        let targets = Tensor.rand([3, 5], rng: &rng)
        assertGradientsMatch([logits]) { binaryCrossEntropyWithLogits(logits: $0[0], targets: targets) * 10 }
    }

    func testTargetsOutliveTheirCallerUntilBackward() {
        // The loss of a temporary targets tensor must still differentiate correctly.
        let logits = Tensor(shape: [1, 2], data: [0, 0], requiresGrad: true)
        let loss = binaryCrossEntropyWithLogits(logits: logits, targets: Tensor(shape: [1, 2], data: [1, 0]))
        loss.backward()
        XCTAssertEqual(logits.grad!.scalars, [-0.25, 0.25])
    }
}
