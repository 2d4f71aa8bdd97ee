// `lethe detect` on files LetheMedia wrote, with a small random detector saved for the test.
import Foundation
import LetheCore
import LetheEval
import LetheMedia
import LetheWorld
import XCTest

final class DetectCommandTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-detect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    static func tinyDetector(at url: URL) throws -> ConceptDetector {
        var config = DetectorConfig()
        config.frameChannels = [8, 8]
        config.frameStrides = [2, 2]
        config.motionChannels = [8]
        config.motionStrides = [2]
        config.normNumGroups = 4
        var rng = RandomGenerator(seed: 11)
        let detector = ConceptDetector(config: config, rng: &rng)
        try detector.save(to: url)
        // What `lethe detect` reads back: the saved (float16) weights.
        return try ConceptDetector.load(from: url)
    }

    func testDetectReadsPNGAndVideoFiles() throws {
        let dir = try temporaryDirectory()
        let detectorURL = dir.appendingPathComponent("detector")
        let detector = try Self.tinyDetector(at: detectorURL)
        var rng = RandomGenerator(seed: 3)
        let spec = WorldSampler().sample(.clip, rng: &rng)
        let clip = Renderer().render(spec)  // [3, 8, 32, 32]
        let frames = RGBFrame.frames(from: clip.scalars, layout: .cfhw, channels: 3, frames: 8, height: 32, width: 32)
        let png = dir.appendingPathComponent("still.png"), gif = dir.appendingPathComponent("clip.gif")
        let mp4 = dir.appendingPathComponent("clip.mp4")
        try writePNG(frames[0].upscaled(by: 4), to: png)
        try writeGIF(frames: frames.map { $0.upscaled(by: 4) }, fps: 8, to: gif)
        try writeMP4(frames: frames.map { $0.upscaled(by: 2) }, fps: 8, to: mp4)

        let out = dir.appendingPathComponent("detect.json")
        let run = try LetheProcess.run(["detect", png.path, gif.path, mp4.path, "--json", out.path,
                                        "--detector", detectorURL.path], timeout: 60)
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        let files = try XCTUnwrap(report["files"] as? [[String: Any]])
        XCTAssertEqual(files.map { $0["file"] as? String }, [png.path, gif.path, mp4.path])
        XCTAssertEqual(files.map { ($0["frames"] as? [Any])?.count }, [1, 8, 8])
        XCTAssertNil(files[0]["motion"] as? [String: Any], "a still image has no motion")
        for file in files.dropFirst() {
            let motion = try XCTUnwrap(file["motion"] as? [String: Any])
            let probabilities = try XCTUnwrap(motion["probabilities"] as? [String: Double])
            XCTAssertEqual(Set(probabilities.keys), Set(MotionKind.allCases.map(\.rawValue)))
            XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-3)
        }

        // The PNG is lossless and a 4× upscale: its numbers are the detector's on the frame itself.
        let frame0 = try XCTUnwrap((files[0]["frames"] as? [[String: Any]])?.first)
        let expected = try detector.detect(frames: DetectorInput.tensor(frames: [frames[0]], size: 32))
        let object = try XCTUnwrap(frame0["object"] as? [String: Any])
        let probabilities = try XCTUnwrap(object["probabilities"] as? [String: Double])
        for (c, name) in detector.config.objectClasses.enumerated() {
            XCTAssertEqual(probabilities[name]!, Double(expected.objects[flat: c]), accuracy: 1e-4, name)
        }
        let detected = try XCTUnwrap(object["detected"] as? [String])
        XCTAssertEqual(detected, detector.config.objectClasses.filter { probabilities[$0]! >= 0.5 })
    }

    func testUnreadableFilesAreOneLineErrorsAndNothingIsWritten() throws {
        let dir = try temporaryDirectory()
        let detectorURL = dir.appendingPathComponent("detector")
        _ = try Self.tinyDetector(at: detectorURL)
        let junk = dir.appendingPathComponent("junk.gif")
        try Data("not a gif".utf8).write(to: junk)
        let out = dir.appendingPathComponent("detect.json")
        for (args, text) in [
            ([junk.path], "junk.gif: cannot read"),
            ([dir.appendingPathComponent("missing.png").path], "missing.png: no such file"),
        ] {
            let run = try LetheProcess.run(["detect"] + args + ["--json", out.path, "--detector", detectorURL.path])
            XCTAssertEqual(run.status, 1, run.stderr)
            XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(text), run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
        let noDetector = try LetheProcess.run(["detect", junk.path, "--json", out.path,
                                               "--detector", dir.appendingPathComponent("none").path])
        XCTAssertEqual(noDetector.status, 1, noDetector.stderr)
        XCTAssertTrue(noDetector.stderr.contains("no detector here"), noDetector.stderr)
    }
}
