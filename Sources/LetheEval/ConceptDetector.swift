// The concept detector: the judge every erasure number is read through, in the role NudeNet,
// style classifiers and ImageNet classifiers play in the papers.
//
// Two small CNN streams over 32×32 frames in [-1, 1]:
// - the frame stream (conv blocks with GroupNorm and SiLU, mostly stride 2; global max pool
//   → frame feature) feeds three multi-label presence heads, object, color and style: a
//   two-object frame holds two objects and up to two colors and two styles, so every class
//   is its own sigmoid;
// - the motion stream sees a whole clip at once — its frames and the differences of
//   consecutive frames stacked as channels — and feeds a softmax over the motions. A per-frame
//   feature has lost where the object was; the stacked frames keep it, so direction, a hop, a
//   rotation or a change of size are all local patterns of the stream's first layers.
//
// A clip contains a concept when the concept is detected in any of `clipSampledFrames` evenly
// spaced frames (VideoEraser's rule), at the stated threshold. Frame and clip features (for
// Fréchet distances) are the streams' pooled vectors.

import Foundation
import LetheCore
import LetheModels
import LetheWorld

/// Architecture, class order and decision rule of a detector: everything `config.json` holds.
public struct DetectorConfig: Equatable, Sendable {
    /// The detector family this code implements; a model saved by another version is refused.
    public static let currentVersion = "lethe-detector-v1"

    public var version = DetectorConfig.currentVersion
    /// Frame side, pixels.
    public var sampleSize = 32
    /// Frames per clip the motion stream is built for.
    public var frameCount = 8
    /// Output channels of the frame stream's blocks; the last is the frame feature's dimension.
    public var frameChannels = [32, 64, 96, 128]
    /// Stride of each frame block (1 or 2). The first block strides: a 3×3 stride-2 conv with
    /// 32 outputs has room for everything its 27 inputs hold, while GroupNorm and SiLU over a
    /// full-resolution 32-channel map cost as much as the next convolution (measured).
    public var frameStrides = [2, 2, 1, 2]
    /// How the frame stream's last map becomes the frame feature. Max: a concept is present
    /// when some place shows it, so a small object is not diluted by its area and the two
    /// objects of a pair do not blend (with a mean, shapes trained about three times slower
    /// and two-object frames lagged far behind).
    public var framePooling = Pooling.max
    /// Output channels and strides of the motion stream's blocks.
    public var motionChannels = [48, 96, 128]
    public var motionStrides = [2, 2, 2]
    /// Motion is a property of the whole clip: averaged over the frame.
    public var motionPooling = Pooling.mean
    public var normNumGroups = 8
    /// Class names per family, in head order.
    public var objectClasses = ObjectKind.allCases.map(\.rawValue)
    public var colorClasses = ColorKind.allCases.map(\.rawValue)
    public var styleClasses = StyleKind.allCases.map(\.rawValue)
    public var motionClasses = MotionKind.allCases.map(\.rawValue)
    /// A presence probability at or above this counts as detected.
    public var presenceThreshold: Float = 0.5
    /// Frames per clip the clip-level presence rule looks at.
    public var clipSampledFrames = 5
    /// Seed of the training run that made the weights, so evaluation can avoid its data.
    public var trainingSeed: UInt64?

    public enum Pooling: String, Sendable, CaseIterable {
        case max, mean
    }

    public init() {}

    public var frameFeatureDimension: Int { frameChannels.last ?? 0 }
    public var motionFeatureDimension: Int { motionChannels.last ?? 0 }
    /// Mean frame feature ⊕ motion feature.
    public var clipFeatureDimension: Int { frameFeatureDimension + motionFeatureDimension }
    /// Stacked frames and consecutive differences.
    public var motionInputChannels: Int { 3 * frameCount + 3 * (frameCount - 1) }

    /// Frame indices the clip rule samples: `clipSampledFrames` evenly spaced from the first
    /// frame to the last (numpy.linspace, rounded), or all frames of a shorter clip.
    public func sampledFrames(of frames: Int) -> [Int] {
        let k = clipSampledFrames
        guard frames > k, k > 1 else { return Array(0..<frames) }
        return (0..<k).map { Int((Double($0 * (frames - 1)) / Double(k - 1)).rounded()) }
    }

    /// Throws when the numbers cannot make a model (a hand-edited config.json).
    public func validate(source: String) throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: source, key: key, message) }
        guard sampleSize >= 8 else { throw fail("sample_size", "expected at least 8, got \(sampleSize)") }
        guard frameCount >= 2 else { throw fail("frame_count", "expected at least 2, got \(frameCount)") }
        guard normNumGroups >= 1 else { throw fail("norm_num_groups", "expected at least 1, got \(normNumGroups)") }
        for (key, channels, strides) in [("frame", frameChannels, frameStrides), ("motion", motionChannels, motionStrides)] {
            guard !channels.isEmpty else { throw fail("\(key)_channels", "expected at least one block") }
            if let c = channels.first(where: { $0 < 1 || $0 % normNumGroups != 0 }) {
                throw fail("\(key)_channels", "\(c) channels do not split into norm_num_groups = \(normNumGroups) groups")
            }
            guard strides.count == channels.count, strides.allSatisfy({ $0 == 1 || $0 == 2 }) else {
                throw fail("\(key)_strides", "expected one stride of 1 or 2 per block of \(key)_channels (\(channels.count)), got \(strides)")
            }
            // The pooled map must keep at least one pixel.
            guard sampleSize >> strides.filter({ $0 == 2 }).count >= 1 else {
                throw fail("\(key)_strides", "too many stride-2 blocks for \(sampleSize)-pixel frames")
            }
        }
        guard presenceThreshold > 0 && presenceThreshold < 1 else {
            throw fail("presence_threshold", "expected a probability strictly between 0 and 1, got \(presenceThreshold)")
        }
        guard clipSampledFrames >= 1 else { throw fail("clip_sampled_frames", "expected at least 1, got \(clipSampledFrames)") }
    }

    /// The classes of this build's world, checked against the saved names: a detector trained
    /// on another concept list would score the wrong concepts.
    func checkClasses(source: String) throws {
        let expected: [(String, [String], [String])] = [
            ("object_classes", objectClasses, ObjectKind.allCases.map(\.rawValue)),
            ("color_classes", colorClasses, ColorKind.allCases.map(\.rawValue)),
            ("style_classes", styleClasses, StyleKind.allCases.map(\.rawValue)),
            ("motion_classes", motionClasses, MotionKind.allCases.map(\.rawValue)),
        ]
        for (key, saved, world) in expected where saved != world {
            throw ConfigError(source: source, key: key,
                              "the detector was trained on \(saved), this build's world has \(world)")
        }
    }

    // MARK: config.json

    public init(json: JSONConfig) throws {
        version = try json.string("detector_version")
        guard version == DetectorConfig.currentVersion else {
            throw ConfigError(source: json.source, key: "detector_version",
                              "this build reads \(DetectorConfig.currentVersion), the file is \(version); retrain with `lethe train detector`")
        }
        sampleSize = try json.int("sample_size")
        frameCount = try json.int("frame_count")
        frameChannels = try json.intArray("frame_channels")
        frameStrides = try json.intArray("frame_strides")
        motionChannels = try json.intArray("motion_channels")
        motionStrides = try json.intArray("motion_strides")
        framePooling = try Self.pooling(json, "frame_pooling")
        motionPooling = try Self.pooling(json, "motion_pooling")
        normNumGroups = try json.int("norm_num_groups")
        objectClasses = try json.stringArray("object_classes")
        colorClasses = try json.stringArray("color_classes")
        styleClasses = try json.stringArray("style_classes")
        motionClasses = try json.stringArray("motion_classes")
        presenceThreshold = Float(try json.double("presence_threshold"))
        clipSampledFrames = try json.int("clip_sampled_frames")
        if let seed = try json.optionalInt("training_seed") {
            guard seed >= 0 else { throw ConfigError(source: json.source, key: "training_seed", "expected a non-negative integer, got \(seed)") }
            trainingSeed = UInt64(seed)
        }
        try validate(source: json.source)
        try checkClasses(source: json.source)
    }

    /// Configs written before pooling was a choice come from mean-pooling detectors.
    private static func pooling(_ json: JSONConfig, _ key: String) throws -> Pooling {
        let name = try json.string(key, default: Pooling.mean.rawValue)
        guard let pooling = Pooling(rawValue: name) else {
            throw ConfigError(source: json.source, key: key,
                              "expected one of \(Pooling.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(name)\"")
        }
        return pooling
    }

    public var json: JSONConfig {
        var values: [String: JSONValue] = [
            "_class_name": "ConceptDetector",
            "detector_version": .string(version),
            "sample_size": .int(sampleSize),
            "frame_count": .int(frameCount),
            "frame_channels": .array(frameChannels.map { .int($0) }),
            "frame_strides": .array(frameStrides.map { .int($0) }),
            "motion_channels": .array(motionChannels.map { .int($0) }),
            "motion_strides": .array(motionStrides.map { .int($0) }),
            "frame_pooling": .string(framePooling.rawValue),
            "motion_pooling": .string(motionPooling.rawValue),
            "norm_num_groups": .int(normNumGroups),
            "object_classes": .array(objectClasses.map { .string($0) }),
            "color_classes": .array(colorClasses.map { .string($0) }),
            "style_classes": .array(styleClasses.map { .string($0) }),
            "motion_classes": .array(motionClasses.map { .string($0) }),
            "presence_threshold": .double(Double(presenceThreshold)),
            "clip_sampled_frames": .int(clipSampledFrames),
            "clip_rule": "a clip contains a concept when its probability reaches presence_threshold in any of clip_sampled_frames evenly spaced frames; motion is the argmax of the clip-level motion head",
        ]
        if let trainingSeed, trainingSeed <= UInt64(Int.max) { values["training_seed"] = .int(Int(trainingSeed)) }
        return JSONConfig(values: values, source: "config.json")
    }
}

public struct DetectorError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// conv → GroupNorm → SiLU.
final class DetectorConvBlock: Module {
    let conv: Conv2d
    let norm: GroupNorm

    init(_ inChannels: Int, _ outChannels: Int, stride: Int, groups: Int, rng: inout RandomGenerator) {
        conv = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, rng: &rng)
        norm = GroupNorm(groups: groups, channels: outChannels)
        super.init()
        child("conv", conv)
        child("norm", norm)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { norm(conv(x)).silu() }
}

/// Conv blocks, then a global pool: [N, Cin, H, W] → [N, C_last].
final class DetectorEncoder: Module {
    let blocks: [DetectorConvBlock]
    let pooling: DetectorConfig.Pooling

    init(inChannels: Int, channels: [Int], strides: [Int], pooling: DetectorConfig.Pooling, groups: Int,
         rng: inout RandomGenerator) {
        self.pooling = pooling
        var made: [DetectorConvBlock] = []
        var c = inChannels
        for (out, stride) in zip(channels, strides) {
            made.append(DetectorConvBlock(c, out, stride: stride, groups: groups, rng: &rng))
            c = out
        }
        blocks = made
        super.init()
        children("blocks", blocks)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for block in blocks { h = block(h) }
        switch pooling {
        case .max: return h.globalMaxPool()
        case .mean: return h.reshaped([h.shape[0], h.shape[1], h.shape[2] * h.shape[3]]).mean(axis: 2)
        }
    }
}

/// Per-frame presence probabilities, one row per frame.
public struct FrameDetections {
    /// [N, objects], [N, colors], [N, styles]: sigmoid probabilities.
    public let objects: Tensor
    public let colors: Tensor
    public let styles: Tensor
    public let threshold: Float

    public var count: Int { objects.shape[0] }

    /// The probabilities of one family ([N, classes]); nil for motion, which frames do not have.
    public func scores(_ family: ConceptFamily) -> Tensor? {
        switch family {
        case .object: return objects
        case .color: return colors
        case .style: return styles
        case .motion: return nil
        }
    }

    public func score(_ family: ConceptFamily, classIndex: Int, frame: Int) -> Float {
        guard let s = scores(family) else { return 0 }
        return s[flat: frame * s.shape[1] + classIndex]
    }

    public func isPresent(_ family: ConceptFamily, classIndex: Int, frame: Int) -> Bool {
        score(family, classIndex: classIndex, frame: frame) >= threshold
    }
}

/// Detections on clips: every frame's, the clip-level presence of the clip rule, and motion.
public struct ClipDetections {
    /// Row c·frameCount + f is frame f of clip c.
    public let frames: FrameDetections
    public let frameCount: Int
    /// The frames the clip rule looked at.
    public let sampledFrames: [Int]
    /// [N, classes]: the highest probability over the sampled frames, so a clip contains a
    /// concept exactly when its score reaches the threshold.
    public let objects: Tensor
    public let colors: Tensor
    public let styles: Tensor
    /// [N, motions]: softmax probabilities of the clip-level motion head.
    public let motions: Tensor
    public let threshold: Float

    public var count: Int { objects.shape[0] }

    public func scores(_ family: ConceptFamily) -> Tensor {
        switch family {
        case .object: return objects
        case .color: return colors
        case .style: return styles
        case .motion: return motions
        }
    }

    public func score(_ family: ConceptFamily, classIndex: Int, clip: Int) -> Float {
        let s = scores(family)
        return s[flat: clip * s.shape[1] + classIndex]
    }

    /// Objects, colors and styles: detected in any sampled frame. Motion (one per clip): the
    /// most probable motion.
    public func isPresent(_ family: ConceptFamily, classIndex: Int, clip: Int) -> Bool {
        if family == .motion { return motion(clip) == classIndex }
        return score(family, classIndex: classIndex, clip: clip) >= threshold
    }

    /// The most probable motion of a clip, as a class index.
    public func motion(_ clip: Int) -> Int {
        let c = motions.shape[1], p = motions.pointer + clip * c
        var best = 0
        for k in 1..<c where p[k] > p[best] { best = k }
        return best
    }
}

public final class ConceptDetector: Module {
    public let config: DetectorConfig
    let frameEncoder: DetectorEncoder
    let objectHead: Linear
    let colorHead: Linear
    let styleHead: Linear
    let motionEncoder: DetectorEncoder
    let motionHead: Linear

    /// Frames (or clips) per forward pass at inference: bounds the activations' memory.
    static let inferenceChunk = 256

    /// A freshly initialised detector (PyTorch's default initialisation from `rng`).
    public init(config: DetectorConfig = DetectorConfig(), rng: inout RandomGenerator) {
        self.config = config
        let groups = config.normNumGroups
        frameEncoder = DetectorEncoder(inChannels: 3, channels: config.frameChannels, strides: config.frameStrides,
                                       pooling: config.framePooling, groups: groups, rng: &rng)
        let d = config.frameFeatureDimension
        objectHead = Linear(d, config.objectClasses.count, rng: &rng)
        colorHead = Linear(d, config.colorClasses.count, rng: &rng)
        styleHead = Linear(d, config.styleClasses.count, rng: &rng)
        motionEncoder = DetectorEncoder(inChannels: config.motionInputChannels, channels: config.motionChannels,
                                        strides: config.motionStrides, pooling: config.motionPooling, groups: groups, rng: &rng)
        motionHead = Linear(config.motionFeatureDimension, config.motionClasses.count, rng: &rng)
        super.init()
        child("frame_encoder", frameEncoder)
        child("object_head", objectHead)
        child("color_head", colorHead)
        child("style_head", styleHead)
        child("motion_encoder", motionEncoder)
        child("motion_head", motionHead)
    }

    // MARK: Forward passes (recorded, for training)

    /// Frame features [N, D] and the presence logits of each family.
    public func frameOutputs(_ frames: Tensor) -> (features: Tensor, objects: Tensor, colors: Tensor, styles: Tensor) {
        let f = frameEncoder(frames)
        return (f, objectHead(f), colorHead(f), styleHead(f))
    }

    /// Motion features [N, D] and motion logits [N, motions] of clips [N, 3, F, H, W].
    public func motionOutputs(_ clips: Tensor) -> (features: Tensor, logits: Tensor) {
        let f = motionEncoder(motionInput(clips))
        return (f, motionHead(f))
    }

    /// [N, 3, F, H, W] → [N, 3F + 3(F−1), H, W]: the frames, then each frame minus the one
    /// before it, frame-major (channels 3f..3f+2 are frame f's RGB).
    func motionInput(_ clips: Tensor) -> Tensor {
        let (n, f, h, w) = (clips.shape[0], clips.shape[2], clips.shape[3], clips.shape[4])
        let byFrame = clips.permuted([0, 2, 1, 3, 4])
        let later = byFrame.slice(axis: 1, range: 1..<f), earlier = byFrame.slice(axis: 1, range: 0..<(f - 1))
        return Tensor.concatenate([byFrame.reshaped([n, 3 * f, h, w]), (later - earlier).reshaped([n, 3 * (f - 1), h, w])],
                                  axis: 1)
    }

    /// Clips [N, 3, F, H, W] as frames [N·F, 3, H, W], clip-major.
    public static func framesOf(clips: Tensor) -> Tensor {
        let (n, f, h, w) = (clips.shape[0], clips.shape[2], clips.shape[3], clips.shape[4])
        return clips.permuted([0, 2, 1, 3, 4]).reshaped([n * f, 3, h, w])
    }

    // MARK: Inference

    private func checkFrames(_ frames: Tensor) throws {
        let s = config.sampleSize
        guard frames.rank == 4, frames.shape[1] == 3, frames.shape[2] == s, frames.shape[3] == s else {
            throw DetectorError("the detector takes frames [N, 3, \(s), \(s)] in [-1, 1], got \(frames.shape)")
        }
    }

    private func checkClips(_ clips: Tensor) throws {
        let s = config.sampleSize, f = config.frameCount
        guard clips.rank == 5, clips.shape[1] == 3, clips.shape[2] == f, clips.shape[3] == s, clips.shape[4] == s else {
            throw DetectorError("the detector takes clips [N, 3, \(f), \(s), \(s)] in [-1, 1], got \(clips.shape)")
        }
    }

    /// Rows `range` of a batch tensor, copied (no graph).
    private static func rows(_ t: Tensor, _ range: Range<Int>) -> Tensor {
        let per = t.count / max(t.shape[0], 1)
        let out = Tensor(uninitializedShape: [range.count] + t.shape.dropFirst())
        out.pointer.update(from: t.pointer + range.lowerBound * per, count: range.count * per)
        return out
    }

    /// Runs `body` on chunks of at most `chunk` rows and stacks each of its outputs by row.
    private static func chunked(_ input: Tensor, chunk: Int, _ body: (Tensor) -> [Tensor]) -> [Tensor] {
        let n = input.shape[0]
        if n <= chunk { return Autograd.inference { body(input) } }
        var parts: [[Tensor]] = []
        for start in stride(from: 0, to: n, by: chunk) {
            let piece = rows(input, start..<min(start + chunk, n))
            parts.append(Autograd.inference { body(piece) })
        }
        return (0..<parts[0].count).map { k in Autograd.inference { Tensor.concatenate(parts.map { $0[k] }, axis: 0) } }
    }

    /// Presence probabilities of every family for frames [N, 3, H, W] in [-1, 1].
    public func detect(frames: Tensor) throws -> FrameDetections {
        try checkFrames(frames)
        let out = ConceptDetector.chunked(frames, chunk: ConceptDetector.inferenceChunk) { x in
            let o = frameOutputs(x)
            return [o.objects.sigmoid(), o.colors.sigmoid(), o.styles.sigmoid()]
        }
        return FrameDetections(objects: out[0], colors: out[1], styles: out[2], threshold: config.presenceThreshold)
    }

    /// Per-frame presence, clip-level presence by the sampled-frame rule, and motion
    /// probabilities for clips [N, 3, F, H, W] in [-1, 1].
    public func detect(clips: Tensor) throws -> ClipDetections {
        try checkClips(clips)
        let n = clips.shape[0], f = clips.shape[2]
        let frames = try detect(frames: ConceptDetector.framesOf(clips: clips))
        let motions = ConceptDetector.chunked(clips, chunk: ConceptDetector.inferenceChunk / f) { x in
            [motionOutputs(x).logits.softmax(axis: -1)]
        }[0]
        let sampled = config.sampledFrames(of: f)
        func clipScores(_ perFrame: Tensor) -> Tensor {
            let c = perFrame.shape[1]
            let out = Tensor(uninitializedShape: [n, c])
            for clip in 0..<n {
                for k in 0..<c {
                    out[flat: clip * c + k] = sampled.map { perFrame[flat: (clip * f + $0) * c + k] }.max() ?? 0
                }
            }
            return out
        }
        return ClipDetections(frames: frames, frameCount: f, sampledFrames: sampled,
                              objects: clipScores(frames.objects), colors: clipScores(frames.colors),
                              styles: clipScores(frames.styles), motions: motions, threshold: config.presenceThreshold)
    }

    /// Frame features [N, frameFeatureDimension] for Fréchet distances.
    public func features(frames: Tensor) throws -> Tensor {
        try checkFrames(frames)
        return ConceptDetector.chunked(frames, chunk: ConceptDetector.inferenceChunk) { [frameEncoder($0)] }[0]
    }

    /// Clip features [N, clipFeatureDimension]: the mean of the clip's frame features, then
    /// its motion feature.
    public func features(clips: Tensor) throws -> Tensor {
        try checkClips(clips)
        let n = clips.shape[0], f = clips.shape[2], d = config.frameFeatureDimension
        let perFrame = try features(frames: ConceptDetector.framesOf(clips: clips))
        let motion = ConceptDetector.chunked(clips, chunk: ConceptDetector.inferenceChunk / f) { [motionOutputs($0).features] }[0]
        return Autograd.inference {
            Tensor.concatenate([perFrame.reshaped([n, f, d]).mean(axis: 1), motion], axis: 1)
        }
    }

    // MARK: Files

    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"

    /// Writes config.json and model.safetensors (float16) into `directory`, each atomically.
    public func save(to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DetectorError("\(directory.path): cannot create the directory (\(error.localizedDescription))")
        }
        var meta = ["format": "pt", "detector_version": config.version]
        if let seed = config.trainingSeed { meta["training_seed"] = String(seed) }
        try SafeTensors.write(stateDict(), metadata: meta, dtype: .f16,
                              to: directory.appendingPathComponent(ConceptDetector.weightsFile))
        try config.json.write(to: directory.appendingPathComponent(ConceptDetector.configFile))
    }

    /// Loads a detector saved by `save(to:)`; errors name the file and what is wrong.
    public static func load(from directory: URL) throws -> ConceptDetector {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DetectorError("\(directory.path): no detector here (expected a folder with \(configFile) and \(weightsFile); make one with `lethe train detector`)")
        }
        let config = try DetectorConfig(json: JSONConfig(contentsOf: directory.appendingPathComponent(configFile)))
        let weights = directory.appendingPathComponent(weightsFile)
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw DetectorError("\(weights.path): file not found (the detector's weights)")
        }
        var rng = RandomGenerator(seed: 0)
        let detector = ConceptDetector(config: config, rng: &rng)
        try detector.load(stateDict: SafeTensors.load(weights), source: weights.path)
        detector.setTrainable(false)
        return detector
    }
}
