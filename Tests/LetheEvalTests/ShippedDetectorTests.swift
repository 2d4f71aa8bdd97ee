import Foundation
import XCTest
import LetheCore
@testable import LetheEval

/// The committed detector (models/detector) must read clean renders it never saw almost
/// perfectly: every erasure number goes through it.
final class ShippedDetectorTests: XCTestCase {
    func testShippedDetectorIsAccurateOnHeldOutRenders() throws {
        let dir = EvalFixtures.repoRoot.appendingPathComponent("models/detector")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("no shipped detector at \(dir.path); make one with `lethe train detector`")
        }
        let detector = try ConceptDetector.load(from: dir)
        // A seed of its own: neither the training seed nor the one of accuracy.json.
        let accuracy = try DetectorAccuracy.evaluate(detector, clips: 64, images: 32, seed: 0x5EED_7E57)
        for (name, value) in accuracy.headline {
            XCTAssertGreaterThanOrEqual(value, 0.98, "\(name): \(accuracy.summary)")
        }
    }
}
