// The settings of an erasure run. Each method has built-in defaults (mirrored, key for key, by
// configs/erase/<method>.yaml; a test keeps the two equal); a recipe file overrides any subset
// of them and command-line flags override the file. Every knob a method reads is here, so a run
// is fully described by its recipe and seed, and erase.json records all of it.

import Foundation
import LetheCore
import LetheModels
import LetheWorld

/// The erasure methods `lethe erase` runs.
public enum ErasureMethodKind: String, CaseIterable, Codable, Sendable {
    case esd, sdd, fewshot, anchor

    /// The method run when none is named. The one place to change it.
    public static let standard: ErasureMethodKind = .anchor
}

/// Which weights an erasure trains.
public enum ParameterSet: String, CaseIterable, Codable, Sendable {
    /// The text encoder only (the subset `encoder_subset` names); the UNet stays bit-identical,
    /// so the erased encoder can be transferred into every model that shares it.
    case textEncoder = "text-encoder"
    /// The UNet's cross-attention layers, `attn2` (ESD-x).
    case unetCrossAttention = "unet-xattn"
    /// Every UNet weight outside cross-attention (ESD-u).
    case unetNonCrossAttention = "unet-noxattn"

    public var trainsUNet: Bool { self != .textEncoder }

    public var unetGroup: UNetParameterGroup? {
        switch self {
        case .textEncoder: return nil
        case .unetCrossAttention: return .crossAttention
        case .unetNonCrossAttention: return .nonCrossAttention
        }
    }
}

/// Which text-encoder tensors train when the parameter set is the text encoder.
public enum EncoderSubset: String, CaseIterable, Codable, Sendable {
    /// Few-shot erasing's choice (Fuchi & Takagi): every layer's MLP plus the last layer's self-attention.
    case mlpLastAttention = "mlp-last-attn"
    /// AdvUnlearn's choice: all transformer layers and the final LayerNorm (embeddings frozen).
    case layers
    /// Everything, token and position embeddings included.
    case all

    public func predicate(for encoder: CLIPTextModel) -> (String) -> Bool {
        switch self {
        case .mlpLastAttention: return encoder.fewShotErasureParameters
        case .layers: return { $0.hasPrefix("text_model.encoder.") || $0.hasPrefix("text_model.final_layer_norm.") }
        case .all: return { _ in true }
        }
    }
}

/// Prompt templates per concept family; "{}" is where the concept's phrasing goes. Color and
/// style phrasings that follow the noun ("with stripes", "in the style of Mira Kolt") are put
/// at the end of a template with its slot removed: "a {} circle" → "a circle with stripes".
public struct PromptTemplates: Codable, Equatable, Sendable {
    public var object: [String]
    public var color: [String]
    public var style: [String]
    public var motion: [String]
    /// Free-text concepts (not in the world's catalogue).
    public var text: [String]

    public static let keys = ["object", "color", "style", "motion", "text"]

    public func forFamily(_ family: ConceptFamily?) -> [String] {
        switch family {
        case .object: return object
        case .color: return color
        case .style: return style
        case .motion: return motion
        case nil: return text
        }
    }

    public static let standard = PromptTemplates(
        object: ["a {}", "a photo of a {}", "a picture of a {}", "a drawing of a {}", "a red {}", "a blue striped {}",
                 "a {} on a gray background", "a video of a {} spinning", "a {} moving left", "a green {} bouncing"],
        color: ["a {} circle", "a {} square", "a {} star moving up", "a photo of a {} heart", "a picture of a {} triangle",
                "a {} striped cross", "a {} diamond spinning", "a video of a {} crescent"],
        style: ["a {} circle", "a {} red square", "a {} blue star moving up", "a photo of a {} heart",
                "a {} green triangle", "a drawing of a {} cross", "a {} diamond spinning", "a video of a {} yellow crescent"],
        motion: ["a circle {}", "a red square {}", "a video of a star {}", "a clip of a blue heart {}",
                 "an animation of a triangle {}", "a striped cross {}", "a green diamond {}", "a crescent {}"],
        text: ["{}", "a {}", "a photo of {}", "a picture of {}", "a video of {}"])
}

/// What the anchor method pulls a concept caption's prediction to.
public enum AnchorMode: String, CaseIterable, Codable, Sendable {
    /// The frozen prediction for the one anchor prompt (`anchor`, "a shape").
    case prompt
    /// The frozen prediction for the same caption with the family's anchor phrase in the
    /// concept's place, so the rest of the caption (color, motion, ...) is kept. Free-text
    /// concepts fall back to the anchor prompt.
    case inContext = "in-context"
}

/// The phrase that stands in for an erased concept of each family in in-context anchors
/// ("" drops the concept's words: "a red circle" → "a circle" when erasing red).
public struct AnchorPhrases: Codable, Equatable, Sendable {
    public var object: String
    public var color: String
    public var style: String
    public var motion: String

    public static let keys = ["object", "color", "style", "motion"]
    public static let standard = AnchorPhrases(object: "shape", color: "", style: "", motion: "")

    public func forFamily(_ family: ConceptFamily) -> String {
        switch family {
        case .object: return object
        case .color: return color
        case .style: return style
        case .motion: return motion
        }
    }
}

public struct ErasureRecipe: Equatable, Sendable {
    public var method: ErasureMethodKind
    /// Which weights train.
    public var params: ParameterSet
    public var encoderSubset: EncoderSubset
    public var steps: Int
    public var lr: Float
    /// Adam's (β1, β2).
    public var betas: [Float]
    public var weightDecay: Float
    /// Largest global gradient norm; 0 turns clipping off.
    public var gradClip: Float
    public var batchSize: Int
    public var seed: UInt64
    public var checkpointEvery: Int
    public var templates: PromptTemplates
    /// Which of a world concept's training phrasings fill the templates.
    public var phrasings: [PhrasingKind]
    /// Negative-guidance strength η: ESD's, and the anchor method's push past its anchor (0: none).
    public var eta: Float
    /// DDIM steps of the partial sampling that makes x_t (ESD, SDD).
    public var ddimSteps: Int
    /// Classifier-free guidance of that sampling.
    public var guidance: Float
    /// SDD's EMA decay (the EMA weights are the result).
    public var emaDecay: Float
    /// Images (clips for a video model) the model generates of each concept (few-shot, anchor).
    public var images: Int
    public var generationSteps: Int
    public var generationGuidance: Float
    /// Frames per generated clip when the model is a video model.
    public var frames: Int
    /// The prompt whose frozen prediction the concept's is pulled to (anchor).
    public var anchor: String
    public var anchorMode: AnchorMode
    public var anchorPhrases: AnchorPhrases
    public var preservationWeight: Float
    /// Prompts whose predictions must not change (anchor); empty means the catalogue prompts of
    /// every world concept not being erased.
    public var preserve: [String]
    /// Preservation prompts per step.
    public var preservePerStep: Int
    /// Also preserve the erased concepts' own template captions with the family's other
    /// concepts in their place (anchor).
    public var preserveNeighbors: Bool
    /// Weight of the anchor method's text-space terms: the concept captions' encoder output pulled
    /// to the frozen encoder's output for their anchors, the preserved prompts' kept as they were.
    /// The prediction terms fit the UNet the erasure runs against; these hold for any UNet that
    /// shares the encoder, which is what a transfer needs.
    public var embeddingWeight: Float

    public static let keys = [
        "method", "params", "encoder_subset", "steps", "lr", "betas", "weight_decay", "grad_clip", "batch_size", "seed",
        "checkpoint_every", "templates", "phrasings", "eta", "ddim_steps", "guidance", "ema_decay", "images",
        "generation_steps", "generation_guidance", "frames", "anchor", "anchor_mode", "anchor_phrases", "preservation_weight", "preserve",
        "preserve_per_step", "preserve_neighbors", "embedding_weight",
    ]

    /// The built-in defaults of `method` (what configs/erase/<method>.yaml says).
    public static func defaults(_ method: ErasureMethodKind) -> ErasureRecipe {
        var r = ErasureRecipe(
            method: method, params: .textEncoder, encoderSubset: .mlpLastAttention, steps: 100, lr: 1e-4,
            betas: [0.9, 0.999], weightDecay: 0, gradClip: 0, batchSize: 1, seed: 0, checkpointEvery: 50,
            templates: .standard, phrasings: [.keyword, .synonym, .description], eta: 1, ddimSteps: 20, guidance: 3,
            emaDecay: 0.99, images: 4, generationSteps: 25, generationGuidance: 2.5, frames: 8, anchor: "a shape",
            anchorMode: .prompt, anchorPhrases: .standard, preservationWeight: 1, preserve: [], preservePerStep: 4,
            preserveNeighbors: false, embeddingWeight: 0)
        switch method {
        case .esd:
            r.steps = 200
        case .sdd:
            // The paper's AdamW (weight decay 1e-4, clip 1.0). Its EMA decay of 0.999 over 1500 steps
            // barely moves in a few hundred; 0.99 keeps the teacher a step ahead at this scale.
            r.steps = 300
            r.weightDecay = 1e-4
            r.gradClip = 1
        case .fewshot:
            // Fuchi & Takagi: Adam betas (0.9, 0.98), batch 2, ~4 images, about 10 steps.
            r.steps = 10
            r.betas = [0.9, 0.98]
            r.batchSize = 2
            r.checkpointEvery = 5
        case .anchor:
            // lr 8e-4 and in-context anchors: the recipe trials of the README's erasure section.
            r.steps = 100
            r.lr = 8e-4
            r.anchorMode = .inContext
            r.betas = [0.9, 0.98]
            r.batchSize = 2
            r.images = 8
            r.embeddingWeight = 1
            r.eta = 0
        }
        return r
    }

    /// The recipe as erase.json records it (snake_case keys, like the YAML).
    public var json: [String: Any] {
        [
            "method": method.rawValue, "params": params.rawValue, "encoder_subset": encoderSubset.rawValue,
            "steps": steps, "lr": decimal(lr), "betas": betas.map(decimal), "weight_decay": decimal(weightDecay),
            "grad_clip": decimal(gradClip), "batch_size": batchSize, "seed": seed, "checkpoint_every": checkpointEvery,
            "templates": ["object": templates.object, "color": templates.color, "style": templates.style,
                          "motion": templates.motion, "text": templates.text],
            "phrasings": phrasings.map(\.rawValue), "eta": decimal(eta), "ddim_steps": ddimSteps,
            "guidance": decimal(guidance), "ema_decay": decimal(emaDecay), "images": images,
            "generation_steps": generationSteps, "generation_guidance": decimal(generationGuidance), "frames": frames,
            "anchor": anchor, "anchor_mode": anchorMode.rawValue,
            "anchor_phrases": ["object": anchorPhrases.object, "color": anchorPhrases.color, "style": anchorPhrases.style,
                               "motion": anchorPhrases.motion],
            "preservation_weight": decimal(preservationWeight), "preserve": preserve,
            "preserve_per_step": preservePerStep, "preserve_neighbors": preserveNeighbors,
            "embedding_weight": decimal(embeddingWeight),
        ]
    }

    /// What a checkpoint must have been made with to be resumed: everything but the step count
    /// and the checkpoint interval, which may change between runs.
    public var fingerprint: String {
        var values = json
        values["steps"] = nil
        values["checkpoint_every"] = nil
        let data = try! JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])
        return SHA256.hex(data)
    }

    /// Checks value ranges; errors name `source` and the key.
    public func validate(source: String) throws {
        func fail(_ key: String, _ message: String) -> RecipeError { RecipeError(file: source, "key '\(key)': \(message)") }
        guard steps >= 1 else { throw fail("steps", "expected at least 1, found \(steps)") }
        guard lr > 0, lr.isFinite else { throw fail("lr", "expected a positive number, found \(lr)") }
        guard betas.count == 2, betas.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw fail("betas", "expected two numbers in [0, 1), found \(betas)")
        }
        guard weightDecay >= 0 else { throw fail("weight_decay", "expected a non-negative number, found \(weightDecay)") }
        guard gradClip >= 0 else { throw fail("grad_clip", "expected 0 (off) or a positive number, found \(gradClip)") }
        guard batchSize >= 1 else { throw fail("batch_size", "expected at least 1, found \(batchSize)") }
        guard checkpointEvery >= 1 else { throw fail("checkpoint_every", "expected at least 1, found \(checkpointEvery)") }
        guard ddimSteps >= 3 else { throw fail("ddim_steps", "expected at least 3 (x_t stops strictly inside the schedule), found \(ddimSteps)") }
        guard guidance >= 0 else { throw fail("guidance", "expected a non-negative number, found \(guidance)") }
        guard emaDecay >= 0 && emaDecay < 1 else { throw fail("ema_decay", "expected a number in [0, 1), found \(emaDecay)") }
        guard images >= 1 else { throw fail("images", "expected at least 1, found \(images)") }
        guard generationSteps >= 1 else { throw fail("generation_steps", "expected at least 1, found \(generationSteps)") }
        guard frames >= 1 else { throw fail("frames", "expected at least 1, found \(frames)") }
        guard preservationWeight >= 0 else { throw fail("preservation_weight", "expected a non-negative number, found \(preservationWeight)") }
        guard embeddingWeight >= 0 else { throw fail("embedding_weight", "expected a non-negative number, found \(embeddingWeight)") }
        guard preservePerStep >= 0 else { throw fail("preserve_per_step", "expected 0 or more, found \(preservePerStep)") }
        if method == .fewshot && params != .textEncoder {
            throw fail("params", "few-shot erasing trains the text encoder only (Liu & Tan); use text-encoder, or esd/sdd/anchor for \(params.rawValue)")
        }
        guard !phrasings.isEmpty else { throw fail("phrasings", "expected at least one of keyword, synonym, description") }
        if phrasings.contains(.heldout) {
            throw fail("phrasings", "held-out phrasings are reserved for measuring erasure; use keyword, synonym, description")
        }
        for family in PromptTemplates.keys {
            let list: [String]
            switch family {
            case "object": list = templates.object
            case "color": list = templates.color
            case "style": list = templates.style
            case "motion": list = templates.motion
            default: list = templates.text
            }
            guard !list.isEmpty else { throw fail("templates.\(family)", "expected at least one template") }
            for t in list where t.components(separatedBy: "{}").count != 2 {
                throw fail("templates.\(family)", "template \"\(t)\" must contain \"{}\" exactly once")
            }
        }
    }

    /// `self` with the values `file` sets (decoded from `source`), validated.
    public func applying(_ file: ErasureRecipeFile, source: String) throws -> ErasureRecipe {
        func fail(_ key: String, _ message: String) -> RecipeError { RecipeError(file: source, "key '\(key)': \(message)") }
        var r = self
        if let v = file.params {
            guard let p = ParameterSet(rawValue: v) else {
                throw fail("params", "unknown parameter set '\(v)' (expected \(ParameterSet.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            r.params = p
        }
        if let v = file.encoderSubset {
            guard let s = EncoderSubset(rawValue: v) else {
                throw fail("encoder_subset", "unknown subset '\(v)' (expected \(EncoderSubset.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            r.encoderSubset = s
        }
        if let v = file.steps { r.steps = v }
        if let v = file.lr { r.lr = Float(v) }
        if let v = file.betas { r.betas = v.map(Float.init) }
        if let v = file.weightDecay { r.weightDecay = Float(v) }
        if let v = file.gradClip { r.gradClip = Float(v) }
        if let v = file.batchSize { r.batchSize = v }
        if let v = file.seed { r.seed = v }
        if let v = file.checkpointEvery { r.checkpointEvery = v }
        if let t = file.templates {
            if let v = t.object { r.templates.object = v }
            if let v = t.color { r.templates.color = v }
            if let v = t.style { r.templates.style = v }
            if let v = t.motion { r.templates.motion = v }
            if let v = t.text { r.templates.text = v }
        }
        if let v = file.phrasings {
            r.phrasings = try v.map { name in
                guard let kind = PhrasingKind(rawValue: name) else {
                    throw fail("phrasings", "unknown phrasing kind '\(name)' (expected keyword, synonym, description)")
                }
                return kind
            }
        }
        if let v = file.eta { r.eta = Float(v) }
        if let v = file.ddimSteps { r.ddimSteps = v }
        if let v = file.guidance { r.guidance = Float(v) }
        if let v = file.emaDecay { r.emaDecay = Float(v) }
        if let v = file.images { r.images = v }
        if let v = file.generationSteps { r.generationSteps = v }
        if let v = file.generationGuidance { r.generationGuidance = Float(v) }
        if let v = file.frames { r.frames = v }
        if let v = file.anchor { r.anchor = v }
        if let v = file.anchorMode {
            guard let mode = AnchorMode(rawValue: v) else {
                throw fail("anchor_mode", "unknown mode '\(v)' (expected \(AnchorMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            r.anchorMode = mode
        }
        if let p = file.anchorPhrases {
            if let v = p.object { r.anchorPhrases.object = v }
            if let v = p.color { r.anchorPhrases.color = v }
            if let v = p.style { r.anchorPhrases.style = v }
            if let v = p.motion { r.anchorPhrases.motion = v }
        }
        if let v = file.preservationWeight { r.preservationWeight = Float(v) }
        if let v = file.preserve { r.preserve = v }
        if let v = file.preservePerStep { r.preservePerStep = v }
        if let v = file.preserveNeighbors { r.preserveNeighbors = v }
        if let v = file.embeddingWeight { r.embeddingWeight = Float(v) }
        try r.validate(source: source)
        return r
    }

    /// Reads a recipe file: its `method` (or `method` when the file names none) picks the defaults
    /// the file's values override. A file naming another method than `method` is an error.
    public static func load(_ url: URL, method requested: ErasureMethodKind?) throws -> ErasureRecipe {
        let file = try RecipeLoader.load(ErasureRecipeFile.self, from: url)
        return try resolve(file, source: url.path, method: requested)
    }

    public static func resolve(_ file: ErasureRecipeFile, source: String, method requested: ErasureMethodKind?) throws -> ErasureRecipe {
        var method = requested ?? .standard
        if let name = file.method {
            guard let named = ErasureMethodKind(rawValue: name) else {
                throw RecipeError(file: source, "key 'method': unknown method '\(name)' (expected \(ErasureMethodKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let requested, requested != named {
                throw RecipeError(file: source, "key 'method': the recipe is for \(named.rawValue), but --method \(requested.rawValue) was given")
            }
            method = named
        }
        return try defaults(method).applying(file, source: source)
    }
}

/// The Double whose shortest decimal form is the Float's (0.9, not 0.8999999761581421), so JSON
/// shows the value as written while still converting back to the same Float.
func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

/// A recipe file as written: every key optional (missing ones keep the method's defaults).
public struct ErasureRecipeFile: Recipe, Equatable {
    public var method: String?
    public var params: String?
    public var encoderSubset: String?
    public var steps: Int?
    public var lr: Double?
    public var betas: [Double]?
    public var weightDecay: Double?
    public var gradClip: Double?
    public var batchSize: Int?
    public var seed: UInt64?
    public var checkpointEvery: Int?
    public var templates: TemplatesFile?
    public var phrasings: [String]?
    public var eta: Double?
    public var ddimSteps: Int?
    public var guidance: Double?
    public var emaDecay: Double?
    public var images: Int?
    public var generationSteps: Int?
    public var generationGuidance: Double?
    public var frames: Int?
    public var anchor: String?
    public var anchorMode: String?
    public var anchorPhrases: AnchorPhrasesFile?
    public var preservationWeight: Double?
    public var preserve: [String]?
    public var preservePerStep: Int?
    public var preserveNeighbors: Bool?
    public var embeddingWeight: Double?

    public static var keys: [String] { ErasureRecipe.keys }

    enum CodingKeys: String, CodingKey {
        case method, params, encoderSubset = "encoder_subset", steps, lr, betas, weightDecay = "weight_decay"
        case gradClip = "grad_clip", batchSize = "batch_size", seed, checkpointEvery = "checkpoint_every", templates
        case phrasings, eta, ddimSteps = "ddim_steps", guidance, emaDecay = "ema_decay", images
        case generationSteps = "generation_steps", generationGuidance = "generation_guidance", frames, anchor
        case anchorMode = "anchor_mode", anchorPhrases = "anchor_phrases"
        case preservationWeight = "preservation_weight", preserve, preservePerStep = "preserve_per_step"
        case preserveNeighbors = "preserve_neighbors"
        case embeddingWeight = "embedding_weight"
    }

    public init() {}

    /// The `anchor_phrases:` mapping, strict like `templates:`.
    public struct AnchorPhrasesFile: Codable, Equatable {
        public var object: String?
        public var color: String?
        public var style: String?
        public var motion: String?

        public init(from decoder: Decoder) throws {
            let all = try strictContainer(decoder, known: AnchorPhrases.keys, what: "anchor phrase family")
            func phrase(_ key: String) throws -> String? { try all.decodeIfPresent(String.self, forKey: AnyKey(key)) }
            object = try phrase("object")
            color = try phrase("color")
            style = try phrase("style")
            motion = try phrase("motion")
        }
    }

    /// The `templates:` mapping; a family name it does not know is an error, like a top-level key.
    public struct TemplatesFile: Codable, Equatable {
        public var object: [String]?
        public var color: [String]?
        public var style: [String]?
        public var motion: [String]?
        public var text: [String]?

        public init(from decoder: Decoder) throws {
            let all = try strictContainer(decoder, known: PromptTemplates.keys, what: "template family")
            func list(_ key: String) throws -> [String]? { try all.decodeIfPresent([String].self, forKey: AnyKey(key)) }
            object = try list("object")
            color = try list("color")
            style = try list("style")
            motion = try list("motion")
            text = try list("text")
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A nested mapping's container that rejects keys outside `known`, naming the key path.
func strictContainer(_ decoder: Decoder, known: [String], what: String) throws -> KeyedDecodingContainer<AnyKey> {
    let all = try decoder.container(keyedBy: AnyKey.self)
    if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyKey(unknown)],
                                                debugDescription: "unknown \(what) (known: \(known.joined(separator: ", ")))"))
    }
    return all
}
