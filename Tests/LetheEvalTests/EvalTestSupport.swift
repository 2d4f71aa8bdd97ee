import Foundation
import XCTest
import LetheCore
import LetheModels
@testable import LetheEval

enum EvalFixtures {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A detector small enough for debug-build tests.
    static var tinyConfig: DetectorConfig {
        var c = DetectorConfig()
        c.frameChannels = [8, 8]
        c.frameStrides = [2, 2]
        c.motionChannels = [8]
        c.motionStrides = [2]
        c.normNumGroups = 4
        return c
    }

    static func tinyDetector(seed: UInt64 = 3) -> ConceptDetector {
        var rng = RandomGenerator(seed: seed)
        return ConceptDetector(config: tinyConfig, rng: &rng)
    }

    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-eval-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
