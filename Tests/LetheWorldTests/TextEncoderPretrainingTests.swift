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
}
