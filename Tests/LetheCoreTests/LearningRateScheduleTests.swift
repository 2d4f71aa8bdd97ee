import XCTest
@testable import LetheCore

final class LearningRateScheduleTests: XCTestCase {
    func testWarmupThenCosineToTheFloor() {
        let s = WarmupCosineSchedule(peak: 1e-3, final: 1e-5, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s(0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s(9), 1e-3, accuracy: 1e-9, "the peak at the end of the warm-up")
        XCTAssertEqual(s(10), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s(60), (1e-3 + 1e-5) / 2, accuracy: 1e-8, "halfway down the cosine")
        XCTAssertEqual(s(110), 1e-5, accuracy: 1e-9)
        XCTAssertEqual(s(500), 1e-5, accuracy: 1e-9, "stays at the floor past the end")
        for i in 10..<110 { XCTAssertLessThanOrEqual(s(i + 1), s(i)) }
    }
}
