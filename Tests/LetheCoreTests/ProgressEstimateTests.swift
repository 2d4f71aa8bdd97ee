import Foundation
import XCTest
@testable import LetheCore

final class ProgressEstimateTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    func testRateAndTimeLeftCountFromTheStart() {
        var p = ProgressEstimate(unit: "clips", now: t0)
        // 8 clips in 40 s: 0.2 clips/s, 56 left take 280 s.
        XCTAssertEqual(p.line(done: 8, total: 64, now: t0 + 40), "8/64 clips  0.20 clips/s  ETA 4m40s")
        XCTAssertEqual(p.line(done: 64, total: 64, now: t0 + 320), "64/64 clips  0.20 clips/s  ETA 0s")
    }

    /// A resumed training run: the steps before the resume do not count towards the rate.
    func testItemsDoneBeforeTheClockStartedDoNotCount() {
        let p = ProgressEstimate(unit: "steps", done: 100, now: t0)
        XCTAssertNil(p.rateAndTimeLeft(done: 100, total: 200, now: t0 + 5))
        XCTAssertEqual(p.rateAndTimeLeft(done: 110, total: 200, now: t0 + 20), "0.50 steps/s  ETA 3m00s")
    }

    func testANewPhaseRestartsTheClockAtItsFirstReport() {
        var p = ProgressEstimate(unit: "images", now: t0)
        XCTAssertEqual(p.line(done: 10, total: 20, phase: "baseline", now: t0 + 10), "baseline 10/20 images  1.00 images/s  ETA 10s")
        XCTAssertEqual(p.line(done: 20, total: 20, phase: "baseline", now: t0 + 20), "baseline 20/20 images  1.00 images/s  ETA 0s")
        // The erased model's first batch says nothing of its rate; from there on only its own time counts.
        XCTAssertEqual(p.line(done: 5, total: 20, phase: "model", now: t0 + 100), "model 5/20 images")
        XCTAssertEqual(p.line(done: 10, total: 20, phase: "model", now: t0 + 120), "model 10/20 images  0.25 images/s  ETA 40s")
    }
}
