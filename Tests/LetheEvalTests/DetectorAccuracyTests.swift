import Foundation
import XCTest
import LetheCore
import LetheWorld
@testable import LetheEval

final class DetectorAccuracyTests: XCTestCase {
    func testRankedAndThresholdedDecisions() {
        var acc = PresenceAccuracy()
        func score(_ s: [Float], _ labels: Set<Int>) {
            s.withUnsafeBufferPointer { acc.add(scores: $0.baseAddress!, classes: s.count, labels: labels, threshold: 0.5) }
        }
        score([0.9, 0.2, 0.1], [0])        // both right
        score([0.4, 0.2, 0.1], [0])        // ranked right, below threshold
        score([0.9, 0.7, 0.1], [0])        // ranked right, an extra class passes
        score([0.6, 0.1, 0.8], [0, 2])     // a pair: top two are the labels, both pass
        score([0.6, 0.7, 0.8], [0, 2])     // a pair: class 1 outranks class 0
        XCTAssertEqual(acc.ranked, FamilyScore(correct: 4, total: 5))
        XCTAssertEqual(acc.thresholded, FamilyScore(correct: 2, total: 5))
    }

    func testStyleVisibility() {
        let renderer = Renderer(config: .v1)
        func image(_ object: ObjectKind, _ style: StyleKind, radius: Float) -> (ClipSpec, Tensor) {
            let spec = ClipSpec(size: 32, frameCount: 1,
                                objects: [ObjectSpec(object: object, color: .red, style: style, center: SIMD2(16, 16), radius: radius)],
                                background: Background(gray: 0.4))
            return (spec, renderer.render(spec).reshaped([1, 3, 32, 32]))
        }
        func visible(_ object: ObjectKind, _ style: StyleKind, radius: Float) -> Bool {
            let (spec, render) = image(object, style, radius: radius)
            return DetectorAccuracy.styleIsVisible(spec, render: render, sample: 0, frames: [0], renderer: renderer)
        }
        // An outlined crescent this small is painted solid: its render is the flat one's.
        XCTAssertFalse(visible(.crescent, .outlined, radius: 6))
        XCTAssertFalse(visible(.crescent, .flat, radius: 6))
        XCTAssertTrue(visible(.crescent, .outlined, radius: 9))
        XCTAssertTrue(visible(.square, .outlined, radius: 6))
        XCTAssertTrue(visible(.circle, .checkered, radius: 8))
    }

    func testReportRoundTripsThroughJSON() throws {
        var report = DetectorAccuracy(detectorVersion: "v", seed: 3, threshold: 0.5, clipCount: 2, imageCount: 1)
        report.motion = FamilyScore(correct: 1, total: 2)
        report.styleInvisibleClips = 1
        let json = try report.jsonData()
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"accuracy\" : 0.5"))
        XCTAssertEqual(try JSONDecoder().decode(DetectorAccuracy.self, from: json), report)
        XCTAssertEqual(report.minimum, 0, "families never scored count as 0, not as perfect")
    }
}
