import Foundation
import XCTest
import LetheCore
import LetheModels
@testable import LetheWorld

final class TextEncoderPretrainingTests: XCTestCase {
    private func recipe(steps: Int = 40, extra: String = "") throws -> TextPretrainingRecipe {
        let yaml = """
        kind: text
        steps: \(steps)
        batch_size: 32
        lr: 0.003
        final_lr: 0.0003
        warmup_steps: 4
        weight_decay: 0.0
        caption_dropout: 0.1
        clip_share: 0.5
        seed: 9
        checkpoint_every: 1000
        tokenizer: \(WorldFixtures.repoRoot.appendingPathComponent("configs/world/tokenizer").path)
        text_hidden_size: 32
        text_layers: 1
        text_heads: 2
        text_intermediate_size: 64
        \(extra)
        """
        let r = try RecipeLoader.decode(TextPretrainingRecipe.self, yaml: yaml, file: "text.yaml")
        try r.validate(file: "text.yaml")
        return r
    }

    func testLabelsNameEverySlotAndNothingForTheEmptyCaption() throws {
        let json = #"{"prompt": "a red circle and a striped square moving left", "object": "circle", "color": "red", "motion": "left", "second": {"object": "square", "style": "striped"}}"#
        let entry = try JSONDecoder().decode(PromptEntry.self, from: Data(json.utf8))
        // Class 0 is "not named"; others are 1 + the concept's index in its enum.
        XCTAssertEqual(CaptionLabels.of(entry), [1, 1, 0, 1, 2, 0, 2])
        XCTAssertEqual(CaptionLabels.of(nil), [0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(CaptionLabels.slots.map(\.classes), [9, 9, 6, 9, 9, 9, 6])
    }

    func testHeadsReadTheFirstEndOfTextTokenAndEveryPositionAfterIt() throws {
        let training = try TextEncoderPretraining(recipe: try recipe(), baseDirectory: WorldFixtures.repoRoot)
        let ids = training.tokenizer(["a red circle", ""])
        let length = ids[0].count
        let eos = training.tokenizer.eosTokenId
        let rows = training.endOfTextRows(ids)
        let firstEOS = ids[0].firstIndex(of: eos)!
        XCTAssertEqual(rows.filter { $0.caption == 0 }.map(\.row), Array(firstEOS..<length))
        XCTAssertEqual(rows.filter { $0.caption == 1 }.map(\.row), Array((length + 1)..<(2 * length)),
                       "the empty caption is [BOS, EOS, pad…]: its rows start at position 1")
    }

    func testRecipeErrorsNameTheKey() throws {
        XCTAssertThrowsError(try recipe(extra: "ema_decay: 0.9")) { error in
            XCTAssertTrue("\(error)".contains("unknown key 'ema_decay'"), "\(error)")
        }
        var r = try recipe()
        r.kind = "image"
        XCTAssertThrowsError(try r.validate(file: "text.yaml")) { XCTAssertTrue("\($0)".contains("key 'kind'"), "\($0)") }
        r = try recipe()
        r.textHeads = 3
        XCTAssertThrowsError(try r.validate(file: "text.yaml")) { XCTAssertTrue("\($0)".contains("text_heads"), "\($0)") }
    }

    /// A short run on captions alone learns to read them: the loss falls well below its start and
    /// the object of eval prompts (never trained on) is read far above chance (1 in 9).
    func testTrainingLearnsWhichConceptsACaptionNames() throws {
        let training = try TextEncoderPretraining(recipe: try recipe(steps: 120), baseDirectory: WorldFixtures.repoRoot)
        training.log = { _ in }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-text-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let before = try training.accuracy(Array(WorldFixtures.sets.eval.entries.prefix(200)))
        let result = try training.run(output: dir.appendingPathComponent("text"), checkpoint: dir.appendingPathComponent("ck.safetensors"), resume: false)
        let first = result.losses.prefix(5).reduce(0, +) / 5, last = result.losses.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(last, 0.6 * first, "losses \(result.losses)")
        let after = try training.accuracy(Array(WorldFixtures.sets.eval.entries.prefix(200)))
        XCTAssertGreaterThan(after.perSlot["object"]!, 0.5, "object read right in \(after.perSlot["object"]!) of eval prompts")
        XCTAssertGreaterThan(after.perSlot["object"]!, before.perSlot["object"]! + 0.2)
        // The folder holds what an image recipe's text_encoder_from reads.
        let encoder = try CLIPTextModel.load(directory: dir.appendingPathComponent("text/text_encoder"))
        XCTAssertEqual(encoder.config.hiddenSize, 32)
        _ = try CLIPTokenizer(directory: dir.appendingPathComponent("text/tokenizer"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("text/text_training.json").path))
    }

    func testPhraseLossReadsEachObjectFromItsOwnPhraseTokens() throws {
        XCTAssertThrowsError(try recipe(extra: "phrase_loss_weight: 0")) { XCTAssertTrue("\($0)".contains("phrase_loss_weight"), "\($0)") }
        let plain = try TextEncoderPretraining(recipe: try recipe(), baseDirectory: WorldFixtures.repoRoot)
        let phrases = try TextEncoderPretraining(recipe: try recipe(extra: "phrase_loss_weight: 0.5"), baseDirectory: WorldFixtures.repoRoot)
        XCTAssertTrue(plain.phraseHeads.isEmpty)
        XCTAssertEqual(phrases.phraseHeads.map(\.weight.shape[0]), [9, 9, 6], "object, color and style classes")
        // Without the key the encoder starts from the same weights (the new heads are drawn last).
        XCTAssertEqual(plain.textEncoder.stateDict().mapValues(\.scalars), phrases.textEncoder.stateDict().mapValues(\.scalars))

        // The phrase loss reads the tokens of each object's phrase, with that object's labels.
        let entry = WorldFixtures.trainCaptions(count: 400, mode: .image, seed: 3).map(\.1).first { $0.second != nil && $0.second?.color != nil }!
        let positions = TokenGrounding.phraseTokens(of: entry, tokenizer: phrases.tokenizer)
        XCTAssertEqual(positions.count, 2)
        let ids = phrases.tokenizer(entry.prompt)
        for (k, range) in entry.objectWords.enumerated() {
            let words = entry.prompt.split(separator: " ")[(range.lowerBound + 1)..<range.upperBound].joined(separator: " ").lowercased()
            XCTAssertEqual(phrases.tokenizer.decode(positions[k].map { ids[$0] }), words)
        }
        XCTAssertEqual(CaptionLabels.of(entry.objects[1]), Array(CaptionLabels.of(entry)[4...6]), "the second object's labels")

        // Both losses match on the caption part: the phrase part is added on top, weighted.
        var r1 = RandomGenerator(seed: 5), r2 = RandomGenerator(seed: 5)
        let a = try Autograd.inference { try plain.loss(step: 0, rng: &r1) }.item
        let b = try Autograd.inference { try phrases.loss(step: 0, rng: &r2) }.item
        let entries = phrases.dataset.captions(0, size: 32, clipShare: 0.5)
        var r3 = RandomGenerator(seed: 5)
        let kept: [PromptEntry?] = entries.map { r3.nextFloat() < 0.1 ? nil : $0 }
        let (_, _, states) = try Autograd.inference { try phrases.logits(kept.map { $0?.prompt ?? "" }) }
        let phrase = try XCTUnwrap(Autograd.inference { phrases.phraseLoss(kept, states) }).item
        XCTAssertGreaterThan(phrase, 0)
        XCTAssertEqual(b, a + 0.5 * phrase, accuracy: 1e-4)
    }

    /// A short run with the phrase loss makes the second object's tokens carry its own color.
    func testPhraseTrainingTeachesPhraseTokensTheirOwnObject() throws {
        let training = try TextEncoderPretraining(recipe: try recipe(steps: 150, extra: "phrase_loss_weight: 1.0"), baseDirectory: WorldFixtures.repoRoot)
        training.log = { _ in }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-text-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        _ = try training.run(output: dir.appendingPathComponent("text"), checkpoint: dir.appendingPathComponent("ck.safetensors"), resume: false)
        // The second object's color, read from its phrase's tokens in two-object captions.
        let pairs = WorldFixtures.trainCaptions(count: 600, mode: .image, seed: 77, excluded: []).map(\.1)
            .filter { $0.second?.color != nil }.prefix(60)
        var right = 0, total = 0
        for entry in pairs {
            let ids = training.tokenizer(entry.prompt)
            let hidden = try Autograd.inference { try training.textEncoder([ids]).lastHiddenState }
            let flat = hidden.reshaped([hidden.shape[1], hidden.shape[2]])
            let positions = TokenGrounding.phraseTokens(of: entry, tokenizer: training.tokenizer)[1]
            let logits = Autograd.inference { training.phraseHeads[1](flat.embeddingLookup(ids: positions)) }
            let truth = CaptionLabels.of(entry.second!)[1], c = logits.shape[1]
            for r in 0..<logits.shape[0] {
                right += (0..<c).max { logits[flat: r * c + $0] < logits[flat: r * c + $1] }! == truth ? 1 : 0
                total += 1
            }
        }
        XCTAssertGreaterThan(Double(right) / Double(total), 0.6, "second color read right on \(right) of \(total) phrase tokens (chance 1 in 9)")
    }
}
