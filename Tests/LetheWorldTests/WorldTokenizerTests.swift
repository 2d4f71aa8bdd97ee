import XCTest
import LetheCore
import LetheModels
@testable import LetheWorld

final class BPETrainerTests: XCTestCase {
    func testMergesTheMostFrequentPairFirstUntilEveryWordIsOneSymbol() {
        let words: [(symbols: [String], count: Int)] = [(["a", "b", "c</w>"], 3), (["a", "b</w>"], 2), (["b", "c</w>"], 1)]
        let merges = BPETrainer(mergeBudget: 100).merges(words)
        // (a, b) occurs 3 times, (b, c</w>) 4; after merging (b, c</w>), "abc" is (a, bc</w>) ×3.
        XCTAssertEqual(merges.map { "\($0.0) \($0.1)" }, ["b c</w>", "a bc</w>", "a b</w>"])
    }

    func testTiesGoToTheLexicographicallySmallestPairWhateverTheInputOrder() {
        let words: [(symbols: [String], count: Int)] = [(["x", "y</w>"], 2), (["a", "b</w>"], 2), (["a", "a", "a</w>"], 1)]
        let merges = BPETrainer(mergeBudget: 100).merges(words)
        XCTAssertEqual(merges.map { "\($0.0) \($0.1)" }, ["a b</w>", "x y</w>", "a a", "aa a</w>"])
        XCTAssertEqual(BPETrainer(mergeBudget: 100).merges(words.reversed()).map { "\($0.0) \($0.1)" },
                       merges.map { "\($0.0) \($0.1)" })
    }

    func testStopsAtTheMergeBudget() {
        let merges = BPETrainer(mergeBudget: 2).merges([(["l", "o", "n", "g</w>"], 1)])
        XCTAssertEqual(merges.count, 2)
        XCTAssertTrue(BPETrainer(mergeBudget: 0).merges([(["a", "b</w>"], 1)]).isEmpty)
    }
}

final class WorldTokenizerTests: XCTestCase {
    static let committed = WorldFixtures.repoRoot.appendingPathComponent("configs/world/tokenizer")

    func committedTokenizer() throws -> CLIPTokenizer { try CLIPTokenizer(directory: Self.committed) }

    func testBaseVocabularyHasCLIPsRealByteIds() throws {
        let vocabulary = CLIPVocabularyLayout.vocabulary(merges: [])
        XCTAssertEqual(vocabulary.count, 514)
        XCTAssertEqual(vocabulary["<|startoftext|>"], 512)
        XCTAssertEqual(vocabulary["<|endoftext|>"], 513)
        // CLIP's real vocabulary reduced to what the CLIP tokenizer tests use; its ids 0-511 are
        // the byte symbols.
        let clip = WorldFixtures.repoRoot.appendingPathComponent("Tests/LetheModelsTests/Fixtures/tokenizer/clip/vocab.json")
        let real = try JSONSerialization.jsonObject(with: Data(contentsOf: clip)) as! [String: Int]
        let realBytes = real.filter { $0.value < 512 }
        XCTAssertEqual(realBytes.count, 512)
        XCTAssertEqual(vocabulary.filter { $0.value < 512 }, realBytes)
    }

    func testCommittedVocabularyIsCLIPsLayout() throws {
        let tokenizer = try committedTokenizer()
        XCTAssertEqual(tokenizer.modelMaxLength, 16)
        let size = tokenizer.vocabularySize
        XCTAssertEqual(tokenizer.vocabulary.count, size)
        XCTAssertEqual(tokenizer.bosTokenId, size - 2)
        XCTAssertEqual(tokenizer.eosTokenId, size - 1)
        XCTAssertEqual(tokenizer.padTokenId, size - 1)
        XCTAssertEqual(tokenizer.bosToken, "<|startoftext|>")
        XCTAssertEqual(tokenizer.padToken, "<|endoftext|>")
        XCTAssertGreaterThan(tokenizer.merges.count, 100)
        XCTAssertLessThanOrEqual(tokenizer.merges.count, 1000)
        let merges = try String(contentsOf: Self.committed.appendingPathComponent("merges.txt"), encoding: .utf8)
        XCTAssertTrue(merges.hasPrefix("#version: 0.2\n"))
        // Learned tokens follow the byte tokens, in merge order.
        let (first, second) = tokenizer.merges[0]
        XCTAssertEqual(tokenizer.vocabulary[first + second], 512)
    }

    /// Padded ids transformers gives with the committed folder (4.57.3's Python CLIPTokenizer and
    /// 5.24's tokenizers-library one agree; scripts/fixtures/world_tokenizer_check.py compares every
    /// eval and held-out prompt).
    func testIdsEqualTransformers() throws {
        let expected: [(String, [Int])] = [
            ("a drawing of a cherry colored solid circle", [1030, 320, 636, 515, 320, 857, 528, 732, 605, 1031]),
            ("a drawing of a rose valentine symbol", [1030, 320, 636, 515, 320, 825, 752, 684, 1031]),
            ("a hexagon moving left", [1030, 320, 536, 87, 1010, 538, 571, 655, 1031]),
            ("A RED Ball, bouncing!", [1030, 320, 518, 735, 267, 795, 256, 1031]),
            ("Crème brûlée 🦊 Ωmega ÷ x² ŒUVRE naïve", [1030, 66, 81, 127, 101, 76, 324, 65, 81, 127, 119, 75, 127, 102, 324, 1031]),
        ]
        for flavor in CLIPTokenizer.Flavor.allCases {
            let tokenizer = try CLIPTokenizer(directory: Self.committed, flavor: flavor)
            for (text, ids) in expected {
                XCTAssertEqual(tokenizer(text), ids + Array(repeating: 1031, count: 16 - ids.count), "\(flavor): \(text)")
            }
        }
    }

    func testEveryTrainingWordIsOneToken() throws {
        let tokenizer = try committedTokenizer()
        for word in PromptCatalog.v1.trainVocabulary.sorted() {
            XCTAssertEqual(tokenizer.tokenize(word), [word + "</w>"], word)
        }
    }

    func testEvalAndHeldOutPromptsAndTrainCaptionsFitTheModelLength() throws {
        let tokenizer = try committedTokenizer()
        let prompts = (WorldFixtures.sets.eval.entries + WorldFixtures.sets.heldout.entries).map(\.prompt)
        XCTAssertEqual(prompts.count, 1100)
        let captions = WorldFixtures.trainCaptions(count: 500, mode: .image, seed: 11).map(\.1.prompt)
            + WorldFixtures.trainCaptions(count: 500, mode: .clip, seed: 12).map(\.1.prompt)
        var longest = 0
        for text in prompts + captions {
            let ids = tokenizer.encode(text)
            longest = max(longest, ids.count)
            XCTAssertLessThanOrEqual(ids.count, tokenizer.modelMaxLength, text)
            // Held-out wordings are new combinations of trained words: one token per word.
            XCTAssertEqual(ids.count, CaptionText.words(text).count + 2, text)
        }
        XCTAssertEqual(longest, PromptCatalog.v1.maxWords + 2)
    }

    func testUnseenWordsSplitIntoSeveralTokens() throws {
        let tokenizer = try committedTokenizer()
        let vocabulary = PromptCatalog.v1.trainVocabulary
        for word in ["vermilion", "hexagon", "zigzag", "pentagon", "sliding", "crimsons"] {
            let isTrained = vocabulary.contains(word)
            XCTAssertEqual(tokenizer.tokenize(word).count > 1, !isTrained, word)
        }
        XCTAssertFalse(vocabulary.contains("hexagon"))
        XCTAssertGreaterThan(tokenizer.tokenize("a hexagon moving left").count, 4)
    }

    func testAnyTextTokenizesWithoutUnknownTokens() throws {
        let tokenizer = try committedTokenizer()
        let text = "Crème brûlée 🦊 Ωmega ÷ x² ŒUVRE naïve ßtraße ☃ 😀 ǅ ｆｕｌｌ Ж 42"
        let ids = tokenizer.encode(text)
        XCTAssertEqual(ids.first, tokenizer.bosTokenId)
        XCTAssertEqual(ids.last, tokenizer.eosTokenId)
        let inner = ids.dropFirst().dropLast()
        XCTAssertFalse(inner.contains(tokenizer.unkTokenId))
        XCTAssertTrue(inner.allSatisfy { $0 < tokenizer.bosTokenId })
        // Byte symbols round-trip: decoding gives the (lower-cased) text back.
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("Crème brûlée 🦊 Ωmega ÷ Ŧ")), "crème brûlée 🦊 ωmega ÷ ŧ")
    }

    func testModelLengthIsTheSmallestAllowedOneThatFits() throws {
        // 16 trained words: 18 tokens with start and end.
        let long = "a red ball and a blue box next to a green star on a gray background"
        var trainer = WorldTokenizerTrainer(dataset: WorldDataset(seed: 5, excludedPrompts: []), captionCount: 200,
                                            mergeBudget: 1000, modelMaxLengths: [24, 16, 20], checkedPrompts: [long])
        let vocabulary = try trainer.train()
        XCTAssertEqual(vocabulary.longest.text, long)
        XCTAssertEqual(vocabulary.longest.tokens, 18)
        XCTAssertEqual(vocabulary.tokenizer.modelMaxLength, 20)
        trainer.modelMaxLengths = [16]
        XCTAssertThrowsError(try trainer.train()) { XCTAssertTrue("\($0)".contains("18 tokens"), "\($0)") }
    }

    func testCommittedFilesAreWhatTheCodeGenerates() throws {
        let vocabulary = try WorldTokenizerTrainer.v1().train()
        XCTAssertEqual(vocabulary.splitWords, [])
        XCTAssertEqual(Set(vocabulary.wordCounts.keys), PromptCatalog.v1.trainVocabulary)
        XCTAssertEqual(vocabulary.longest.tokens, PromptCatalog.v1.maxWords + 2)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-worldtok-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try vocabulary.save(to: folder)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), WorldVocabulary.fileNames)
        for name in WorldVocabulary.fileNames {
            let generated = try Data(contentsOf: folder.appendingPathComponent(name))
            let committed = try Data(contentsOf: Self.committed.appendingPathComponent(name))
            XCTAssertTrue(generated == committed, "configs/world/tokenizer/\(name) is stale: run scripts/make_world_tokenizer.sh")
        }
    }
}
