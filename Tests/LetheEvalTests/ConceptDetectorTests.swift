import Foundation
import XCTest
import LetheCore
import LetheModels
import LetheWorld
@testable import LetheEval

final class ConceptDetectorTests: XCTestCase {
    func clips(_ n: Int, seed: UInt64 = 11) -> WorldBatch {
        WorldDataset(seed: seed, config: .v1, catalog: .v1, excludedPrompts: []).batch(0, size: n, mode: .clip)
    }

    func testFrameHeadsGiveProbabilitiesOfEveryClass() throws {
        let detector = EvalFixtures.tinyDetector()
        var rng = RandomGenerator(seed: 1)
        let frames = Tensor.rand([3, 3, 32, 32], rng: &rng, low: -1, high: 1)
        let d = try detector.detect(frames: frames)
        XCTAssertEqual(d.objects.shape, [3, ObjectKind.allCases.count])
        XCTAssertEqual(d.colors.shape, [3, ColorKind.allCases.count])
        XCTAssertEqual(d.styles.shape, [3, StyleKind.allCases.count])
        for t in [d.objects, d.colors, d.styles] {
            XCTAssertTrue(t.scalars.allSatisfy { $0 > 0 && $0 < 1 })
        }
        // Multi-label heads: independent sigmoids, not a distribution.
        let raw = detector.frameOutputs(frames)
        XCTAssertEqual(d.objects[flat: 4], 1 / (1 + exp(-raw.objects[flat: 4])), accuracy: 1e-6)
        XCTAssertEqual(try detector.features(frames: frames).shape, [3, 8])
        XCTAssertThrowsError(try detector.detect(frames: Tensor.zeros([1, 3, 16, 16]))) {
            XCTAssertTrue("\($0)".contains("[N, 3, 32, 32]"))
        }
    }

    func testClipPresenceIsTheMaximumOverFiveEvenlySpacedFrames() throws {
        let detector = EvalFixtures.tinyDetector()
        XCTAssertEqual(detector.config.sampledFrames(of: 8), [0, 2, 4, 5, 7])  // numpy.linspace(0, 7, 5).round()
        XCTAssertEqual(detector.config.sampledFrames(of: 3), [0, 1, 2])
        let batch = clips(2)
        let d = try detector.detect(clips: batch.pixels)
        XCTAssertEqual(d.frames.count, 16)
        XCTAssertEqual(d.motions.shape, [2, MotionKind.allCases.count])
        for clip in 0..<2 {
            XCTAssertEqual((0..<8).reduce(Float(0)) { $0 + d.motions[flat: clip * 8 + $1] }, 1, accuracy: 1e-5)
            for k in 0..<8 {
                let sampled = [0, 2, 4, 5, 7].map { d.frames.objects[flat: (clip * 8 + $0) * 8 + k] }.max()!
                XCTAssertEqual(d.objects[flat: clip * 8 + k], sampled)
                XCTAssertEqual(d.isPresent(.object, classIndex: k, clip: clip), sampled >= 0.5)
            }
        }
        // Frame rows are the clip's frames in order.
        let frame5 = Renderer.frame(5, of: batch.pixels.slice(axis: 0, range: 1..<2).reshaped([3, 8, 32, 32]))
        let single = try detector.detect(frames: frame5.reshaped([1, 3, 32, 32]))
        XCTAssertEqual(single.colors[flat: 3], d.frames.colors[flat: (8 + 5) * 8 + 3], accuracy: 1e-5)

        let features = try detector.features(clips: batch.pixels)
        XCTAssertEqual(features.shape, [2, detector.config.clipFeatureDimension])
        XCTAssertThrowsError(try detector.detect(clips: Tensor.zeros([1, 3, 4, 32, 32]))) {
            XCTAssertTrue("\($0)".contains("[N, 3, 8, 32, 32]"))
        }
    }

    func testMotionSeesWhereThingsMove() throws {
        // The motion input is the frames then their differences: a clip that never changes has
        // zero differences, and the frame channels are frame-major RGB.
        let detector = EvalFixtures.tinyDetector()
        let batch = clips(1)
        let input = detector.motionInput(batch.pixels)
        XCTAssertEqual(input.shape, [1, 3 * 8 + 3 * 7, 32, 32])
        let plane = 32 * 32
        // Channel 3·2 + 1 is frame 2's green; channel 24 + 3·4 + 2 is frame 5 minus frame 4, blue.
        XCTAssertEqual(input[flat: (3 * 2 + 1) * plane + 100], batch.pixels[flat: (1 * 8 + 2) * plane + 100])
        XCTAssertEqual(input[flat: (24 + 3 * 4 + 2) * plane + 300],
                       batch.pixels[flat: (2 * 8 + 5) * plane + 300] - batch.pixels[flat: (2 * 8 + 4) * plane + 300])
    }

    func testSaveAndLoadRoundTrip() throws {
        let detector = EvalFixtures.tinyDetector()
        let dir = EvalFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try detector.save(to: dir)
        let loaded = try ConceptDetector.load(from: dir)
        XCTAssertEqual(loaded.config, detector.config)
        let file = try SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(Set(file.tensorNames), Set(detector.namedParameters().map(\.key)))
        XCTAssertTrue(file.entries.allSatisfy { $0.dtype == .f16 })
        XCTAssertTrue(file.tensorNames.contains("frame_encoder.blocks.0.conv.weight"))
        XCTAssertTrue(file.tensorNames.contains("motion_head.bias"))
        let batch = clips(1)
        let a = try detector.detect(clips: batch.pixels), b = try loaded.detect(clips: batch.pixels)
        for (x, y) in zip(a.objects.scalars + a.motions.scalars, b.objects.scalars + b.motions.scalars) {
            XCTAssertEqual(x, y, accuracy: 5e-3)  // float16 weights
        }
    }

    func testLoadErrorsNameTheFileAndTheProblem() throws {
        let dir = EvalFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        let missing = dir.appendingPathComponent("nothing")
        XCTAssertTrue(message { _ = try ConceptDetector.load(from: missing) }.contains("no detector here"))

        try EvalFixtures.tinyDetector().save(to: dir)
        let configURL = dir.appendingPathComponent("config.json")
        let good = try JSONConfig(contentsOf: configURL)
        func withConfig(_ edit: (inout JSONConfig) -> Void) throws -> String {
            var c = good
            edit(&c)
            try c.write(to: configURL)
            return message { _ = try ConceptDetector.load(from: dir) }
        }
        var text = try withConfig { $0["detector_version"] = "lethe-detector-v0" }
        XCTAssertTrue(text.contains("config.json: detector_version") && text.contains("lethe-detector-v1"), text)
        text = try withConfig { $0["color_classes"] = ["red", "blue"] }
        XCTAssertTrue(text.contains("color_classes: the detector was trained on [\"red\", \"blue\"]"), text)
        text = try withConfig { $0["frame_channels"] = [8, 6] }
        XCTAssertTrue(text.contains("frame_channels") && text.contains("6 channels"), text)
        text = try withConfig { $0["frame_pooling"] = "median" }
        XCTAssertTrue(text.contains("frame_pooling: expected one of max, mean, found \"median\""), text)
        text = try withConfig { $0["presence_threshold"] = "high" }
        XCTAssertTrue(text.contains("presence_threshold: expected a number"), text)
        text = try withConfig { $0["motion_channels"] = [16] }
        XCTAssertTrue(text.contains("motion_encoder.blocks.0.conv.weight has shape [8, 45, 3, 3], the model config needs [16, 45, 3, 3]"), text)

        try good.write(to: configURL)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        XCTAssertTrue(message { _ = try ConceptDetector.load(from: dir) }.contains("model.safetensors: file not found"))
    }
}
