// Pretraining the world's text encoder (configs/train/text.yaml): our stand-in for CLIP's
// contrastive pretraining.
//
// Real text-to-image models start from a text encoder that already knows what captions mean.
// Learning one from nothing, jointly with a UNet, through the denoising loss alone is slow: the
// loss says little about which words matter, and synonyms ("ball", "round disc") must be found
// equal through pictures. Session 2's jointly trained model drew objects near chance after 62k
// images. So the encoder first learns from captions alone to tell which concepts a caption names,
// in every wording the training captions use: small linear heads read its end-of-text states
// (CLIP pools the first end-of-text token; the padding after it is end-of-text too and sees the
// same words). The heads are then dropped; the image and video UNets train on the frozen encoder,
// which is what makes the two models share it bit for bit, as Stable Diffusion and AnimateDiff do.

import Foundation
import LetheCore
import LetheModels

/// configs/train/text.yaml.
public struct TextPretrainingRecipe: Recipe, Equatable {
    public static let keys = [
        "kind", "steps", "batch_size", "lr", "final_lr", "warmup_steps", "weight_decay", "caption_dropout",
        "clip_share", "seed", "checkpoint_every", "tokenizer",
        "text_hidden_size", "text_layers", "text_heads", "text_intermediate_size", "phrase_loss_weight",
    ]

    /// Always "text".
    public var kind: String
    public var steps: Int
    /// Captions per step.
    public var batchSize: Int
    public var lr: Float
    public var finalLr: Float
    public var warmupSteps: Int
    public var weightDecay: Float
    /// Share of captions replaced by "": it must come out as "names nothing" (the unconditional
    /// prompt of classifier-free guidance).
    public var captionDropout: Float
    /// Share of captions written for clips (with motions) rather than images.
    public var clipShare: Float
    public var seed: UInt64
    public var checkpointEvery: Int
    public var tokenizer: String
    public var textHiddenSize: Int
    public var textLayers: Int
    public var textHeads: Int
    public var textIntermediateSize: Int
    /// Adds, with this weight, a loss on each object's phrase tokens: heads read from every token
    /// of "a red star" (but the article) that object's object, color and style. A causal encoder
    /// trained on end-of-text states alone lets later tokens carry earlier words: in "a red star
    /// and a blue circle" the state of "blue" came out nearer the one-object state of "red"
    /// than of "blue", and the UNet drew two red shapes. nil: off.
    public var phraseLossWeight: Float?

    enum CodingKeys: String, CodingKey {
        case kind, steps, batchSize = "batch_size", lr, finalLr = "final_lr", warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay", captionDropout = "caption_dropout", clipShare = "clip_share", seed
        case checkpointEvery = "checkpoint_every", tokenizer, textHiddenSize = "text_hidden_size"
        case textLayers = "text_layers", textHeads = "text_heads", textIntermediateSize = "text_intermediate_size"
        case phraseLossWeight = "phrase_loss_weight"
    }

    public static func load(from url: URL) throws -> TextPretrainingRecipe {
        let recipe = try RecipeLoader.load(TextPretrainingRecipe.self, from: url)
        try recipe.validate(file: url.path)
        return recipe
    }

    public func validate(file: String) throws {
        func bad(_ key: String, _ why: String) -> RecipeError { RecipeError(file: file, "key '\(key)': \(why)") }
        guard kind == "text" else { throw bad("kind", "expected text, found \(kind)") }
        guard steps > 0 else { throw bad("steps", "expected a positive number, found \(steps)") }
        guard batchSize > 0 else { throw bad("batch_size", "expected a positive number, found \(batchSize)") }
        guard lr > 0, finalLr >= 0 else { throw bad("lr", "expected lr > 0 and final_lr >= 0") }
        guard (0...1).contains(captionDropout) else { throw bad("caption_dropout", "expected a number in [0, 1]") }
        guard (0...1).contains(clipShare) else { throw bad("clip_share", "expected a number in [0, 1]") }
        guard checkpointEvery > 0 else { throw bad("checkpoint_every", "expected a positive number") }
        guard textHiddenSize > 0, textHeads > 0, textHiddenSize % textHeads == 0 else {
            throw bad("text_heads", "text_hidden_size \(textHiddenSize) must split into \(textHeads) heads")
        }
        if let w = phraseLossWeight, !(w > 0 && w.isFinite) {
            throw bad("phrase_loss_weight", "expected a positive number, found \(w)")
        }
    }

    var fingerprint: String { sortedJSON }
}

/// What a caption names, one class per slot; class 0 is "not named".
public enum CaptionLabels {
    public static let slots: [(name: String, classes: Int)] = [
        ("object", ObjectKind.allCases.count + 1), ("color", ColorKind.allCases.count + 1),
        ("style", StyleKind.allCases.count + 1), ("motion", MotionKind.allCases.count + 1),
        ("second_object", ObjectKind.allCases.count + 1), ("second_color", ColorKind.allCases.count + 1),
        ("second_style", StyleKind.allCases.count + 1),
    ]

    /// The object, color and style labels of one object of a caption.
    public static func of(_ object: PromptObject) -> [Int] {
        [index(object.object), index(object.color), index(object.style)]
    }

    private static func index<T: CaseIterable & Equatable>(_ value: T?) -> Int {
        guard let value else { return 0 }
        return Array(T.allCases).firstIndex(of: value)! + 1
    }

    /// The labels of `entry`'s caption; nil (the empty caption) names nothing.
    public static func of(_ entry: PromptEntry?) -> [Int] {
        guard let e = entry else { return Array(repeating: 0, count: slots.count) }
        return [index(e.object), index(e.color), index(e.style), index(e.motion),
                index(e.second?.object), index(e.second?.color), index(e.second?.style)]
    }
}

/// The text encoder built from a recipe's sizes and a tokenizer.
public func worldTextEncoderConfig(tokenizer: CLIPTokenizer, hiddenSize: Int, layers: Int, heads: Int,
                                   intermediateSize: Int) throws -> CLIPTextConfig {
    var text = CLIPTextConfig()
    text.vocabSize = tokenizer.vocabularySize
    text.maxPositionEmbeddings = tokenizer.modelMaxLength
    text.hiddenSize = hiddenSize
    text.intermediateSize = intermediateSize
    text.numHiddenLayers = layers
    text.numAttentionHeads = heads
    text.projectionDim = hiddenSize
    text.padTokenId = tokenizer.padTokenId
    text.bosTokenId = tokenizer.bosTokenId
    text.eosTokenId = tokenizer.eosTokenId
    try text.validate(source: "recipe text encoder")
    return text
}

/// A text encoder and its tokenizer, trained to recognise captions' concepts.
public final class TextEncoderPretraining {
    public static let recordName = "text_training.json"
    public let recipe: TextPretrainingRecipe
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    /// One linear head per `CaptionLabels` slot, on end-of-text states.
    let heads: [Linear]
    /// With `phrase_loss_weight`: object, color and style heads on phrase tokens (`CaptionLabels`'
    /// first three slots).
    let phraseHeads: [Linear]
    let dataset: WorldDataset
    public var log: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }

    public init(recipe: TextPretrainingRecipe, baseDirectory: URL) throws {
        self.recipe = recipe
        var rng = RandomGenerator(seed: recipe.seed)
        let path = recipe.tokenizer
        tokenizer = try CLIPTokenizer(directory: path.hasPrefix("/") ? URL(fileURLWithPath: path)
                                      : baseDirectory.appendingPathComponent(path))
        let config = try worldTextEncoderConfig(tokenizer: tokenizer, hiddenSize: recipe.textHiddenSize, layers: recipe.textLayers,
                                                heads: recipe.textHeads, intermediateSize: recipe.textIntermediateSize)
        textEncoder = CLIPTextModel(config: config, rng: &rng)
        heads = CaptionLabels.slots.map { Linear(config.hiddenSize, $0.classes, rng: &rng) }
        phraseHeads = recipe.phraseLossWeight == nil ? []
            : CaptionLabels.slots.prefix(3).map { Linear(config.hiddenSize, $0.classes, rng: &rng) }
        dataset = .v1(seed: recipe.seed)
    }

    var namedParameters: [(key: String, tensor: Tensor)] {
        textEncoder.namedParameters().map { ("text_encoder.\($0.key)", $0.tensor) }
            + heads.enumerated().flatMap { i, head in head.namedParameters().map { ("heads.\(i).\($0.key)", $0.tensor) } }
            + phraseHeads.enumerated().flatMap { i, head in head.namedParameters().map { ("phrase_heads.\(i).\($0.key)", $0.tensor) } }
    }

    /// Rows of [B·L, hidden] that hold end-of-text states: the first end-of-text token of each
    /// caption and every position after it.
    func endOfTextRows(_ ids: [[Int]]) -> [(row: Int, caption: Int)] {
        let length = ids.first?.count ?? 0
        var rows: [(row: Int, caption: Int)] = []
        for (b, caption) in ids.enumerated() {
            let first = textEncoder.poolingPosition(caption)
            for p in first..<length { rows.append((b * length + p, b)) }
        }
        return rows
    }

    /// Per-slot logits [rows, classes] of each caption's end-of-text states, which caption each
    /// row is, and the encoder's states [B·L, hidden].
    func logits(_ captions: [String]) throws -> (logits: [Tensor], captionOfRow: [Int], states: Tensor) {
        let ids = tokenizer(captions)
        let hidden = try textEncoder(ids).lastHiddenState
        let rows = endOfTextRows(ids)
        let all = hidden.reshaped([hidden.shape[0] * hidden.shape[1], hidden.shape[2]])
        let states = all.embeddingLookup(ids: rows.map(\.row))
        return (heads.map { $0(states) }, rows.map(\.caption), all)
    }

    /// Mean cross-entropy over slots of batch `step` (plus the phrase loss when asked for).
    public func loss(step: Int, rng: inout RandomGenerator) throws -> Tensor {
        let entries: [PromptEntry?] = dataset.captions(step, size: recipe.batchSize, clipShare: recipe.clipShare).map {
            rng.nextFloat() < recipe.captionDropout ? nil : $0
        }
        let labels = entries.map(CaptionLabels.of)
        let (perSlot, captionOfRow, states) = try logits(entries.map { $0?.prompt ?? "" })
        var total: Tensor?
        for (slot, logits) in perSlot.enumerated() {
            let l = crossEntropy(logits: logits, labels: captionOfRow.map { labels[$0][slot] })
            total = total.map { $0 + l } ?? l
        }
        let captionLoss = total! / Float(perSlot.count)
        guard let weight = recipe.phraseLossWeight, let phrase = phraseLoss(entries, states) else { return captionLoss }
        return captionLoss + phrase * weight
    }

    /// Mean cross-entropy of the phrase heads over every phrase token of the batch: each token
    /// of an object's phrase reads that object's object, color and style (0 where unnamed).
    func phraseLoss(_ entries: [PromptEntry?], _ states: Tensor) -> Tensor? {
        let length = tokenizer.modelMaxLength
        var rows: [Int] = [], labels: [[Int]] = [[], [], []]
        for (b, entry) in entries.enumerated() {
            guard let entry else { continue }
            let objects = entry.objects
            for (k, positions) in TokenGrounding.phraseTokens(of: entry, tokenizer: tokenizer).enumerated() where k < objects.count {
                let truth = CaptionLabels.of(objects[k])
                for p in positions {
                    rows.append(b * length + p)
                    for slot in 0..<3 { labels[slot].append(truth[slot]) }
                }
            }
        }
        guard !rows.isEmpty else { return nil }
        let tokenStates = states.embeddingLookup(ids: rows)
        let losses = phraseHeads.enumerated().map { slot, head in crossEntropy(logits: head(tokenStates), labels: labels[slot]) }
        return losses.dropFirst().reduce(losses[0], +) / Float(losses.count)
    }

    /// Share of prompts whose every slot is read right (at the first end-of-text token), and per slot.
    public func accuracy(_ entries: [PromptEntry]) throws -> (all: Double, perSlot: [String: Double]) {
        var correct = Array(repeating: 0, count: CaptionLabels.slots.count), allRight = 0
        for start in stride(from: 0, to: entries.count, by: 256) {
            let batch = Array(entries[start..<min(start + 256, entries.count)])
            let ids = tokenizer(batch.map(\.prompt))
            let pooled = try Autograd.inference { try textEncoder(ids).poolerOutput }
            let predictions = heads.map { head -> [Int] in
                let l = Autograd.inference { head(pooled) }
                let c = l.shape[1]
                return (0..<l.shape[0]).map { r in (0..<c).max { l.pointer[r * c + $0] < l.pointer[r * c + $1] }! }
            }
            for (i, entry) in batch.enumerated() {
                let truth = CaptionLabels.of(entry)
                var right = true
                for slot in truth.indices {
                    if predictions[slot][i] == truth[slot] { correct[slot] += 1 } else { right = false }
                }
                if right { allRight += 1 }
            }
        }
        let n = Double(max(entries.count, 1))
        var perSlot: [String: Double] = [:]
        for (i, slot) in CaptionLabels.slots.enumerated() { perSlot[slot.name] = Double(correct[i]) / n }
        return (Double(allRight) / n, perSlot)
    }

    /// Trains (resuming from `checkpoint` if asked) and writes `output/text_encoder`, `output/tokenizer`
    /// and `output/text_training.json` (losses, accuracy on the v1 eval and held-out prompts).
    @discardableResult
    public func run(output: URL, checkpoint: URL, resume: Bool, dtype: SafeTensors.WriteDType = .f32) throws -> TrainingResult {
        let parameters = namedParameters
        let tensors = parameters.map(\.tensor)
        let optimizer = AdamW(parameters: tensors, learningRate: recipe.lr, betas: (0.9, 0.98), weightDecay: recipe.weightDecay)
        log("text encoder: training \(tensors.reduce(0) { $0 + $1.count }) parameters, batch \(recipe.batchSize), \(recipe.steps) steps")
        let options = TrainingOptions(steps: recipe.steps, seed: recipe.seed, checkpoint: checkpoint,
                                      checkpointEvery: recipe.checkpointEvery, resume: resume, label: "train text")
        let run = TrainingRun(parameters: parameters, optimizer: optimizer, options: options,
                              metadata: ["lethe.recipe": recipe.fingerprint])
        run.log = log
        let schedule = WarmupCosineSchedule(peak: recipe.lr, final: recipe.finalLr, warmupSteps: recipe.warmupSteps, totalSteps: recipe.steps)
        let result = try run.run { i, rng in
            optimizer.learningRate = schedule(i)
            let loss = try self.loss(step: i, rng: &rng)
            loss.backward()
            return loss.item
        }
        if result.interrupted { return result }

        let sets = PromptSetGenerator.v1()
        let eval = try accuracy(sets.eval.entries), heldout = try accuracy(sets.heldout.entries)
        log(String(format: "text encoder: every concept read right in %.1f%% of eval prompts, %.1f%% of held-out phrasings",
                   100 * eval.all, 100 * heldout.all))
        try writeDirectoryAtomically(to: output) { staging in
            try tokenizer.save(to: staging.appendingPathComponent("tokenizer"))
            try textEncoder.save(to: staging.appendingPathComponent("text_encoder"), dtype: dtype)
            try writeRecord(result, eval: eval, heldout: heldout, to: staging.appendingPathComponent(Self.recordName))
        }
        log("text encoder: saved \(output.path) (\(formatDuration(result.seconds)) of training this run)")
        return result
    }

    private func writeRecord(_ result: TrainingResult, eval: (all: Double, perSlot: [String: Double]),
                             heldout: (all: Double, perSlot: [String: Double]), to url: URL) throws {
        struct Accuracy: Encodable {
            let allSlots: Double
            let perSlot: [String: Double]
            enum CodingKeys: String, CodingKey { case allSlots = "all_slots", perSlot = "per_slot" }
        }
        struct Record: Encodable {
            let recipe: TextPretrainingRecipe
            let steps: Int
            let secondsThisRun: Double
            let resumedFrom: Int?
            let evalAccuracy: Accuracy
            let heldoutAccuracy: Accuracy
            let losses: [Float]
            enum CodingKeys: String, CodingKey {
                case recipe, steps, secondsThisRun = "seconds_this_run", resumedFrom = "resumed_from"
                case evalAccuracy = "eval_accuracy", heldoutAccuracy = "heldout_accuracy", losses
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let record = Record(recipe: recipe, steps: result.losses.count, secondsThisRun: result.seconds, resumedFrom: result.resumedFrom,
                            evalAccuracy: Accuracy(allSlots: eval.all, perSlot: eval.perSlot),
                            heldoutAccuracy: Accuracy(allSlots: heldout.all, perSlot: heldout.perSlot), losses: result.losses)
        try writeAtomically(try encoder.encode(record), to: url)
    }
}
