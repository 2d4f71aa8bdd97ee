// `lethe detect`: what the concept detector sees in image and video files — the same judge
// `lethe eval` uses, applied to anything on disk (a generated sample, a render, a hand-made GIF).

import ArgumentParser
import Foundation
import LetheCore
import LetheEval
import LetheMedia

struct Detect: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the concept detector on PNG, MP4 or GIF files.",
        discussion: "Frames of any size are resampled to the detector's 32×32 (area average, so lethe's upscaled "
            + "outputs come back exactly). Writes, per file, each frame's object, color and style probabilities "
            + "(sigmoids: a frame can hold two objects) with the classes at or above the detector's threshold, and — "
            + "when the file has exactly the detector's frame count — the clip's motion (softmax of the clip head).")

    @Argument(help: "Image or video files.")
    var files: [String]
    @Option(help: "Where to write the JSON report.")
    var json: String
    @Option(help: "The detector folder.")
    var detector = "models/detector"

    /// One family's reading of one frame (or of the clip, for motion).
    struct Prediction: Codable, Equatable {
        /// The most probable class.
        var top: String
        /// Classes at or above the presence threshold (motion: the top class).
        var detected: [String]
        var probabilities: [String: Double]
    }

    struct FrameReport: Codable, Equatable {
        var index: Int
        var object: Prediction
        var color: Prediction
        var style: Prediction
    }

    struct FileReport: Codable, Equatable {
        var file: String
        var width: Int
        var height: Int
        var frames: [FrameReport]
        /// nil unless the file has exactly the detector's frame count.
        var motion: Prediction?
    }

    struct Report: Codable, Equatable {
        var detector: String
        var threshold: Double
        var files: [FileReport]
    }

    func execute() throws {
        let detectorURL = URL(fileURLWithPath: detector)
        let model = try ConceptDetector.load(from: detectorURL)
        let config = model.config
        FFmpegLog.level = .error
        // Every file is read before any is scored, so an unreadable one fails the run before output.
        var decoded: [(path: String, frames: [RGBFrame])] = []
        for path in files {
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path): no such file") }
            let frames: [RGBFrame]
            do {
                frames = try readVideo(URL(fileURLWithPath: path)).frames
            } catch {
                throw CLIError("\(path): cannot read as an image or video (\(error))")
            }
            guard !frames.isEmpty else { throw CLIError("\(path): the file holds no frames") }
            decoded.append((path, frames))
        }
        var reports: [FileReport] = []
        for (path, frames) in decoded {
            let pixels = DetectorInput.tensor(frames: frames, size: config.sampleSize)
            let d = try model.detect(frames: pixels)
            let perFrame = (0..<frames.count).map { f in
                FrameReport(index: f,
                            object: prediction(d.objects, row: f, classes: config.objectClasses, threshold: d.threshold),
                            color: prediction(d.colors, row: f, classes: config.colorClasses, threshold: d.threshold),
                            style: prediction(d.styles, row: f, classes: config.styleClasses, threshold: d.threshold))
            }
            var motion: Prediction?
            if frames.count == config.frameCount {
                let clip = try model.detect(clips: DetectorInput.clip(frames: pixels))
                var m = prediction(clip.motions, row: 0, classes: config.motionClasses, threshold: 1)
                m.detected = [m.top]
                motion = m
            }
            reports.append(FileReport(file: path, width: frames[0].width, height: frames[0].height, frames: perFrame,
                                      motion: motion))
        }
        let report = Report(detector: detector, threshold: Double(config.presenceThreshold), files: reports)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(encoder.encode(report) + Data("\n".utf8), to: URL(fileURLWithPath: json))
        for r in reports {
            let firstFrame = r.frames[0]
            var line = "\(r.file): \(r.frames.count) frame(s); frame 0: \(firstFrame.object.detected.joined(separator: "+")) "
                + "\(firstFrame.color.detected.joined(separator: "+")) \(firstFrame.style.detected.joined(separator: "+"))"
            if let m = r.motion { line += "; motion \(m.top)" }
            print(line)
        }
    }

    private func prediction(_ scores: Tensor, row: Int, classes: [String], threshold: Float) -> Prediction {
        let k = classes.count, p = scores.pointer + row * k
        var best = 0
        for c in 1..<k where p[c] > p[best] { best = c }
        var probabilities: [String: Double] = [:]
        for (c, name) in classes.enumerated() { probabilities[name] = (Double(p[c]) * 1e4).rounded() / 1e4 }
        return Prediction(top: classes[best], detected: classes.indices.filter { p[$0] >= threshold }.map { classes[$0] },
                          probabilities: probabilities)
    }
}
