// The comparison every model fixture test makes against its PyTorch reference.
import XCTest
@testable import LetheCore

/// ‖a − b‖ / ‖b‖ within `tolerance`, and no element off by more than 10·tolerance·max|b|
/// (a small mean error can hide a few wrong elements). Returns the relative error.
@discardableResult
func assertMatches(_ a: Tensor, _ b: Tensor, tolerance: Double = 1e-4, _ what: String,
                   file: StaticString = #filePath, line: UInt = #line) -> Double {
    XCTAssertEqual(a.shape, b.shape, "\(what): shape", file: file, line: line)
    guard a.count == b.count else { return .infinity }
    var diff2 = 0.0, ref2 = 0.0, worst = 0.0, peak = 0.0
    for i in 0..<a.count {
        let d = Double(a[flat: i]) - Double(b[flat: i])
        diff2 += d * d
        ref2 += Double(b[flat: i]) * Double(b[flat: i])
        worst = max(worst, abs(d))
        peak = max(peak, abs(Double(b[flat: i])))
    }
    let rel = diff2.squareRoot() / max(ref2.squareRoot(), 1e-30)
    XCTAssertGreaterThan(peak, 0, "\(what): reference is all zero", file: file, line: line)
    XCTAssertLessThanOrEqual(rel, tolerance, "\(what): relative error \(rel)", file: file, line: line)
    XCTAssertLessThanOrEqual(worst, 10 * tolerance * peak, "\(what): worst element differs by \(worst) (peak \(peak))",
                             file: file, line: line)
    return rel
}
