import LetheWorld
import XCTest
@testable import LetheEval

final class StandardErrorTests: XCTestCase {
    private func trials(_ rows: [(Int, String, Double)]) -> [ConceptTrial] {
        rows.map { ConceptTrial(sample: $0.0, family: .object, concept: $0.1, phrasing: .keyword, score: $0.2) }
    }

    /// One trial a sample: the textbook standard error of a mean, sd / √n with sd over n − 1.
    func testOneTrialPerSampleIsTheStandardErrorOfTheMean() throws {
        let t = trials([(0, "circle", 1), (1, "circle", 0), (2, "circle", 1), (3, "circle", 1)])
        // mean 0.75, sd = √(0.75 / 3) = 0.5, se = 0.5 / 2.
        XCTAssertEqual(try XCTUnwrap(StandardError.of(t)), 0.25, accuracy: 1e-12)
    }

    /// Two trials of one sample count as one cluster: here the pair (1, 0) sits on the mean, so
    /// only the other two samples spread: se = √(3/2 · (0.5² + 0.5²)) / 4.
    func testTrialsOfOneSampleAreClustered() throws {
        let t = trials([(0, "circle", 1), (0, "star", 0), (1, "circle", 1), (2, "star", 0)])
        XCTAssertEqual(try XCTUnwrap(StandardError.of(t)), (0.75 as Double).squareRoot() / 4, accuracy: 1e-12)
    }

    func testAChangeIsPairedTrialByTrial() throws {
        let base = trials([(0, "circle", 1), (1, "circle", 1), (2, "circle", 1), (3, "circle", 1)])
        let erased = trials([(0, "circle", 1), (1, "circle", 0), (2, "circle", 1), (3, "circle", 1)])
        // Differences 0, −1, 0, 0: mean −0.25, sd 0.5, se 0.25.
        XCTAssertEqual(try XCTUnwrap(StandardError.ofChange(erased: erased, baseline: base)), 0.25, accuracy: 1e-12)
        XCTAssertEqual(StandardError.ofChange(erased: base, baseline: base), 0)
        // Trials that do not line up, and a single sample, have no standard error.
        XCTAssertNil(StandardError.ofChange(erased: Array(erased.reversed()), baseline: base))
        XCTAssertNil(StandardError.ofChange(erased: Array(erased.prefix(3)), baseline: base))
        XCTAssertNil(StandardError.of(trials([(0, "circle", 1), (0, "star", 0)])))
    }

    func testAChangeReadsInPointsWithItsError() {
        XCTAssertEqual(StandardError.changeText(-0.026, error: 0.021), "−2.6 pp ± 2.1")
        XCTAssertEqual(StandardError.changeText(0.015, error: nil), "+1.5 pp")
    }
}
