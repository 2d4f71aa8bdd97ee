// How well the detector reads clean renders it has never seen: freshly sampled clips and
// images from a seed of their own, every (object, color, style) triple allowed. Reported with
// every erasure number, since those are only as good as this.
//
// A sample's labels in a family form a set (two objects may share a color). Two ways to be
// right, both reported:
// - ranked: the k most probable classes are the k labelled ones (for one object, the argmax);
// - thresholded: exactly the labelled classes reach the presence threshold — the decision the
//   erasure metrics actually take.
// Clip presence follows the clip rule (any sampled frame); motion is right when the most
// probable motion is the clip's.
//
// Some renders do not show their style: an outlined object thinner than twice the outline
// width is painted solid (every outlined crescent of radius ≤ 6.5 px renders pixel-identical
// to a flat one), and a pattern can miss a small object. A sample whose render does not change
// (within 1/255, below what any 8-bit video keeps) when one object's style is swapped for flat
// — or a flat one's for outlined — is not scored for style, and is counted instead.

import Foundation
import LetheCore
import LetheWorld

public struct FamilyScore: Codable, Equatable, Sendable {
    public var correct: Int
    public var total: Int

    public init(correct: Int = 0, total: Int = 0) {
        self.correct = correct
        self.total = total
    }

    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    mutating func add(_ right: Bool) {
        total += 1
        if right { correct += 1 }
    }

    enum CodingKeys: String, CodingKey { case correct, total, accuracy }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        correct = try c.decode(Int.self, forKey: .correct)
        total = try c.decode(Int.self, forKey: .total)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(correct, forKey: .correct)
        try c.encode(total, forKey: .total)
        try c.encode((accuracy * 1e6).rounded() / 1e6, forKey: .accuracy)
    }
}

public struct PresenceAccuracy: Codable, Equatable, Sendable {
    /// The k most probable classes are the k labelled ones.
    public var ranked = FamilyScore()
    /// Exactly the labelled classes reach the threshold.
    public var thresholded = FamilyScore()

    public init() {}

    /// Scores one sample: `scores` its probabilities, `labels` its labelled class indices.
    mutating func add(scores: UnsafePointer<Float>, classes: Int, labels: Set<Int>, threshold: Float) {
        let order = (0..<classes).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        ranked.add(Set(order.prefix(labels.count)) == labels)
        thresholded.add(Set((0..<classes).filter { scores[$0] >= threshold }) == labels)
    }
}

/// Object, color and style presence.
public struct PresenceAccuracies: Codable, Equatable, Sendable {
    public var object = PresenceAccuracy()
    public var color = PresenceAccuracy()
    public var style = PresenceAccuracy()

    public init() {}

    var all: [(String, PresenceAccuracy)] { [("object", object), ("color", color), ("style", style)] }
}

public struct DetectorAccuracy: Codable, Equatable, Sendable {
    public var detectorVersion: String
    public var seed: UInt64
    public var threshold: Float
    public var clipCount: Int
    public var imageCount: Int
    /// Clip-level presence by the clip rule.
    public var clips = PresenceAccuracies()
    /// Clip-level motion (argmax).
    public var motion = FamilyScore()
    /// Each sampled frame of each clip on its own (moving, shrunken, two-object frames).
    public var clipFrames = PresenceAccuracies()
    /// Single rendered images.
    public var images = PresenceAccuracies()
    /// Clips and images left out of the style scores: their render is the same with another
    /// style (see the file comment).
    public var styleInvisibleClips = 0
    public var styleInvisibleImages = 0

    enum CodingKeys: String, CodingKey {
        case detectorVersion = "detector_version", seed, threshold, clipCount = "clip_count", imageCount = "image_count"
        case clips, motion, clipFrames = "clip_frames", images
        case styleInvisibleClips = "style_invisible_clips", styleInvisibleImages = "style_invisible_images"
    }

    /// Renders `clips` clips and `images` images from `seed` (in batches) and scores them.
    /// The seed must not be the one the detector was trained with.
    public static func evaluate(_ detector: ConceptDetector, clips: Int, images: Int, seed: UInt64,
                                batchSize: Int = 50) throws -> DetectorAccuracy {
        let config = detector.config
        if let trainingSeed = config.trainingSeed, trainingSeed == seed {
            throw DetectorError("evaluation seed \(seed) is the detector's training seed; held-out clips need another seed")
        }
        var world = WorldConfig.v1
        world.excludeHeldOutCombos = false
        world.size = config.sampleSize
        world.frameCount = config.frameCount
        let data = WorldDataset(seed: seed, config: world, catalog: .v1, excludedPrompts: [])
        var result = DetectorAccuracy(detectorVersion: config.version, seed: seed, threshold: config.presenceThreshold,
                                      clipCount: clips, imageCount: images)
        let t = config.presenceThreshold
        func add(_ acc: inout PresenceAccuracies, _ scores: (Tensor, Tensor, Tensor), row: Int, _ label: ClipLabels,
                 styleVisible: Bool) {
            var families: [(WritableKeyPath<PresenceAccuracies, PresenceAccuracy>, Tensor, Set<Int>)] = [
                (\.object, scores.0, Set(label.objects.map(\.object.classIndex))),
                (\.color, scores.1, Set(label.objects.map(\.color.classIndex))),
            ]
            if styleVisible { families.append((\.style, scores.2, Set(label.objects.map(\.style.classIndex)))) }
            for (family, tensor, labels) in families {
                let k = tensor.shape[1]
                acc[keyPath: family].add(scores: tensor.pointer + row * k, classes: k, labels: labels, threshold: t)
            }
        }

        for (b, start) in stride(from: 0, to: clips, by: batchSize).enumerated() {
            let batch = data.batch(b, size: min(batchSize, clips - start), mode: .clip)
            let d = try detector.detect(clips: batch.pixels)
            for (i, label) in batch.labels.enumerated() {
                let visible = styleIsVisible(batch.specs[i], render: batch.pixels, sample: i, frames: d.sampledFrames,
                                             renderer: data.renderer)
                if !visible { result.styleInvisibleClips += 1 }
                add(&result.clips, (d.objects, d.colors, d.styles), row: i, label, styleVisible: visible)
                result.motion.add(d.motion(i) == label.motion.classIndex)
                for f in d.sampledFrames {
                    add(&result.clipFrames, (d.frames.objects, d.frames.colors, d.frames.styles),
                        row: i * d.frameCount + f, label, styleVisible: visible)
                }
            }
        }
        for (b, start) in stride(from: 0, to: images, by: batchSize).enumerated() {
            let batch = data.batch(b, size: min(batchSize, images - start), mode: .image)
            let d = try detector.detect(frames: batch.pixels)
            for (i, label) in batch.labels.enumerated() {
                let visible = styleIsVisible(batch.specs[i], render: batch.pixels, sample: i, frames: [0],
                                             renderer: data.renderer)
                if !visible { result.styleInvisibleImages += 1 }
                add(&result.images, (d.objects, d.colors, d.styles), row: i, label, styleVisible: visible)
            }
        }
        return result
    }

    /// Whether sample `sample` of `render` ([N, 3, F, H, W] or [N, 3, H, W]) changes, in any of
    /// `frames`, when any one object is drawn flat instead (outlined instead, if it is flat).
    static func styleIsVisible(_ spec: ClipSpec, render: Tensor, sample: Int, frames: [Int], renderer: Renderer) -> Bool {
        let frameCount = spec.frameCount, plane = spec.size * spec.size
        let original = render.pointer + sample * 3 * frameCount * plane
        for j in spec.objects.indices {
            var swapped = spec
            swapped.objects[j].style = spec.objects[j].style == .flat ? .outlined : .flat
            let other = renderer.render(swapped)
            let changed = other.pointer
            var largest: Float = 0
            for c in 0..<3 {
                for f in frames {
                    let offset = (c * frameCount + f) * plane
                    for p in offset..<(offset + plane) { largest = max(largest, abs(changed[p] - original[p])) }
                }
            }
            // Pixels span [-1, 1]: one 8-bit level is 2/255.
            if largest <= 2 / 255 { return false }
        }
        return true
    }

    /// Scores `count` fresh clips (and as many single images) rendered from `seed`.
    public static func measure(detector: ConceptDetector, count: Int, seed: UInt64) throws -> DetectorAccuracy {
        try evaluate(detector, clips: count, images: count, seed: seed)
    }

    /// The ranked accuracies the detector is held to (clip presence, motion, images), by name.
    public var headline: [(String, Double)] {
        var out: [(String, Double)] = []
        if clipCount > 0 {
            out += clips.all.map { ("clip \($0.0)", $0.1.ranked.accuracy) }
            out.append(("clip motion", motion.accuracy))
        }
        if imageCount > 0 { out += images.all.map { ("image \($0.0)", $0.1.ranked.accuracy) } }
        return out
    }

    /// The lowest headline accuracy.
    public var minimum: Double { headline.map(\.1).min() ?? 0 }

    public var summary: String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        var parts: [String] = []
        if clipCount > 0 {
            let fams = clips.all.map { "\($0.0) \(pct($0.1.ranked.accuracy)) (thr \(pct($0.1.thresholded.accuracy)))" }
            parts.append("\(clipCount) clips: " + fams.joined(separator: ", ") + ", motion \(pct(motion.accuracy))"
                         + " [style not visible in \(styleInvisibleClips)]")
        }
        if imageCount > 0 {
            let fams = images.all.map { "\($0.0) \(pct($0.1.ranked.accuracy)) (thr \(pct($0.1.thresholded.accuracy)))" }
            parts.append("\(imageCount) images: " + fams.joined(separator: ", ") + " [style not visible in \(styleInvisibleImages)]")
        }
        return parts.joined(separator: "; ")
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self) + Data("\n".utf8)
    }
}
