// TokenCompose's targets: the tokens of each object's phrase, and each object's coverage at the
// resolution of an attention map.
import Foundation
import XCTest
@testable import LetheCore
@testable import LetheModels
@testable import LetheWorld

final class TokenGroundingTests: XCTestCase {
    let tokenizer = try! CLIPTokenizer(directory: WorldFixtures.repoRoot.appendingPathComponent("configs/world/tokenizer"))

    func testTrainingCaptionsRecordWhereEachObjectPhraseIs() {
        for (spec, entry) in WorldFixtures.trainCaptions(count: 300, mode: .image, seed: 5) {
            let words = entry.prompt.split(separator: " ")
            XCTAssertEqual(entry.objectWords.count, spec.objects.count, entry.prompt)
            for range in entry.objectWords {
                XCTAssertTrue(["a", "an"].contains(words[range.lowerBound]), "a phrase starts with its article: \(entry.prompt)")
            }
            if entry.objectWords.count == 2 {
                XCTAssertLessThan(entry.objectWords[0].upperBound, entry.objectWords[1].lowerBound, "the pair's phrases are apart: \(entry.prompt)")
            }
        }
        XCTAssertTrue(WorldFixtures.sets.eval.entries.allSatisfy { $0.objectWords.isEmpty }, "prompt sets do not carry them")
    }

    func testWeightsSelectEachPhrasesTokensWithoutTheArticle() throws {
        let dataset = WorldDataset(seed: 7, excludedPrompts: WorldFixtures.exclusions)
        var found = 0
        for index in 0..<20 where found < 5 {
            let batch = dataset.batch(index, size: 8, mode: .image, coverage: true)
            let coverage = try XCTUnwrap(batch.coverage)
            let grounding = TokenGrounding(prompts: batch.prompts, captioned: Array(repeating: true, count: 8),
                                           tokenizer: tokenizer, coverage: coverage)
            let objects = coverage.shape[1], tokens = tokenizer.modelMaxLength
            XCTAssertEqual(grounding.weights.shape, [8, tokens, objects])
            XCTAssertEqual(Double(grounding.weights.scalars.reduce(0, +)), 1, accuracy: 1e-5, "a mean over terms")
            for (b, prompt) in batch.prompts.enumerated() where prompt.second != nil {
                found += 1
                let ids = tokenizer(prompt.prompt)
                for (k, range) in prompt.objectWords.enumerated() {
                    let picked = (0..<tokens).filter { grounding.weights[flat: (b * tokens + $0) * objects + k] > 0 }
                    let words = prompt.prompt.split(separator: " ")[(range.lowerBound + 1)..<range.upperBound].joined(separator: " ").lowercased()
                    XCTAssertEqual(tokenizer.decode(picked.map { ids[$0] }), words, prompt.prompt)
                }
            }
        }
        XCTAssertGreaterThan(found, 0, "the batches held two-object images")
    }

    func testDroppedCaptionsGroundNothing() throws {
        let batch = WorldDataset(seed: 7, excludedPrompts: WorldFixtures.exclusions).batch(0, size: 4, mode: .image, coverage: true)
        let none = TokenGrounding(prompts: batch.prompts, captioned: [false, false, false, false], tokenizer: tokenizer,
                                  coverage: try XCTUnwrap(batch.coverage))
        XCTAssertEqual(none.terms, 0)
        XCTAssertNil(none.loss(maps: [Tensor.ones([4, 64, tokenizer.modelMaxLength])]))
    }

    func testMasksAverageCoverageOverCellsFrameByFrame() throws {
        let dataset = WorldDataset(seed: 9, excludedPrompts: WorldFixtures.exclusions)
        let batch = dataset.batch(1, size: 2, mode: .clip, coverage: true)
        XCTAssertEqual(batch.pixels.scalars, dataset.batch(1, size: 2, mode: .clip).pixels.scalars, "coverage changes no pixel")
        let coverage = try XCTUnwrap(batch.coverage)
        XCTAssertEqual(Array(coverage.shape[2...]), [8, 32, 32])
        // Object 0's coverage of sample 1 is the renderer's.
        let own = Renderer().coverage(batch.specs[1])
        let objects = coverage.shape[1], plane = 8 * 32 * 32
        XCTAssertEqual(Array(coverage.scalars[(objects * plane)..<(objects * plane + plane)]), Array(own.scalars[0..<plane]))
        let grounding = TokenGrounding(prompts: batch.prompts, captioned: [true, true], tokenizer: tokenizer, coverage: coverage)
        let masks = grounding.masks(pixels: 8 * 8 * 8)
        XCTAssertEqual(masks.shape, [2, 512, objects])
        // Cell (frame 5, y 2, x 3) of sample 1, object 0: the mean of its 4×4 block.
        var sum: Float = 0
        for dy in 0..<4 { for dx in 0..<4 { sum += own[flat: 5 * 1024 + (8 + dy) * 32 + 12 + dx] } }
        XCTAssertEqual(masks[flat: (512 + 5 * 64 + 2 * 8 + 3) * objects], sum / 16, accuracy: 1e-6)
        // Area is kept: a mask's mean is the coverage's.
        let fullMean = own.scalars[0..<plane].reduce(0, +) / Float(plane)
        let maskMean = (0..<512).reduce(Float(0)) { $0 + masks[flat: (512 + $1) * objects] } / 512
        XCTAssertEqual(maskMean, fullMean, accuracy: 1e-5)
    }
}
