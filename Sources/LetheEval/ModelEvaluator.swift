// `lethe eval --model DIR`: how well a text-to-image or text-to-video model draws what its
// prompts name, read by the concept detector.
//
// Every prompt is generated once per seed with DDIM. The initial noise of (prompt, seed) is drawn
// from the seed and the prompt's text only, so two models — a baseline and its erased copy — start
// every sample from the same noise whatever else is in the batch.
//
// Scoring. A prompt's ground truth is its PromptEntry: the objects, colors and styles it names
// (up to two objects) and, for clips, the motion. The frame heads are multi-label (one sigmoid per
// class, trained with binary cross-entropy on one- and two-object frames), so a named concept
// counts as drawn in a frame when its probability reaches the detector's presence threshold,
// whatever else is detected there: for a two-object prompt each named object is checked on its
// own. A clip's object, color and style scores are the share of its frames where the concept is
// detected; its motion is right when the clip head's most probable motion is the named one.
// Each (sample, named concept) pair is one trial; a family's accuracy is the mean over its
// trials, split into keyword and paraphrase (synonym, description, held-out wording) trials, and
// into trials of one- and two-object prompts (small models often fail the second object of two).
//
// Quality. The Fréchet distance compares detector features of the samples with those of
// ground-truth renders of the same prompts (WorldSampler with the prompt's query, then the
// Renderer; one render per sample, from the same seed and prompt); clips use the clip feature
// (mean frame feature, then the motion feature). Temporal consistency is the mean cosine
// similarity of the detector's frame features of consecutive frames (clips only).

import Foundation
import LetheCore
import LetheModels
import LetheWorld

public struct EvaluationOptions: Sendable {
    /// The sampling settings of the shipped clip-world models: guidance 2.5 scored best on the
    /// first 80 eval prompts (object/color/style 50/94/82% against 48/87/60% at 5 and 30/61/44% at
    /// 8 on image stage 1); stronger guidance over-saturates these small pixel-space models.
    public static let worldSteps = 25
    public static let worldGuidance: Float = 2.5

    public var steps = EvaluationOptions.worldSteps
    public var guidance = EvaluationOptions.worldGuidance
    /// Samples per prompt; seed i (0 ≤ i < seeds) draws the same initial noise for every model.
    public var seeds = 1
    /// Prompts per pipeline call.
    public var batchSize = 8

    public init() {}

    /// The guidance to sample `model` at: the one asked for, else the folder's recommendation
    /// (generation_config.json), else the world's.
    public static func guidance(_ asked: Float?, for model: DiffusionModel) -> Float {
        asked ?? model.generationConfig.guidanceScale ?? worldGuidance
    }
}

public struct EvaluationError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One prompt rendered from one seed.
public struct EvaluationCase: Sendable {
    public let entry: PromptEntry
    public let seed: Int

    public init(entry: PromptEntry, seed: Int) {
        self.entry = entry
        self.seed = seed
    }

    /// The stream of this case's initial noise: a hash of the prompt's text (FNV-1a), so the noise
    /// does not depend on where the prompt sits in a file or a batch.
    public var noiseStream: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in entry.prompt.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }
}

/// The detector's reading of one named concept in one sample.
public struct ConceptTrial: Equatable, Sendable {
    /// Index into the evaluated cases.
    public let sample: Int
    public let family: ConceptFamily
    public let concept: String
    public let phrasing: PhrasingKind
    /// 1 or 0 for an image or a motion; for a clip's object, color or style, the share of frames
    /// where the concept is detected.
    public let score: Double
    /// How many objects the trial's prompt names (1 or 2).
    public let objectsInPrompt: Int
    /// For a motion: the class the clip head read instead, or the named one when it was right.
    /// (Frame heads are multi-label, so a missed object has no one class that took its place.)
    public let detected: String?

    public init(sample: Int, family: ConceptFamily, concept: String, phrasing: PhrasingKind, score: Double,
                objectsInPrompt: Int = 1, detected: String? = nil) {
        self.sample = sample
        self.family = family
        self.concept = concept
        self.phrasing = phrasing
        self.objectsInPrompt = objectsInPrompt
        self.score = score
        self.detected = detected
    }
}

/// Generated samples read by the detector.
public struct ScoredSamples {
    /// [N, 3, H, W] or [N, 3, F, H, W] in [-1, 1] at the detector's size.
    public let samples: Tensor
    public let trials: [ConceptTrial]
    /// Per-sample detector features (clip features for clips), for Fréchet distances.
    public let features: Tensor
    /// Mean cosine similarity of consecutive frames' features; nil for images.
    public let temporalConsistency: Double?
}

public final class ModelEvaluator {
    public let detector: ConceptDetector
    public let options: EvaluationOptions

    public init(detector: ConceptDetector, options: EvaluationOptions) {
        self.detector = detector
        self.options = options
    }

    /// The families a model of this kind is scored on.
    public static func families(video: Bool) -> [ConceptFamily] {
        video ? [.object, .color, .style, .motion] : [.object, .color, .style]
    }

    /// The prompts a model of this kind is scored on: clip prompts for a video model, image
    /// prompts for an image model.
    public static func entries(_ set: PromptSet, video: Bool) -> [PromptEntry] {
        set.entries.filter { $0.kind == (video ? .clip : .image) }
    }

    /// Every prompt with every seed, prompt-major.
    public func cases(_ entries: [PromptEntry]) -> [EvaluationCase] {
        entries.flatMap { e in (0..<options.seeds).map { EvaluationCase(entry: e, seed: $0) } }
    }

    /// Throws unless `model` draws pixels the detector can read.
    public func checkCompatible(_ model: DiffusionModel, path: String) throws {
        guard model.unet.inChannels == 3 else {
            throw EvaluationError("\(path): the unet has \(model.unet.inChannels) input channels; lethe eval reads pixel-space RGB models (3)")
        }
    }

    // MARK: Generation

    /// One sample per case, [N, 3, (F,) S, S] clamped to [-1, 1] and resampled to the detector's
    /// size S. `progress(done, total)` is called after every batch.
    public func generate(_ model: DiffusionModel, cases: [EvaluationCase],
                         progress: (Int, Int) -> Void = { _, _ in }) throws -> Tensor {
        let pipeline = DiffusionPipeline(model: model)
        let frames = detector.config.frameCount
        var parts: [Tensor] = []
        for start in stride(from: 0, to: cases.count, by: options.batchSize) {
            let batch = Array(cases[start..<min(start + options.batchSize, cases.count)])
            let one = pipeline.noiseShape(count: 1, frames: frames)
            let noise = Tensor.concatenate(batch.map { c -> Tensor in
                var rng = RandomGenerator(seed: UInt64(c.seed), stream: c.noiseStream)
                return model.drawNoise(one, rng: &rng)
            }, axis: 0)
            var generation = GenerationOptions()
            generation.steps = options.steps
            generation.guidance = options.guidance
            generation.frames = frames
            generation.initNoise = noise
            let out = try pipeline.generate(prompts: batch.map(\.entry.prompt), options: generation)
            parts.append(DetectorInput.resized(out, size: detector.config.sampleSize))
            progress(start + batch.count, cases.count)
        }
        return Autograd.inference { Tensor.concatenate(parts, axis: 0) }
    }

    /// Ground-truth renders of the cases' prompts, shaped like `generate`'s output.
    public func groundTruth(_ cases: [EvaluationCase], video: Bool) throws -> Tensor {
        var world = WorldConfig.v1
        world.excludeHeldOutCombos = false
        world.size = detector.config.sampleSize
        world.frameCount = detector.config.frameCount
        let sampler = WorldSampler(config: world)
        let renderer = Renderer(config: world)
        let renders = try cases.map { c -> Tensor in
            var rng = RandomGenerator(seed: UInt64(c.seed), stream: c.noiseStream)
            let spec = try sampler.sample(video ? .clip : .image, query: c.entry.query, rng: &rng)
            let r = renderer.render(spec)
            return video ? r.reshaped([1] + r.shape) : r.reshaped([1, 3, r.shape[2], r.shape[3]])
        }
        return Autograd.inference { Tensor.concatenate(renders, axis: 0) }
    }

    // MARK: Scoring

    /// Reads `samples` (as `generate` returns them) with the detector.
    public func score(_ samples: Tensor, cases: [EvaluationCase]) throws -> ScoredSamples {
        precondition(samples.shape[0] == cases.count, "score: \(samples.shape[0]) samples for \(cases.count) cases")
        var trials: [ConceptTrial] = []
        let features: Tensor
        var temporal: Double?
        if samples.rank == 5 {
            let d = try detector.detect(clips: samples)
            let f = d.frameCount
            for (i, c) in cases.enumerated() {
                trials += Self.trials(entry: c.entry, sample: i, frames: d.frames, rows: (i * f)..<((i + 1) * f),
                                      motion: d.motion(i), config: detector.config)
            }
            features = try detector.features(clips: samples)
            temporal = Self.temporalConsistency(frameFeatures: try detector.features(frames: ConceptDetector.framesOf(clips: samples)),
                                                frames: f)
        } else {
            let d = try detector.detect(frames: samples)
            for (i, c) in cases.enumerated() {
                trials += Self.trials(entry: c.entry, sample: i, frames: d, rows: i..<(i + 1), motion: nil,
                                      config: detector.config)
            }
            features = try detector.features(frames: samples)
        }
        return ScoredSamples(samples: samples, trials: trials, features: features, temporalConsistency: temporal)
    }

    /// The trials of one sample: every concept its prompt names, read from frame rows `rows` of
    /// `frames` and, for motion, the clip head's most probable class `motion`.
    public static func trials(entry: PromptEntry, sample: Int, frames: FrameDetections, rows: Range<Int>, motion: Int?,
                              config: DetectorConfig) -> [ConceptTrial] {
        var named: [(ConceptFamily, String, PhrasingKind)] = []
        for o in entry.objects {
            named.append((.object, o.object.rawValue, o.phrasings.object))
            if let color = o.color { named.append((.color, color.rawValue, o.phrasings.color ?? .keyword)) }
            if let style = o.style { named.append((.style, style.rawValue, o.phrasings.style ?? .keyword)) }
        }
        var out: [ConceptTrial] = []
        var seen = Set<String>()
        for (family, concept, phrasing) in named where seen.insert("\(family.rawValue)/\(concept)").inserted {
            guard let k = classes(family, config).firstIndex(of: concept) else { continue }
            let hits = rows.filter { frames.isPresent(family, classIndex: k, frame: $0) }.count
            out.append(ConceptTrial(sample: sample, family: family, concept: concept, phrasing: phrasing,
                                    score: Double(hits) / Double(max(rows.count, 1)), objectsInPrompt: entry.objects.count))
        }
        if let named = entry.motion, let motion, let k = config.motionClasses.firstIndex(of: named.rawValue) {
            out.append(ConceptTrial(sample: sample, family: .motion, concept: named.rawValue,
                                    phrasing: entry.phrasings.motion ?? .keyword, score: motion == k ? 1 : 0,
                                    objectsInPrompt: entry.objects.count, detected: config.motionClasses[motion]))
        }
        return out
    }

    static func classes(_ family: ConceptFamily, _ config: DetectorConfig) -> [String] {
        switch family {
        case .object: return config.objectClasses
        case .color: return config.colorClasses
        case .style: return config.styleClasses
        case .motion: return config.motionClasses
        }
    }

    /// Accuracy per family (families without trials are left out), per concept, split by wording
    /// and by the number of objects the prompt names, and, where trials say what was read instead
    /// (motion), the confusion counts.
    public static func familyMetrics(_ trials: [ConceptTrial]) -> [String: ModelEvaluation.FamilyMetrics] {
        var out: [String: ModelEvaluation.FamilyMetrics] = [:]
        for family in ConceptFamily.allCases {
            let mine = trials.filter { $0.family == family }
            guard let accuracy = mean(mine) else { continue }
            var perConcept: [String: Double] = [:]
            for concept in Set(mine.map(\.concept)) { perConcept[concept] = mean(mine.filter { $0.concept == concept }) }
            out[family.rawValue] = ModelEvaluation.FamilyMetrics(
                accuracy: accuracy, perConcept: perConcept,
                keywordAccuracy: mean(mine.filter { $0.phrasing == .keyword }),
                paraphraseAccuracy: mean(mine.filter { $0.phrasing != .keyword }),
                oneObjectAccuracy: mean(mine.filter { $0.objectsInPrompt == 1 }),
                twoObjectAccuracy: mean(mine.filter { $0.objectsInPrompt == 2 }),
                confusion: confusion(mine))
        }
        return out
    }

    /// Named concept → class the detector read → trials; nil unless some trial says what it read.
    static func confusion(_ trials: [ConceptTrial]) -> [String: [String: Int]]? {
        var out: [String: [String: Int]] = [:]
        for t in trials {
            guard let read = t.detected else { continue }
            out[t.concept, default: [:]][read, default: 0] += 1
        }
        return out.isEmpty ? nil : out
    }

    /// Mean score of `trials`, nil when there are none.
    public static func mean(_ trials: [ConceptTrial]) -> Double? {
        trials.isEmpty ? nil : trials.reduce(0) { $0 + $1.score } / Double(trials.count)
    }

    /// Mean cosine similarity of rows f and f+1 of each clip's block of `frames` rows.
    public static func temporalConsistency(frameFeatures: Tensor, frames: Int) -> Double? {
        let d = frameFeatures.shape[1], clips = frameFeatures.shape[0] / frames
        guard frames > 1, clips > 0 else { return nil }
        let p = frameFeatures.pointer
        var total = 0.0
        for c in 0..<clips {
            for f in 0..<(frames - 1) {
                let a = p + (c * frames + f) * d, b = a + d
                var ab = 0.0, aa = 0.0, bb = 0.0
                for j in 0..<d {
                    ab += Double(a[j]) * Double(b[j])
                    aa += Double(a[j]) * Double(a[j])
                    bb += Double(b[j]) * Double(b[j])
                }
                // Two all-zero features are the same picture as far as the detector can tell.
                total += aa * bb > 0 ? ab / (aa * bb).squareRoot() : (aa == bb ? 1 : 0)
            }
        }
        return total / Double(clips * (frames - 1))
    }

    /// Fréchet distance between the samples' features and their ground truth's; nil with fewer
    /// than two samples.
    public func frechetDistance(_ scored: ScoredSamples, cases: [EvaluationCase]) throws -> Double? {
        guard cases.count >= 2 else { return nil }
        let truth = try groundTruth(cases, video: scored.samples.rank == 5)
        let truthFeatures = scored.samples.rank == 5 ? try detector.features(clips: truth) : try detector.features(frames: truth)
        return try FrechetDistance.compute(a: scored.features, b: truthFeatures)
    }

    // MARK: Whole evaluation

    /// Generates and scores every prompt of `prompts` that suits the model (see `entries`), at most
    /// `limit` of them (the first ones), and fills the report. Paths are recorded as given.
    public func evaluate(model: DiffusionModel, modelPath: String, prompts: PromptSet, promptsPath: String,
                         detectorPath: String, limit: Int? = nil,
                         progress: (Int, Int) -> Void = { _, _ in }) throws -> ModelEvaluation {
        let start = Date()
        try checkCompatible(model, path: modelPath)
        var entries = Self.entries(prompts, video: model.isVideo)
        if let limit { entries = Array(entries.prefix(limit)) }
        guard !entries.isEmpty else {
            throw EvaluationError("\(promptsPath): no \(model.isVideo ? "clip" : "image") prompts for this \(model.isVideo ? "video" : "image") model")
        }
        let cases = self.cases(entries)
        let samples = try generate(model, cases: cases, progress: progress)
        let scored = try score(samples, cases: cases)
        return ModelEvaluation(
            model: modelPath, video: model.isVideo, prompts: promptsPath, promptCount: entries.count, seeds: options.seeds,
            steps: options.steps, guidance: Double(options.guidance), detector: detectorPath,
            metrics: Self.familyMetrics(scored.trials), frechetDistance: try frechetDistance(scored, cases: cases),
            temporalConsistency: scored.temporalConsistency, seconds: Date().timeIntervalSince(start))
    }
}
