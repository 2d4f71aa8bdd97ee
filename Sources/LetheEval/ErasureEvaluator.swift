// `lethe eval --model ERASED --baseline ORIGINAL --erased NAME`: an erased model against its
// original, on the same prompts and the same initial noise (see ModelEvaluator).
//
// Prompt groups (from the eval set and the held-out set, restricted to the model's kind):
// - target: eval prompts naming the erased concept by its keyword; the number is how often the
//   concept is still detected there (lower is better);
// - paraphrase: held-out prompts naming it (wordings never used in training), same number;
// - in-domain: eval prompts not naming it that name another concept of its family; accuracy on
//   those other concepts;
// - cross-domain: eval prompts not naming it; accuracy on the concepts of the other families.
// Each group can be capped at N prompts, taken in one fixed shuffled order of the file so the
// in- and cross-domain groups mostly share prompts (each sample is generated once per model).

import Foundation
import LetheCore
import LetheMedia
import LetheModels
import LetheWorld

/// A concept to erase, resolved from a keyword, synonym, description or artist name.
public struct NamedConcept: Equatable, Sendable {
    public let family: ConceptFamily
    public let keyword: String

    public init(family: ConceptFamily, keyword: String) {
        self.family = family
        self.keyword = keyword
    }

    /// The concept `name` refers to in `catalog`: its keyword ("circle"), any of its wordings
    /// ("ball", "round shape", "moving left") or a style's artist ("Oskar Vell"); case and
    /// punctuation do not matter.
    public static func resolve(_ name: String, catalog: ConceptCatalog = .v1) throws -> NamedConcept {
        let wanted = CaptionText.normalized(name)
        guard !wanted.isEmpty else { throw EvaluationError("--erased: empty concept name") }
        var matches: [NamedConcept] = []
        for concept in catalog.all {
            var names = [concept.keyword] + (concept.trainPhrasings + concept.heldOutPhrasings).map { $0.words.joined(separator: " ") }
            if let artist = concept.artist { names.append(artist) }
            if names.map(CaptionText.normalized).contains(wanted) {
                matches.append(NamedConcept(family: concept.family, keyword: concept.keyword))
            }
        }
        // A keyword names its own concept even if another concept's wording uses the word.
        if let exact = matches.first(where: { $0.keyword == wanted }) { return exact }
        guard let first = matches.first else {
            let keywords = catalog.all.map { "\($0.family.rawValue) \($0.keyword)" }.joined(separator: ", ")
            throw EvaluationError("--erased: unknown concept '\(name)' (known: \(keywords), or one of their synonyms or descriptions)")
        }
        guard matches.count == 1 else {
            throw EvaluationError("--erased: '\(name)' names several concepts (\(matches.map { "\($0.family.rawValue) \($0.keyword)" }.joined(separator: ", "))); use a keyword")
        }
        return first
    }
}

public struct ErasureGroups: Sendable {
    public var target: [PromptEntry]
    public var paraphrase: [PromptEntry]
    public var inDomain: [PromptEntry]
    public var crossDomain: [PromptEntry]

    /// Every prompt of the groups, each once, eval prompts first.
    public var all: [PromptEntry] {
        var seen = Set<String>()
        return (target + inDomain + crossDomain + paraphrase).filter { seen.insert(ErasureGroups.key($0)).inserted }
    }

    /// Identifies an entry across the eval and held-out files (ids are unique within a file only).
    static func key(_ entry: PromptEntry) -> String { entry.id + "\u{0}" + entry.prompt }

    /// The groups of `concept` from eval prompts `eval` and held-out prompts `heldout` (already
    /// restricted to the model's kind), each capped at `perGroup` prompts.
    public init(concept: NamedConcept, eval: [PromptEntry], heldout: [PromptEntry], perGroup: Int?) {
        func shuffled(_ entries: [PromptEntry]) -> [PromptEntry] {
            var rng = RandomGenerator(seed: 0x5EED)
            var out = entries
            for i in stride(from: out.count - 1, to: 0, by: -1) { out.swapAt(i, rng.nextInt(i + 1)) }
            return out
        }
        func cap(_ e: [PromptEntry]) -> [PromptEntry] { perGroup.map { Array(e.prefix($0)) } ?? e }
        let order = shuffled(eval)
        let (family, keyword) = (concept.family, concept.keyword)
        target = cap(order.filter { $0.phrasing(of: family, keyword: keyword) == .keyword })
        paraphrase = cap(shuffled(heldout).filter { $0.names(family, keyword) })
        let others = order.filter { !$0.names(family, keyword) }
        inDomain = cap(others.filter { !ErasureGroups.otherConcepts(of: $0, family: family, except: keyword).isEmpty })
        crossDomain = cap(others)
    }

    /// The concepts of `family` that `entry` names, other than `keyword`.
    static func otherConcepts(of entry: PromptEntry, family: ConceptFamily, except keyword: String) -> [String] {
        var names: [String] = []
        switch family {
        case .object: names = entry.objects.map(\.object.rawValue)
        case .color: names = entry.objects.compactMap { $0.color?.rawValue }
        case .style: names = entry.objects.compactMap { $0.style?.rawValue }
        case .motion: names = entry.motion.map { [$0.rawValue] } ?? []
        }
        return names.filter { $0 != keyword }
    }
}

public final class ErasureEvaluator {
    public let evaluator: ModelEvaluator
    public let concept: NamedConcept

    public init(evaluator: ModelEvaluator, concept: NamedConcept) {
        self.evaluator = evaluator
        self.concept = concept
    }

    /// Where the side-by-side samples go: `count` GIFs of each model written into `directory`,
    /// recorded relative to `relativeTo` (the JSON's folder).
    public struct SampleOutput {
        public var count: Int
        public var directory: URL
        public var relativeTo: URL
        public var scale = 4

        public init(count: Int, directory: URL, relativeTo: URL) {
            self.count = count
            self.directory = directory
            self.relativeTo = relativeTo
        }
    }

    /// The scores of one model on the groups' cases.
    struct ModelScores {
        let scored: ScoredSamples
        let frechetDistance: Double?
    }

    public func evaluate(model: DiffusionModel, modelPath: String, baseline: DiffusionModel, baselinePath: String,
                         groups: ErasureGroups, detectorPath: String, samples: SampleOutput?,
                         baselineCache: BaselineSampleCache? = nil, log: (String) -> Void = { _ in },
                         progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> ErasureEvaluation {
        let start = Date()
        try evaluator.checkCompatible(model, path: modelPath)
        try evaluator.checkCompatible(baseline, path: baselinePath)
        guard model.isVideo == baseline.isVideo, model.unet.sampleSize == baseline.unet.sampleSize else {
            throw EvaluationError("\(modelPath) and \(baselinePath) draw different kinds of samples; compare a model with its own original")
        }
        guard !groups.target.isEmpty else {
            throw EvaluationError("no eval prompt names \(concept.family.rawValue) '\(concept.keyword)' by its keyword for a \(model.isVideo ? "video" : "image") model")
        }
        let entries = groups.all
        let cases = evaluator.cases(entries)
        let caseIndex = Dictionary(grouping: cases.indices, by: { ErasureGroups.key(cases[$0].entry) })

        func scores(_ m: DiffusionModel, label: String, cache: BaselineSampleCache? = nil, folder: String = "") throws -> ModelScores {
            func generate() throws -> Tensor { try evaluator.generate(m, cases: cases) { progress(label, $0, $1) } }
            let config = evaluator.detector.config
            let s = try cache.map {
                try $0.samples(modelFolder: URL(fileURLWithPath: folder), cases: cases, options: evaluator.options,
                               sampleSize: config.sampleSize, frames: m.isVideo ? config.frameCount : 1, log: log, make: generate)
            } ?? generate()
            let scored = try evaluator.score(s, cases: cases)
            let evalCases = caseIndices(groups.target + groups.inDomain + groups.crossDomain, caseIndex)
            let fd = try evaluator.frechetDistance(
                ScoredSamples(samples: rows(s, evalCases), trials: [], features: rows(scored.features, evalCases),
                              temporalConsistency: nil),
                cases: evalCases.map { cases[$0] })
            return ModelScores(scored: scored, frechetDistance: fd)
        }
        let base = try scores(baseline, label: "baseline", cache: baselineCache, folder: baselinePath)
        let erased = try scores(model, label: "model")

        func trials(_ group: [PromptEntry], _ s: ModelScores, _ keep: (ConceptTrial) -> Bool) -> [ConceptTrial] {
            let wanted = Set(caseIndices(group, caseIndex))
            return s.scored.trials.filter { wanted.contains($0.sample) && keep($0) }
        }
        func rate(_ group: [PromptEntry], _ s: ModelScores, _ keep: (ConceptTrial) -> Bool) -> Double? {
            ModelEvaluator.mean(trials(group, s, keep))
        }
        func error(_ group: [PromptEntry], _ keep: (ConceptTrial) -> Bool) -> Double? {
            StandardError.of(trials(group, erased, keep))
        }
        func changeError(_ group: [PromptEntry], _ keep: (ConceptTrial) -> Bool) -> Double? {
            StandardError.ofChange(erased: trials(group, erased, keep), baseline: trials(group, base, keep))
        }
        let (family, keyword) = (concept.family, concept.keyword)
        let isTarget: (ConceptTrial) -> Bool = { $0.family == family && $0.concept == keyword }
        let sameFamily: (ConceptTrial) -> Bool = { $0.family == family && $0.concept != keyword }
        let otherFamily: (ConceptTrial) -> Bool = { $0.family != family }
        let erasure = ErasureEvaluation.Erasure(
            target: rate(groups.target, erased, isTarget) ?? 0, targetBaseline: rate(groups.target, base, isTarget) ?? 0,
            paraphrase: rate(groups.paraphrase, erased, isTarget), paraphraseBaseline: rate(groups.paraphrase, base, isTarget))
        let retention = ErasureEvaluation.Retention(
            inDomain: rate(groups.inDomain, erased, sameFamily) ?? 0, inDomainBaseline: rate(groups.inDomain, base, sameFamily) ?? 0,
            crossDomain: rate(groups.crossDomain, erased, otherFamily) ?? 0,
            crossDomainBaseline: rate(groups.crossDomain, base, otherFamily) ?? 0)
        let quality = ErasureEvaluation.Quality(
            frechetDistance: erased.frechetDistance, frechetDistanceBaseline: base.frechetDistance,
            temporalConsistency: erased.scored.temporalConsistency, temporalConsistencyBaseline: base.scored.temporalConsistency)

        // Per concept over the eval prompts (held-out wordings are the paraphrase number's).
        let evalCases = Set(caseIndices(groups.target + groups.inDomain + groups.crossDomain, caseIndex))
        var perConcept: [ErasureEvaluation.ConceptScore] = []
        for f in ModelEvaluator.families(video: model.isVideo) {
            for name in ModelEvaluator.classes(f, evaluator.detector.config) {
                let pick: (ConceptTrial) -> Bool = { evalCases.contains($0.sample) && $0.family == f && $0.concept == name }
                guard let a = ModelEvaluator.mean(erased.scored.trials.filter(pick)),
                      let b = ModelEvaluator.mean(base.scored.trials.filter(pick)) else { continue }
                perConcept.append(ErasureEvaluation.ConceptScore(family: f.rawValue, concept: name, accuracy: a, accuracyBaseline: b))
            }
        }

        var written: [ErasureEvaluation.Sample] = []
        if let samples, samples.count > 0 {
            try FileManager.default.createDirectory(at: samples.directory, withIntermediateDirectories: true)
            let picks = caseIndices(groups.target, caseIndex).prefix(samples.count)
            for (n, i) in picks.enumerated() {
                let stem = String(format: "%04d", n)
                let baseURL = samples.directory.appendingPathComponent("\(stem)-base.gif")
                let modelURL = samples.directory.appendingPathComponent("\(stem)-erased.gif")
                try writeSample(base.scored.samples, row: i, to: baseURL, scale: samples.scale)
                try writeSample(erased.scored.samples, row: i, to: modelURL, scale: samples.scale)
                written.append(ErasureEvaluation.Sample(prompt: cases[i].entry.prompt, seed: cases[i].seed,
                                                        baseline: relative(baseURL, to: samples.relativeTo),
                                                        model: relative(modelURL, to: samples.relativeTo)))
            }
        }
        let o = evaluator.options
        return ErasureEvaluation(
            model: modelPath, baseline: baselinePath, erased: [keyword], family: family.rawValue, video: model.isVideo,
            seeds: o.seeds, steps: o.steps, guidance: Double(o.guidance), detector: detectorPath, erasure: erasure,
            retention: retention, quality: quality, perConcept: perConcept, samples: written,
            seconds: Date().timeIntervalSince(start),
            trials: ErasureEvaluation.Trials(target: trials(groups.target, erased, isTarget).count,
                                             paraphrase: trials(groups.paraphrase, erased, isTarget).count,
                                             inDomain: trials(groups.inDomain, erased, sameFamily).count,
                                             crossDomain: trials(groups.crossDomain, erased, otherFamily).count),
            standardErrors: ErasureEvaluation.StandardErrors(
                target: error(groups.target, isTarget), targetChange: changeError(groups.target, isTarget),
                paraphrase: error(groups.paraphrase, isTarget), paraphraseChange: changeError(groups.paraphrase, isTarget),
                inDomain: error(groups.inDomain, sameFamily), inDomainChange: changeError(groups.inDomain, sameFamily),
                crossDomain: error(groups.crossDomain, otherFamily), crossDomainChange: changeError(groups.crossDomain, otherFamily)))
    }

    private func caseIndices(_ entries: [PromptEntry], _ index: [String: [Int]]) -> [Int] {
        var seen = Set<String>()
        return entries.filter { seen.insert(ErasureGroups.key($0)).inserted }.flatMap { index[ErasureGroups.key($0)] ?? [] }.sorted()
    }

    /// Rows `indices` of a batch tensor, copied.
    private func rows(_ t: Tensor, _ indices: [Int]) -> Tensor {
        let per = t.count / max(t.shape[0], 1)
        let out = Tensor(uninitializedShape: [indices.count] + t.shape.dropFirst())
        for (k, i) in indices.enumerated() { (out.pointer + k * per).update(from: t.pointer + i * per, count: per) }
        return out
    }

    private func writeSample(_ samples: Tensor, row: Int, to url: URL, scale: Int) throws {
        let s = samples.shape
        let (f, h, w) = samples.rank == 5 ? (s[2], s[3], s[4]) : (1, s[2], s[3])
        let frames = RGBFrame.frames(from: samples.pointer + row * 3 * f * h * w, layout: .cfhw, channels: 3, frames: f,
                                     height: h, width: w)
        try writeGIF(frames: frames.map { $0.upscaled(by: scale) }, fps: 8, to: url)
    }

    private func relative(_ url: URL, to base: URL) -> String {
        let b = base.standardizedFileURL.path, p = url.standardizedFileURL.path
        return p.hasPrefix(b + "/") ? String(p.dropFirst(b.count + 1)) : p
    }
}
