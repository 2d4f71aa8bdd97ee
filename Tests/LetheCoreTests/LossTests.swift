import Foundation
import XCTest
@testable import LetheCore

final class LossTests: XCTestCase {
    func testMSELossValue() {
        let x = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        let t = Tensor(shape: [2, 2], data: [0, 2, 5, 3])
        XCTAssertEqual(x.mseLoss(t).item, (1 + 0 + 4 + 1) / 4, accuracy: 1e-6)
        XCTAssertEqual(x.mseLoss(t).shape, [])
    }

    func testMSELossGradients() {
        let x = randomTensor([3, 4], seed: 1)
        let t = randomTensor([3, 4], seed: 2)
        assertGradientsMatch([x, t]) { $0[0].mseLoss($0[1]) }
        let frozenTarget = randomTensor([3, 4], seed: 3, requiresGrad: false)
        assertGradientsMatch([x, frozenTarget]) { $0[0].mseLoss($0[1]) }
    }

    func testWeightedMSELossIsTheWeightedMeanOfSampleErrors() {
        let x = randomTensor([3, 2, 2], seed: 11, requiresGrad: false)
        let t = randomTensor([3, 2, 2], seed: 12, requiresGrad: false)
        let w: [Float] = [0.5, 2, 0]
        var expected = 0.0
        for b in 0..<3 {
            for i in 0..<4 {
                let d = Double(x[flat: b * 4 + i]) - Double(t[flat: b * 4 + i])
                expected += Double(w[b]) * d * d
            }
        }
        XCTAssertEqual(Double(x.weightedMSELoss(t, sampleWeights: w).item), expected / 12, accuracy: 1e-6)
        XCTAssertEqual(x.weightedMSELoss(t, sampleWeights: [1, 1, 1]).item, x.mseLoss(t).item, accuracy: 1e-6)
    }

    func testWeightedMSELossGradients() {
        let x = randomTensor([2, 3, 2], seed: 13)
        let t = randomTensor([2, 3, 2], seed: 14)
        assertGradientsMatch([x, t]) { $0[0].weightedMSELoss($0[1], sampleWeights: [0.3, 1.7]) }
    }

    func testPerSampleMSEIsEachSamplesMeanSquaredError() {
        let x = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        let t = Tensor(shape: [2, 2], data: [0, 2, 5, 3])
        assertClose(x.perSampleMSE(t), [0.5, 2.5])
        assertGradientsMatch([randomTensor([3, 2, 2], seed: 15), randomTensor([3, 2, 2], seed: 16)]) { $0[0].perSampleMSE($0[1]) }
    }

    func testRelativeMarginHingeCountsOnlyPairsShortOfTheMargin() {
        let right = Tensor(shape: [3], data: [1, 2, 4])
        let wrong = Tensor(shape: [3], data: [1.02, 2.4, 3])
        // slack: 0.05 − 0.02 = 0.03; 0.05 − 0.2 < 0 (past the margin); 0.05 + 0.25 = 0.3
        let h = relativeMarginHinge(right: right, wrong: wrong, scale: [1, 2, 4], margin: 0.05)
        XCTAssertEqual(h.item, (0.03 + 0.3) / 3, accuracy: 1e-6)
    }

    func testRelativeMarginHingeGradients() {
        // Errors of the right and wrong conditions, and the scales they are measured against; the
        // points are kept away from the hinge's kink so central differences are exact.
        let right = Tensor(shape: [4], data: [0.5, 1.0, 2.0, 0.8])
        let wrong = Tensor(shape: [4], data: [0.3, 1.01, 3.0, 0.7])
        right.requiresGrad = true
        wrong.requiresGrad = true
        assertGradientsMatch([right, wrong], eps: 1e-3) {
            relativeMarginHinge(right: $0[0], wrong: $0[1], scale: [0.5, 1.0, 2.0, 0.8], margin: 0.05)
        }
    }

    func testCrossEntropyMatchesLogSoftmax() {
        let logits = randomTensor([4, 5], seed: 4, requiresGrad: false, scale: 2)
        let labels = [0, 3, 4, 3]
        var expected = 0.0
        for r in 0..<4 {
            let row = (0..<5).map { Double(logits[flat: r * 5 + $0]) }
            expected += Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +)) - row[labels[r]]
        }
        XCTAssertEqual(crossEntropy(logits: logits, labels: labels).item, Float(expected / 4), accuracy: 1e-5)
    }

    func testCrossEntropyIsStableForLargeLogits() {
        // torch: F.cross_entropy([[1,2,3],[1000,0,-1000]], [2,1]) = 500.2038
        let logits = Tensor(shape: [2, 3], data: [1, 2, 3, 1000, 0, -1000])
        XCTAssertEqual(crossEntropy(logits: logits, labels: [2, 1]).item, 500.2038, accuracy: 1e-3)
    }

    func testCrossEntropyGradient() {
        let logits = randomTensor([3, 4], seed: 5)
        assertGradientsMatch([logits]) { crossEntropy(logits: $0[0], labels: [1, 0, 3]) }
    }
}
