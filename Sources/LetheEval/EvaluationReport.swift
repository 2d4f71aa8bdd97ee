// The numbers `lethe eval` writes and the HTML report reads. The JSON keys are the public
// contract (README "What the numbers mean"); every rate is a number in [0, 1].

import Foundation

/// Scores of one model on a prompt set: `kind == "model"`.
public struct ModelEvaluation: Codable, Equatable, Sendable {
    public struct FamilyMetrics: Codable, Equatable, Sendable {
        /// Share of prompts naming a concept of this family whose sample shows that concept.
        public var accuracy: Double
        /// The same per concept name.
        public var perConcept: [String: Double]
        /// Accuracy on prompts that name the concept by its keyword / by a synonym or description.
        public var keywordAccuracy: Double?
        public var paraphraseAccuracy: Double?
        /// Accuracy on prompts that name one object / two objects (each named concept checked on
        /// its own); absent in reports written before the split.
        public var oneObjectAccuracy: Double?
        public var twoObjectAccuracy: Double?
        /// Motion only: named motion → the motion the clip head read → clips. The diagonal is the
        /// hits; a row says what a model draws when asked for that motion.
        public var confusion: [String: [String: Int]]?

        public init(accuracy: Double, perConcept: [String: Double], keywordAccuracy: Double? = nil, paraphraseAccuracy: Double? = nil,
                    oneObjectAccuracy: Double? = nil, twoObjectAccuracy: Double? = nil, confusion: [String: [String: Int]]? = nil) {
            self.accuracy = accuracy
            self.perConcept = perConcept
            self.keywordAccuracy = keywordAccuracy
            self.paraphraseAccuracy = paraphraseAccuracy
            self.oneObjectAccuracy = oneObjectAccuracy
            self.twoObjectAccuracy = twoObjectAccuracy
            self.confusion = confusion
        }

        enum CodingKeys: String, CodingKey {
            case accuracy, perConcept = "per_concept", keywordAccuracy = "keyword_accuracy", paraphraseAccuracy = "paraphrase_accuracy"
            case oneObjectAccuracy = "one_object_accuracy", twoObjectAccuracy = "two_object_accuracy", confusion
        }
    }

    public var kind = "model"
    public var model: String
    public var video: Bool
    public var prompts: String
    public var promptCount: Int
    public var seeds: Int
    public var steps: Int
    public var guidance: Double
    public var detector: String
    /// Keyed by family: "object", "color", "style" and, for video models, "motion".
    public var metrics: [String: FamilyMetrics]
    /// Fréchet distance between detector features of the samples and of ground-truth renders.
    public var frechetDistance: Double?
    /// Mean cosine similarity of detector features of consecutive frames (clips only).
    public var temporalConsistency: Double?
    public var seconds: Double

    public init(model: String, video: Bool, prompts: String, promptCount: Int, seeds: Int, steps: Int, guidance: Double,
                detector: String, metrics: [String: FamilyMetrics], frechetDistance: Double?, temporalConsistency: Double?,
                seconds: Double) {
        self.model = model
        self.video = video
        self.prompts = prompts
        self.promptCount = promptCount
        self.seeds = seeds
        self.steps = steps
        self.guidance = guidance
        self.detector = detector
        self.metrics = metrics
        self.frechetDistance = frechetDistance
        self.temporalConsistency = temporalConsistency
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case kind, model, video, prompts, promptCount = "prompt_count", seeds, steps, guidance, detector, metrics
        case frechetDistance = "frechet_distance", temporalConsistency = "temporal_consistency", seconds
    }
}

/// An erased model scored against its original on the same prompts and seeds: `kind == "erasure"`.
public struct ErasureEvaluation: Codable, Equatable, Sendable {
    public struct Erasure: Codable, Equatable, Sendable {
        /// How often the erased concept is still detected on prompts that ask for it by keyword.
        public var target: Double
        public var targetBaseline: Double
        /// The same on held-out phrasings (synonyms, descriptions never used in training).
        public var paraphrase: Double?
        public var paraphraseBaseline: Double?

        public init(target: Double, targetBaseline: Double, paraphrase: Double?, paraphraseBaseline: Double?) {
            self.target = target
            self.targetBaseline = targetBaseline
            self.paraphrase = paraphrase
            self.paraphraseBaseline = paraphraseBaseline
        }

        enum CodingKeys: String, CodingKey {
            case target, targetBaseline = "target_baseline", paraphrase, paraphraseBaseline = "paraphrase_baseline"
        }
    }

    public struct Retention: Codable, Equatable, Sendable {
        /// Detector accuracy on the other concepts of the erased concept's family.
        public var inDomain: Double
        public var inDomainBaseline: Double
        /// Detector accuracy on the concepts of the other families.
        public var crossDomain: Double
        public var crossDomainBaseline: Double

        public init(inDomain: Double, inDomainBaseline: Double, crossDomain: Double, crossDomainBaseline: Double) {
            self.inDomain = inDomain
            self.inDomainBaseline = inDomainBaseline
            self.crossDomain = crossDomain
            self.crossDomainBaseline = crossDomainBaseline
        }

        enum CodingKeys: String, CodingKey {
            case inDomain = "in_domain", inDomainBaseline = "in_domain_baseline"
            case crossDomain = "cross_domain", crossDomainBaseline = "cross_domain_baseline"
        }
    }

    public struct Quality: Codable, Equatable, Sendable {
        public var frechetDistance: Double?
        public var frechetDistanceBaseline: Double?
        public var temporalConsistency: Double?
        public var temporalConsistencyBaseline: Double?

        public init(frechetDistance: Double?, frechetDistanceBaseline: Double?, temporalConsistency: Double?, temporalConsistencyBaseline: Double?) {
            self.frechetDistance = frechetDistance
            self.frechetDistanceBaseline = frechetDistanceBaseline
            self.temporalConsistency = temporalConsistency
            self.temporalConsistencyBaseline = temporalConsistencyBaseline
        }

        enum CodingKeys: String, CodingKey {
            case frechetDistance = "frechet_distance", frechetDistanceBaseline = "frechet_distance_baseline"
            case temporalConsistency = "temporal_consistency", temporalConsistencyBaseline = "temporal_consistency_baseline"
        }
    }

    public struct ConceptScore: Codable, Equatable, Sendable {
        public var family: String
        public var concept: String
        public var accuracy: Double
        public var accuracyBaseline: Double

        public init(family: String, concept: String, accuracy: Double, accuracyBaseline: Double) {
            self.family = family
            self.concept = concept
            self.accuracy = accuracy
            self.accuracyBaseline = accuracyBaseline
        }

        enum CodingKeys: String, CodingKey { case family, concept, accuracy, accuracyBaseline = "accuracy_baseline" }
    }

    /// How many (sample, concept) trials stand behind each rate: a rate over n trials moves in
    /// steps of 1/n (clips: a trial is the share of a clip's frames), so this says how large a
    /// difference between two models can be told from noise.
    public struct Trials: Codable, Equatable, Sendable {
        public var target: Int
        public var paraphrase: Int
        public var inDomain: Int
        public var crossDomain: Int

        public init(target: Int, paraphrase: Int, inDomain: Int, crossDomain: Int) {
            self.target = target
            self.paraphrase = paraphrase
            self.inDomain = inDomain
            self.crossDomain = crossDomain
        }

        enum CodingKeys: String, CodingKey { case target, paraphrase, inDomain = "in_domain", crossDomain = "cross_domain" }
    }

    /// Standard errors of the rates (clustered by sample) and of each change erased − baseline
    /// (paired by trial on the same prompts and noise): a change within about two of its standard
    /// errors of zero cannot be told from the noise of this many samples.
    public struct StandardErrors: Codable, Equatable, Sendable {
        public var target, targetChange: Double?
        public var paraphrase, paraphraseChange: Double?
        public var inDomain, inDomainChange: Double?
        public var crossDomain, crossDomainChange: Double?

        public init(target: Double?, targetChange: Double?, paraphrase: Double?, paraphraseChange: Double?,
                    inDomain: Double?, inDomainChange: Double?, crossDomain: Double?, crossDomainChange: Double?) {
            self.target = target
            self.targetChange = targetChange
            self.paraphrase = paraphrase
            self.paraphraseChange = paraphraseChange
            self.inDomain = inDomain
            self.inDomainChange = inDomainChange
            self.crossDomain = crossDomain
            self.crossDomainChange = crossDomainChange
        }

        enum CodingKeys: String, CodingKey {
            case target, targetChange = "target_change", paraphrase, paraphraseChange = "paraphrase_change"
            case inDomain = "in_domain", inDomainChange = "in_domain_change"
            case crossDomain = "cross_domain", crossDomainChange = "cross_domain_change"
        }
    }

    /// One prompt rendered by both models from the same noise; paths relative to the JSON's folder.
    public struct Sample: Codable, Equatable, Sendable {
        public var prompt: String
        public var seed: Int
        public var baseline: String
        public var model: String

        public init(prompt: String, seed: Int, baseline: String, model: String) {
            self.prompt = prompt
            self.seed = seed
            self.baseline = baseline
            self.model = model
        }
    }

    public var kind = "erasure"
    public var model: String
    public var baseline: String
    public var erased: [String]
    public var family: String
    public var video: Bool
    public var seeds: Int
    public var steps: Int
    public var guidance: Double
    public var detector: String
    public var erasure: Erasure
    public var retention: Retention
    public var quality: Quality
    public var trials: Trials?
    /// Absent in reports written before it was added.
    public var standardErrors: StandardErrors?
    public var perConcept: [ConceptScore]
    public var samples: [Sample]
    public var seconds: Double

    public init(model: String, baseline: String, erased: [String], family: String, video: Bool, seeds: Int, steps: Int,
                guidance: Double, detector: String, erasure: Erasure, retention: Retention, quality: Quality,
                perConcept: [ConceptScore], samples: [Sample], seconds: Double, trials: Trials? = nil,
                standardErrors: StandardErrors? = nil) {
        self.model = model
        self.baseline = baseline
        self.erased = erased
        self.family = family
        self.video = video
        self.seeds = seeds
        self.steps = steps
        self.guidance = guidance
        self.detector = detector
        self.erasure = erasure
        self.retention = retention
        self.quality = quality
        self.trials = trials
        self.standardErrors = standardErrors
        self.perConcept = perConcept
        self.samples = samples
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case kind, model, baseline, erased, family, video, seeds, steps, guidance, detector, erasure, retention, quality
        case trials, standardErrors = "standard_errors", perConcept = "per_concept", samples, seconds
    }
}
