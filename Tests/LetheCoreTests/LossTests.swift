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
