// Training the concept detector on rendered ground truth (configs/train/detector.yaml).
//
// Each step draws one batch of images and one batch of clips from the world (batch i depends
// only on the seed and i, so a resumed run sees the same data). The frame heads train on the
// images and on a few frames of every clip (moving, spinning, shrunken and two-object frames);
// the motion head trains on the clips. Losses: binary cross-entropy per presence class (multi-
// label heads) plus a softmax term that speeds learning, cross-entropy for motion. The world
// is sampled with every (object, color, style) triple, held-out ones included: the judge must
// know the combinations the generators are kept from.

import Foundation
import LetheCore
import LetheModels
import LetheWorld

/// configs/train/detector.yaml.
public struct DetectorRecipe: Recipe, Equatable {
    public static let keys = [
        "steps", "images_per_batch", "clips_per_batch", "frames_per_clip", "two_object_probability",
        "exclude_held_out_combos", "lr", "final_lr", "warmup_steps", "weight_decay", "ema_decay", "noise_std",
        "seed", "checkpoint_every", "eval_clips", "eval_images", "eval_seed", "frame_channels", "frame_strides",
        "motion_channels", "motion_strides", "norm_num_groups", "frame_pooling", "motion_pooling", "init_from",
    ]

    public var steps: Int
    /// Images per step (frame heads only).
    public var imagesPerBatch: Int
    /// Clips per step (motion head, and `framesPerClip` of their frames for the frame heads).
    public var clipsPerBatch: Int
    public var framesPerClip: Int
    /// Share of sampled images and clips with two objects (the world's default is 0.3).
    public var twoObjectProbability: Float
    /// false: the detector sees every (object, color, style) triple.
    public var excludeHeldOutCombos: Bool
    /// AdamW peak learning rate, reached after `warmupSteps` and then cosine-decayed to `finalLr`.
    public var lr: Float
    public var finalLr: Float
    public var warmupSteps: Int
    public var weightDecay: Float
    /// Decay of the weights' moving average that becomes the model; 0 keeps the raw weights.
    public var emaDecay: Float
    /// Standard deviation of Gaussian noise added to training pixels, so generated frames that
    /// are close to a render but not exact are still judged by what they show.
    public var noiseStd: Float
    public var seed: UInt64
    public var checkpointEvery: Int
    /// Held-out clips and images scored after training (0: skip).
    public var evalClips: Int
    public var evalImages: Int
    /// Seed of the held-out renders; must differ from `seed`.
    public var evalSeed: UInt64
    /// Architecture (defaults: DetectorConfig's).
    public var frameChannels: [Int]?
    public var frameStrides: [Int]?
    public var motionChannels: [Int]?
    public var motionStrides: [Int]?
    public var normNumGroups: Int?
    /// "max" or "mean".
    public var framePooling: String?
    public var motionPooling: String?
    /// A saved detector (folder) whose weights start the run instead of a fresh initialisation:
    /// a second, lower-learning-rate stage after a first run. Relative paths are from the
    /// current directory (the repository root for committed recipes).
    public var initFrom: String?

    enum CodingKeys: String, CodingKey {
        case steps, imagesPerBatch = "images_per_batch", clipsPerBatch = "clips_per_batch"
        case framesPerClip = "frames_per_clip", twoObjectProbability = "two_object_probability"
        case excludeHeldOutCombos = "exclude_held_out_combos", lr, finalLr = "final_lr"
        case warmupSteps = "warmup_steps", weightDecay = "weight_decay", emaDecay = "ema_decay"
        case noiseStd = "noise_std", seed, checkpointEvery = "checkpoint_every", evalClips = "eval_clips"
        case evalImages = "eval_images", evalSeed = "eval_seed", frameChannels = "frame_channels"
        case frameStrides = "frame_strides", motionChannels = "motion_channels", motionStrides = "motion_strides"
        case normNumGroups = "norm_num_groups", framePooling = "frame_pooling", motionPooling = "motion_pooling"
        case initFrom = "init_from"
    }

    public static func load(from url: URL) throws -> DetectorRecipe {
        let recipe = try RecipeLoader.load(DetectorRecipe.self, from: url)
        try recipe.validate(file: url.path)
        return recipe
    }

    /// The detector this recipe trains.
    public var detectorConfig: DetectorConfig {
        var c = DetectorConfig()
        if let frameChannels { c.frameChannels = frameChannels }
        if let frameStrides { c.frameStrides = frameStrides }
        if let motionChannels { c.motionChannels = motionChannels }
        if let motionStrides { c.motionStrides = motionStrides }
        if let normNumGroups { c.normNumGroups = normNumGroups }
        if let p = framePooling.flatMap(DetectorConfig.Pooling.init) { c.framePooling = p }
        if let p = motionPooling.flatMap(DetectorConfig.Pooling.init) { c.motionPooling = p }
        c.trainingSeed = seed
        return c
    }

    /// The world training batches come from.
    public var worldConfig: WorldConfig {
        var w = WorldConfig.v1
        w.twoObjectProbability = twoObjectProbability
        w.excludeHeldOutCombos = excludeHeldOutCombos
        return w
    }

    public func validate(file: String) throws {
        func fail(_ key: String, _ message: String) -> RecipeError { RecipeError(file: file, "key '\(key)': \(message)") }
        for (key, value) in [("steps", steps), ("images_per_batch", imagesPerBatch), ("clips_per_batch", clipsPerBatch),
                             ("checkpoint_every", checkpointEvery)] where value < 1 {
            throw fail(key, "expected a positive integer, got \(value)")
        }
        for (key, value) in [("warmup_steps", warmupSteps), ("eval_clips", evalClips), ("eval_images", evalImages)] where value < 0 {
            throw fail(key, "expected a non-negative integer, got \(value)")
        }
        let frames = WorldConfig.v1.frameCount
        guard (1...frames).contains(framesPerClip) else { throw fail("frames_per_clip", "expected 1...\(frames), got \(framesPerClip)") }
        guard (0...1).contains(twoObjectProbability) else {
            throw fail("two_object_probability", "expected a probability in [0, 1], got \(twoObjectProbability)")
        }
        guard lr > 0, lr.isFinite else { throw fail("lr", "expected a positive number, got \(lr)") }
        guard finalLr >= 0, finalLr <= lr else { throw fail("final_lr", "expected 0 ≤ final_lr ≤ lr, got \(finalLr)") }
        guard weightDecay >= 0 else { throw fail("weight_decay", "expected a non-negative number, got \(weightDecay)") }
        guard emaDecay >= 0, emaDecay < 1 else { throw fail("ema_decay", "expected 0 ≤ ema_decay < 1, got \(emaDecay)") }
        guard noiseStd >= 0, noiseStd.isFinite else { throw fail("noise_std", "expected a non-negative number, got \(noiseStd)") }
        guard evalSeed != seed else {
            throw fail("eval_seed", "must differ from seed (\(seed)): held-out clips are rendered from their own seed")
        }
        for (key, value) in [("frame_pooling", framePooling), ("motion_pooling", motionPooling)] {
            if let value, DetectorConfig.Pooling(rawValue: value) == nil {
                let names = DetectorConfig.Pooling.allCases.map(\.rawValue).joined(separator: " or ")
                throw fail(key, "expected \(names), got \"\(value)\"")
            }
        }
        do {
            try detectorConfig.validate(source: file)
        } catch let error as ConfigError {
            throw fail(error.key ?? "architecture", error.message)
        }
    }

    /// Learning rate of step `i`: linear warm-up, then a cosine from `lr` to `finalLr`.
    public func learningRate(step i: Int) -> Float {
        WarmupCosineSchedule(peak: lr, final: finalLr, warmupSteps: warmupSteps, totalSteps: steps)(i)
    }

    /// Identifies the run in its checkpoint: resuming with other settings is refused.
    var fingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var copy = self
        copy.checkpointEvery = 0  // how often to save does not change what is trained
        copy.evalClips = 0
        copy.evalImages = 0
        return String(decoding: (try? encoder.encode(copy)) ?? Data(), as: UTF8.self)
    }
}

public struct DetectorTrainingResult {
    public let steps: Int
    public let losses: [Float]
    public let seconds: Double
    /// True when the run stopped early (SIGINT); no model was written then.
    public let interrupted: Bool
    /// Held-out accuracy of the written model, when the recipe asks for it.
    public let accuracy: DetectorAccuracy?
    public let modelDirectory: URL
}

public enum DetectorTraining {
    public static let checkpointFile = "checkpoint.safetensors"
    public static let accuracyFile = "accuracy.json"

    /// Trains a detector as `recipe` says, checkpointing to OUT/checkpoint.safetensors, then
    /// writes the model (config.json, model.safetensors) and, if asked, its held-out accuracy
    /// (accuracy.json) into `outDirectory`.
    public static func run(recipe: DetectorRecipe, outDirectory: URL, resume: Bool,
                           log: @escaping (String) -> Void) throws -> DetectorTrainingResult {
        try train(recipe: recipe, outDirectory: outDirectory, resume: resume, log: log, failAtStep: nil)
    }

    /// `failAtStep` throws before that step runs, as a crash would (tests of resume).
    static func train(recipe: DetectorRecipe, outDirectory: URL, resume: Bool, log: @escaping (String) -> Void,
                      failAtStep: Int?) throws -> DetectorTrainingResult {
        try recipe.validate(file: "detector recipe")
        do {
            try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        } catch {
            throw DetectorError("\(outDirectory.path): cannot create the output directory (\(error.localizedDescription))")
        }
        var initRNG = RandomGenerator(seed: recipe.seed, stream: UInt64.max)
        let detector = ConceptDetector(config: recipe.detectorConfig, rng: &initRNG)
        if let initFrom = recipe.initFrom {
            let start = try ConceptDetector.load(from: URL(fileURLWithPath: initFrom))
            try detector.load(stateDict: start.stateDict(), source: "init_from \(initFrom)")
        }
        let named = detector.namedParameters()
        let optimizer = AdamW(parameters: named.map(\.tensor), learningRate: recipe.lr, weightDecay: recipe.weightDecay)
        let ema = recipe.emaDecay > 0 ? ExponentialMovingAverage(parameters: named.map(\.tensor), decay: recipe.emaDecay) : nil
        let options = TrainingOptions(steps: recipe.steps, seed: recipe.seed,
                                      checkpoint: outDirectory.appendingPathComponent(checkpointFile),
                                      checkpointEvery: recipe.checkpointEvery, resume: resume, label: "detector")
        let run = TrainingRun(parameters: named, optimizer: optimizer, ema: ema, options: options,
                              metadata: ["recipe": recipe.fingerprint])
        run.log = log
        log("detector: \(detector.parameterCount) parameters; \(recipe.steps) steps of \(recipe.imagesPerBatch) images + \(recipe.clipsPerBatch) clips")

        let data = WorldDataset(seed: recipe.seed, config: recipe.worldConfig, catalog: .v1, excludedPrompts: [])
        let result = try run.run { step, rng in
            if step == failAtStep { throw TrainingError("detector: simulated failure at step \(step)") }
            optimizer.learningRate = recipe.learningRate(step: step)
            let loss = lossOfStep(step, detector: detector, data: data, recipe: recipe, rng: &rng)
            loss.backward()
            return loss.item
        }
        guard !result.interrupted else {
            return DetectorTrainingResult(steps: result.losses.count, losses: result.losses, seconds: result.seconds,
                                          interrupted: true, accuracy: nil, modelDirectory: outDirectory)
        }
        ema?.copyToParameters()
        detector.setTrainable(false)
        try detector.save(to: outDirectory)
        log("detector: wrote \(outDirectory.path)/\(ConceptDetector.configFile) and \(ConceptDetector.weightsFile)")

        var accuracy: DetectorAccuracy?
        if recipe.evalClips > 0 || recipe.evalImages > 0 {
            // Score the saved (float16) weights: those are what every later number goes through.
            let saved = try ConceptDetector.load(from: outDirectory)
            let a = try DetectorAccuracy.evaluate(saved, clips: recipe.evalClips, images: recipe.evalImages,
                                                  seed: recipe.evalSeed)
            try writeAtomically(a.jsonData(), to: outDirectory.appendingPathComponent(accuracyFile))
            log("detector: held-out accuracy \(a.summary)")
            accuracy = a
        } else {
            // A report left by an earlier model would describe weights that are gone.
            try? FileManager.default.removeItem(at: outDirectory.appendingPathComponent(accuracyFile))
        }
        return DetectorTrainingResult(steps: result.losses.count, losses: result.losses, seconds: result.seconds,
                                      interrupted: false, accuracy: accuracy, modelDirectory: outDirectory)
    }

    /// One step's loss: presence losses on frames, cross-entropy on motion.
    static func lossOfStep(_ step: Int, detector: ConceptDetector, data: WorldDataset, recipe: DetectorRecipe,
                           rng: inout RandomGenerator) -> Tensor {
        let images = data.batch(step, size: recipe.imagesPerBatch, mode: .image)
        let clips = data.batch(step, size: recipe.clipsPerBatch, mode: .clip)
        let f = clips.pixels.shape[2], side = clips.pixels.shape[3], plane = side * side

        // Frame rows: the images, then `framesPerClip` distinct random frames of each clip.
        var labels = images.labels
        var picks: [(clip: Int, frame: Int)] = []
        for c in 0..<recipe.clipsPerBatch {
            var order = Array(0..<f)
            for i in 0..<recipe.framesPerClip {
                order.swapAt(i, i + rng.nextInt(f - i))
                picks.append((c, order[i]))
                labels.append(clips.labels[c])
            }
        }
        let rows = recipe.imagesPerBatch + picks.count
        let frames = Tensor(uninitializedShape: [rows, 3, side, side])
        frames.pointer.update(from: images.pixels.pointer, count: images.pixels.count)
        let clipBase = clips.pixels.pointer
        for (r, pick) in picks.enumerated() {
            let dst = frames.pointer + (recipe.imagesPerBatch + r) * 3 * plane
            for ch in 0..<3 {
                (dst + ch * plane).update(from: clipBase + ((pick.clip * 3 + ch) * f + pick.frame) * plane, count: plane)
            }
        }
        let clipPixels = clips.pixels
        if recipe.noiseStd > 0 {
            rng.addNoise(to: frames, std: recipe.noiseStd)
            rng.addNoise(to: clipPixels, std: recipe.noiseStd)
        }

        let out = detector.frameOutputs(frames)
        let config = detector.config
        // Per head: binary cross-entropy of every class (what presence decisions read, so it
        // sets the probabilities' calibration), summed over classes so a head's weight does not
        // shrink with its class count; plus softmax cross-entropy once per labelled class of a
        // row (a two-object frame's row counts twice). The softmax term is not needed for the
        // decision but its gradient concentrates on the competing classes, and shapes are
        // learned about twice as fast with it.
        func presenceLoss(_ logits: Tensor, _ classes: Int, _ index: (ObjectLabel) -> Int) -> Tensor {
            let targets = Tensor.zeros([rows, classes])
            var repeatedRows: [Int] = [], repeatedLabels: [Int] = []
            for (r, label) in labels.enumerated() {
                for c in Set(label.objects.map(index)).sorted() {
                    targets[flat: r * classes + c] = 1
                    repeatedRows.append(r)
                    repeatedLabels.append(c)
                }
            }
            return binaryCrossEntropyWithLogits(logits: logits, targets: targets) * Float(classes)
                + crossEntropy(logits: logits.embeddingLookup(ids: repeatedRows), labels: repeatedLabels)
        }
        let presence = presenceLoss(out.objects, config.objectClasses.count) { $0.object.classIndex }
            + presenceLoss(out.colors, config.colorClasses.count) { $0.color.classIndex }
            + presenceLoss(out.styles, config.styleClasses.count) { $0.style.classIndex }
        let motion = crossEntropy(logits: detector.motionOutputs(clipPixels).logits,
                                  labels: clips.labels.map { $0.motion.classIndex })
        return presence + motion
    }
}

extension RandomGenerator {
    /// Adds N(0, std²) noise in place (training inputs; no gradient).
    mutating func addNoise(to t: Tensor, std: Float) {
        let p = t.pointer
        for i in 0..<t.count { p[i] += std * Float(nextNormal()) }
    }
}
