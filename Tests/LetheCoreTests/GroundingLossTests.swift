import Foundation
import XCTest
@testable import LetheCore

final class GroundingLossTests: XCTestCase {
    /// B 2, L 3 pixels, T 2 tokens, K 2 objects, written out by hand.
    func testForwardIsTheWeightedSquaredShortfallOfEachTokensMassInItsObject() {
        let maps = Tensor(shape: [2, 3, 2], data: [0.5, 0.5,  0.2, 0.8,  0.3, 0.7,
                                                   0.1, 0.9,  0.6, 0.4,  0.3, 0.7])
        let masks = Tensor(shape: [2, 3, 2], data: [1, 0,  0.5, 0,  0, 1,
                                                    0, 0,  1, 0,  0, 0])
        let weights = Tensor(shape: [2, 2, 2], data: [0.25, 0,  0, 0.25,
                                                      0, 0,  0.5, 0])
        // Sample 0, token 0 in object 0: (0.5 + 0.1)/(1.0) = 0.6; token 1 in object 1: 0.7/2.0 = 0.35.
        // Sample 1, token 1 in object 0: 0.4/2.0 = 0.2.
        let expected = 0.25 * 0.4 * 0.4 + 0.25 * 0.65 * 0.65 + 0.5 * 0.8 * 0.8
        let loss = tokenGroundingLoss(maps: maps, masks: masks, weights: weights)
        XCTAssertEqual(loss.shape, [])
        XCTAssertEqual(Double(loss.item), expected, accuracy: 1e-6)
    }

    func testAttentionInsideTheMaskCostsNothing() {
        let maps = Tensor(shape: [1, 4, 1], data: [0.9, 0.8, 0, 0])
        let masks = Tensor(shape: [1, 4, 1], data: [1, 1, 0, 0])
        let weights = Tensor(shape: [1, 1, 1], data: [1])
        XCTAssertEqual(tokenGroundingLoss(maps: maps, masks: masks, weights: weights).item, 0, accuracy: 1e-7)
    }

    func testGradientMatchesFiniteDifferences() {
        var rng = RandomGenerator(seed: 8)
        // Softmax rows, as the maps are: positive and summing to one over tokens.
        let maps = Tensor.randn([2, 6, 4], rng: &rng).softmax(axis: -1)
        maps.requiresGrad = true
        let masks = Tensor.rand([2, 6, 3], rng: &rng)
        let weights = Tensor.rand([2, 4, 3], rng: &rng)
        assertGradientsMatch([maps], eps: 1e-3) { tokenGroundingLoss(maps: $0[0], masks: masks, weights: weights) }
    }

    func testGradientReachesLogitsThroughTheSoftmax() {
        var rng = RandomGenerator(seed: 9)
        let logits = Tensor.randn([1, 5, 3], rng: &rng)
        logits.requiresGrad = true
        let masks = Tensor.rand([1, 5, 2], rng: &rng)
        let weights = Tensor(shape: [1, 3, 2], data: [0, 0, 1, 0, 0, 1])
        assertGradientsMatch([logits], eps: 1e-3) {
            tokenGroundingLoss(maps: $0[0].softmax(axis: -1), masks: masks, weights: weights)
        }
    }
}
