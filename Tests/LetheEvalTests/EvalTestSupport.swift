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

/// d(Σ w·f(x))/dx from autograd against central differences (relative error over the whole
/// gradient), as LetheCoreTests' check does.
func assertGradientMatches(_ x: Tensor, eps: Float = 1e-2, tolerance: Double = 1e-2,
                           file: StaticString = #filePath, line: UInt = #line, _ f: (Tensor) -> Tensor) {
    x.grad = nil
    let y = f(x)
    var rng = RandomGenerator(seed: 99)
    let w = Tensor.randn(y.shape, rng: &rng)
    y.backward(w)
    guard let analytic = x.grad else { return XCTFail("no gradient", file: file, line: line) }
    func loss() -> Double {
        let out = Autograd.inference { f(x) }
        return (0..<out.count).reduce(0.0) { $0 + Double(out[flat: $1]) * Double(w[flat: $1]) }
    }
    var diff2 = 0.0, ref2 = 0.0
    for i in 0..<x.count {
        let saved = x[flat: i]
        x[flat: i] = saved + eps
        let up = loss()
        x[flat: i] = saved - eps
        let down = loss()
        x[flat: i] = saved
        let numeric = (up - down) / (2 * Double(eps))
        diff2 += (Double(analytic[flat: i]) - numeric) * (Double(analytic[flat: i]) - numeric)
        ref2 += numeric * numeric
    }
    XCTAssertGreaterThan(ref2, 0, "numeric gradient is all zero", file: file, line: line)
    XCTAssertLessThan(diff2.squareRoot() / max(ref2.squareRoot(), 1e-8), tolerance, file: file, line: line)
}
