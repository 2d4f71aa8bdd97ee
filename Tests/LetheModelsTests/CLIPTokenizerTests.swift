import Foundation
import XCTest
@testable import LetheModels

/// Reference ids come from scripts/fixtures/tokenizer_fixtures.py: transformers 4's Python
/// CLIPTokenizer (without ftfy) for `.slow`, transformers 5's tokenizers-backed CLIPTokenizer for
/// `.fast`, both run on the real 49,408-token vocabulary. The committed vocabulary keeps the real ids
/// but only the merges the strings use (the script checks the references give the same ids on it).
final class CLIPTokenizerTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Expected: Decodable {
            let ids: [Int]
            let padded: [Int]?
            let tokens: [String]?
            let decoded: String?
            let decodedWithSpecial: String?
            let decodedPrefixes: [String]?
        }

        struct Case: Decodable {
            let text: String
            let slow: Expected
            let fast: Expected

            func expected(_ flavor: CLIPTokenizer.Flavor) -> Expected { flavor == .slow ? slow : fast }
        }

        struct Group: Decodable {
            let folder: String
            let maxLength: Int
            let cases: [Case]
        }

        let fullVocabularySize: Int
        let clip: Group
        let stress: Group
        let tiny: Group
    }

    private static let fixturesURL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/tokenizer")

    private static let fixture: Fixture = {
        let data = try! Data(contentsOf: fixturesURL.appendingPathComponent("cases.json"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Fixture.self, from: data)
    }()

    private func tokenizer(_ folder: String, _ flavor: CLIPTokenizer.Flavor) throws -> CLIPTokenizer {
        try CLIPTokenizer(directory: Self.fixturesURL.appendingPathComponent(folder), flavor: flavor)
    }

    private func assertMatches(_ tokenizer: CLIPTokenizer, _ group: Fixture.Group,
                               file: StaticString = #filePath, line: UInt = #line) {
        var failures = 0
        for testCase in group.cases where failures < 5 {
            let expected = testCase.expected(tokenizer.flavor)
            let text = testCase.text.debugDescription
            let ids = tokenizer.encode(testCase.text)
            if ids != expected.ids { failures += 1 }
            XCTAssertEqual(ids, expected.ids, "\(tokenizer.flavor) ids of \(text)", file: file, line: line)
            if let padded = expected.padded {
                XCTAssertEqual(tokenizer.encode(testCase.text, padTo: group.maxLength), padded, "padded ids of \(text)", file: file, line: line)
            }
            if let tokens = expected.tokens {
                XCTAssertEqual(tokenizer.tokenize(testCase.text), tokens, "tokens of \(text)", file: file, line: line)
            }
            if let decoded = expected.decoded {
                XCTAssertEqual(tokenizer.decode(ids), decoded, "decoding of \(text)", file: file, line: line)
            }
            if let decoded = expected.decodedWithSpecial {
                XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), decoded, "decoding of \(text)", file: file, line: line)
            }
            for (k, decoded) in (expected.decodedPrefixes ?? []).enumerated() {
                XCTAssertEqual(tokenizer.decode(Array(ids.prefix(k + 1))), decoded, "decoding of \(k + 1) ids of \(text)", file: file, line: line)
            }
        }
    }

    // MARK: - Against the references

    func testSlowFlavorMatchesPythonTokenizerOnHardStrings() throws {
        let tokenizer = try tokenizer("clip", .slow)
        XCTAssertEqual(tokenizer.modelMaxLength, 77)
        XCTAssertEqual(tokenizer.callAsFunction("a cat").count, 77)
        assertMatches(tokenizer, Self.fixture.clip)
    }

    func testFastFlavorMatchesTokenizersLibraryOnHardStrings() throws {
        assertMatches(try tokenizer("clip", .fast), Self.fixture.clip)
    }

    func testFlavorsDisagreeWhereTheReferencesDo() {
        // Guards the fixture itself: if both references agreed everywhere, the flavor tests could
        // not tell the two clean-ups apart.
        let differing = Self.fixture.clip.cases.filter { $0.slow.ids != $0.fast.ids }.map(\.text)
        XCTAssertTrue(differing.contains("日本語のテキスト 中文字符 한국어 텍스트"))
        XCTAssertTrue(differing.contains("ΟΔΟΣ Σίσυφος ΣΑΣ Σ σ ς Α.Σ."))
        XCTAssertGreaterThan(differing.count, 5)
    }

    func testStressCorpusMatchesBothReferences() throws {
        for flavor in CLIPTokenizer.Flavor.allCases {
            assertMatches(try tokenizer("clip", flavor), Self.fixture.stress)
        }
    }

    func testPadTokenAndLengthFromConfigFiles() throws {
        // special_tokens_map.json sets pad_token "!" (Stable Diffusion 2's choice) over
        // tokenizer_config.json's "<|endoftext|>"; as a special token "!" is also cut out of the text.
        for flavor in CLIPTokenizer.Flavor.allCases {
            let tokenizer = try tokenizer("tiny", flavor)
            XCTAssertEqual(tokenizer.padToken, "!")
            XCTAssertEqual(tokenizer.padTokenId, 0)
            XCTAssertEqual(tokenizer.modelMaxLength, 16)
            XCTAssertEqual(tokenizer.bosTokenId, 49406)
            XCTAssertEqual(tokenizer.eosTokenId, 49407)
            XCTAssertEqual(tokenizer.unkTokenId, 49407)
            assertMatches(tokenizer, Self.fixture.tiny)
            for testCase in Self.fixture.tiny.cases {
                XCTAssertEqual(tokenizer(testCase.text), testCase.expected(flavor).padded)
            }
        }
    }

    func testRealVocabularyWhenAvailable() throws {
        guard let path = ProcessInfo.processInfo.environment["LETHE_CLIP_VOCAB_DIR"] else {
            throw XCTSkip("set LETHE_CLIP_VOCAB_DIR to a folder written by scripts/fixtures/tokenizer_fixtures.py --write-full-vocab")
        }
        for flavor in CLIPTokenizer.Flavor.allCases {
            let tokenizer = try CLIPTokenizer(directory: URL(fileURLWithPath: path), flavor: flavor)
            XCTAssertEqual(tokenizer.vocabularySize, Self.fixture.fullVocabularySize)
            XCTAssertEqual(tokenizer.vocabulary.count, 49408)
            XCTAssertEqual(tokenizer.merges.count, 48894)
            assertMatches(tokenizer, Self.fixture.clip)
            assertMatches(tokenizer, Self.fixture.stress)
        }
    }

    // MARK: - Behaviour

    func testTruncationKeepsStartAndEndTokens() throws {
        let tokenizer = try tokenizer("clip", .slow)
        let text = Self.fixture.clip.cases.first { $0.text.hasPrefix("The quick brown fox") }!.text
        let full = tokenizer.encode(text)
        XCTAssertGreaterThan(full.count, 77)
        let cut = tokenizer.encode(text, padTo: 10)
        XCTAssertEqual(cut, Array(full.prefix(9)) + [tokenizer.eosTokenId])
        XCTAssertEqual(tokenizer.encode("", padTo: 4), [49406, 49407, 49407, 49407])
        XCTAssertEqual(tokenizer.encode(""), [49406, 49407])
        XCTAssertEqual(tokenizer(["a", "b"]).map(\.count), [77, 77])
    }

    func testVocabularySizeCountsTheLargestId() throws {
        let tokenizer = try tokenizer("clip", .slow)
        XCTAssertLessThan(tokenizer.vocabulary.count, 49408, "the committed vocabulary is the reduced one")
        XCTAssertEqual(tokenizer.vocabularySize, 49408)
    }

    func testMergesApplyLowestRankFirstAndLeftToRight() throws {
        let alphabet = BPEByteAlphabet()
        var vocabulary: [String: Int] = [:]
        for character in alphabet.characters {
            vocabulary[String(character)] = vocabulary.count
            vocabulary[String(character) + "</w>"] = vocabulary.count
        }
        for token in ["aa", "aa</w>", "lo", "low</w>", "<|startoftext|>", "<|endoftext|>"] {
            vocabulary[token] = vocabulary.count
        }
        let pairRanked = try CLIPTokenizer(vocabulary: vocabulary, merges: [("a", "a"), ("a", "a</w>"), ("l", "o"), ("lo", "w</w>")])
        XCTAssertEqual(pairRanked.tokenize("aaa low"), ["aa", "a</w>", "low</w>"], "the pair of rank 0 wins; left to right")
        XCTAssertEqual(pairRanked.tokenize("aaaa"), ["aa", "aa</w>"], "(a, a) twice in one pass, then (a, a</w>)")
        let suffixFirst = try CLIPTokenizer(vocabulary: vocabulary, merges: [("a", "a</w>"), ("a", "a")])
        XCTAssertEqual(suffixFirst.tokenize("aaa"), ["a", "aa</w>"])
        XCTAssertEqual(suffixFirst.tokenize("lo"), ["l", "o</w>"], "no merge ranks (l, o</w>)")
    }

    func testByteAlphabetMatchesGPT2Table() {
        let alphabet = BPEByteAlphabet()
        XCTAssertEqual(Set(alphabet.characters).count, 256)
        XCTAssertEqual(alphabet.characters[0x21], "!")
        XCTAssertEqual(alphabet.characters[0x00], "\u{100}")
        XCTAssertEqual(alphabet.characters[0x20], "\u{120}", "space is Ġ")
        XCTAssertEqual(alphabet.characters[0x7F], "\u{121}")
        XCTAssertEqual(alphabet.characters[0xAD], "\u{143}", "soft hyphen is the last moved byte")
        var bytes: [UInt8] = []
        let everyByte = (0...255).map { UInt8($0) }
        alphabet.decode(alphabet.encode(everyByte), into: &bytes)
        XCTAssertEqual(bytes, everyByte)
    }

    func testConcurrentUseGivesTheSameIds() throws {
        let tokenizer = try tokenizer("clip", .fast)
        let texts = Self.fixture.stress.cases.map(\.text)
        var results = [[Int]](repeating: [], count: texts.count)
        results.withUnsafeMutableBufferPointer { buffer in
            let out = buffer
            DispatchQueue.concurrentPerform(iterations: texts.count) { i in out[i] = tokenizer.encode(texts[i]) }
        }
        XCTAssertEqual(results, Self.fixture.stress.cases.map(\.fast.ids))
    }

    // MARK: - Saving

    func testSaveWritesFilesThatReloadToTheSameTokenizer() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-tokenizer-\(UUID().uuidString)/nested")
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        for folder in ["clip", "tiny"] {
            let original = try tokenizer(folder, .fast)
            try original.save(to: directory)
            for flavor in CLIPTokenizer.Flavor.allCases {
                let reloaded = try CLIPTokenizer(directory: directory, flavor: flavor)
                XCTAssertEqual(reloaded.vocabulary, original.vocabulary)
                XCTAssertEqual(reloaded.merges.map { [$0.0, $0.1] }, original.merges.map { [$0.0, $0.1] })
                XCTAssertEqual(reloaded.addedTokens, original.addedTokens)
                XCTAssertEqual(reloaded.padTokenId, original.padTokenId)
                XCTAssertEqual(reloaded.modelMaxLength, original.modelMaxLength)
                assertMatches(reloaded, folder == "clip" ? Self.fixture.clip : Self.fixture.tiny)
            }
            let merges = try String(contentsOf: directory.appendingPathComponent("merges.txt"), encoding: .utf8)
            XCTAssertTrue(merges.hasPrefix("#version: 0.2\n"))
            let configuration = try JSONSerialization.jsonObject(
                with: Data(contentsOf: directory.appendingPathComponent("tokenizer_config.json"))) as? [String: Any]
            XCTAssertEqual(configuration?["tokenizer_class"] as? String, "CLIPTokenizer")
            XCTAssertEqual(configuration?["pad_token"] as? String, original.padToken)
        }
    }

    func testSavedTokenizerJSONAloneReloadsToTheSameTokenizer() throws {
        // What transformers 5 and transformers 4's fast tokenizer read: tokenizer.json and the config only.
        // The pipeline folder's merges are pairs, Lethe writes strings: both encodings on real data.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-tokenizer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let sources = [("clip", Self.fixturesURL.appendingPathComponent("clip"), Self.fixture.clip),
                       ("tiny", Self.fixturesURL.appendingPathComponent("tiny"), Self.fixture.tiny),
                       ("sd_tiny", Self.pipelineTokenizerURL, Self.fixture.clip)]
        for (name, source, group) in sources {
            let saved = root.appendingPathComponent(name)
            let jsonOnly = root.appendingPathComponent(name + "-json")
            try CLIPTokenizer(directory: source).save(to: saved)
            try FileManager.default.createDirectory(at: jsonOnly, withIntermediateDirectories: true)
            for file in ["tokenizer.json", "tokenizer_config.json"] {
                try FileManager.default.copyItem(at: saved.appendingPathComponent(file), to: jsonOnly.appendingPathComponent(file))
            }
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonOnly.appendingPathComponent("tokenizer.json"))) as? [String: Any]
            XCTAssertTrue(((json?["model"] as? [String: Any])?["merges"] as? [Any])?.first is String, "merges are written as strings")
            for flavor in CLIPTokenizer.Flavor.allCases {
                let original = try CLIPTokenizer(directory: source, flavor: flavor)
                let reloaded = try CLIPTokenizer(directory: jsonOnly, flavor: flavor)
                XCTAssertEqual(reloaded.vocabulary, original.vocabulary, name)
                XCTAssertEqual(reloaded.merges.map { [$0.0, $0.1] }, original.merges.map { [$0.0, $0.1] }, name)
                XCTAssertEqual(reloaded.addedTokens, original.addedTokens, name)
                XCTAssertEqual(reloaded.padTokenId, original.padTokenId, name)
                XCTAssertEqual(reloaded.modelMaxLength, original.modelMaxLength, name)
                assertMatches(reloaded, group)
            }
        }
    }

    func testSaveRefusesMergesTheTokenizersLibraryCannotLoad() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-tokenizer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocabulary = try JSONDecoder().decode([String: Int].self, from: Data(self.vocabulary.utf8))
        let tokenizer = try CLIPTokenizer(vocabulary: vocabulary, merges: [("a", "b")])
        XCTAssertThrowsError(try tokenizer.save(to: directory)) { error in
            let description = "\(error)"
            XCTAssertTrue(description.contains("tokenizer.json") && description.contains("\"ab\""), description)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path), "nothing is written")
    }

    // MARK: - tokenizer.json

    private static let pipelineTokenizerURL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/pipeline/sd_tiny/tokenizer")

    func testTokenizerJSONOnlyFolderMatchesVocabularyFilesFolder() throws {
        // sd_tiny/tokenizer is the clip/ folder loaded and re-saved by transformers 5.
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.pipelineTokenizerURL.appendingPathComponent("vocab.json").path))
        XCTAssertEqual(try CLIPTokenizer(directory: Self.pipelineTokenizerURL).flavor, .slow)
        for flavor in CLIPTokenizer.Flavor.allCases {
            let fromJSON = try CLIPTokenizer(directory: Self.pipelineTokenizerURL, flavor: flavor)
            let fromFiles = try tokenizer("clip", flavor)
            XCTAssertEqual(fromJSON.vocabulary, fromFiles.vocabulary)
            XCTAssertEqual(fromJSON.merges.map { [$0.0, $0.1] }, fromFiles.merges.map { [$0.0, $0.1] })
            XCTAssertEqual(fromJSON.addedTokens, fromFiles.addedTokens)
            XCTAssertEqual([fromJSON.bosTokenId, fromJSON.eosTokenId, fromJSON.unkTokenId, fromJSON.padTokenId], [49406, 49407, 49407, 49407])
            XCTAssertEqual(fromJSON.modelMaxLength, 77)
            for testCase in Self.fixture.clip.cases + Self.fixture.stress.cases {
                XCTAssertEqual(fromJSON.encode(testCase.text), fromFiles.encode(testCase.text), "\(flavor) ids of \(testCase.text.debugDescription)")
            }
            assertMatches(fromJSON, Self.fixture.clip)
        }
        // transformers 5 writes the start token as normalized and the end token as not.
        let added = try CLIPTokenizer(directory: Self.pipelineTokenizerURL).addedTokens
        XCTAssertEqual(added.map(\.content), ["<|startoftext|>", "<|endoftext|>"])
        XCTAssertEqual(added.map(\.normalized), [true, false])
    }

    private static let pipelineTokenizerJSON = try! Data(contentsOf: pipelineTokenizerURL.appendingPathComponent("tokenizer.json"))

    /// The pipeline fixture's tokenizer.json cut down to the small vocabulary below, changed by `change`.
    private func smallTokenizerJSON(merges: [Any] = ["a b</w>"], _ change: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Self.pipelineTokenizerJSON) as? [String: Any])
        var model = try XCTUnwrap(object["model"] as? [String: Any])
        model["vocab"] = try JSONSerialization.jsonObject(with: Data(vocabulary.utf8))
        model["merges"] = merges
        object["model"] = model
        func added(_ content: String, _ id: Int) -> [String: Any] {
            ["id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]
        }
        object["added_tokens"] = [added("<|startoftext|>", 5), added("<|endoftext|>", 6)]
        object["post_processor"] = ["type": "RobertaProcessing", "sep": ["<|endoftext|>", 6], "cls": ["<|startoftext|>", 5],
                                    "trim_offsets": false, "add_prefix_space": false]
        change(&object)
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    private func changingModel(_ key: String, to value: Any?) -> (inout [String: Any]) -> Void {
        { object in
            var model = object["model"] as! [String: Any]
            model[key] = value
            object["model"] = model
        }
    }

    private func changingStep(_ field: String, _ listKey: String, _ index: Int, _ key: String, to value: Any) -> (inout [String: Any]) -> Void {
        { object in
            var sequence = object[field] as! [String: Any]
            var steps = sequence[listKey] as! [[String: Any]]
            steps[index][key] = value
            sequence[listKey] = steps
            object[field] = sequence
        }
    }

    func testTokenizerJSONMergesParseInBothEncodings() throws {
        let asStrings = try CLIPTokenizer(directory: folder(["tokenizer.json": try smallTokenizerJSON(merges: ["a b</w>", "b a"])]))
        let asPairs = try CLIPTokenizer(directory: folder(["tokenizer.json": try smallTokenizerJSON(merges: [["a", "b</w>"], ["b", "a"]])]))
        for tokenizer in [asStrings, asPairs] {
            XCTAssertEqual(tokenizer.merges.map { [$0.0, $0.1] }, [["a", "b</w>"], ["b", "a"]])
            XCTAssertEqual(tokenizer.encode("AB ab a"), [5, 4, 4, 2, 6])
            XCTAssertEqual(tokenizer.vocabulary.count, 7)
        }
    }

    func testUnsupportedTokenizerJSONIsNamed() throws {
        func check(_ json: String, _ words: [String], line: UInt = #line) throws {
            try assertThrows(["tokenizer.json": json], file: "tokenizer.json", mentioning: words, line: line)
        }
        try check("{", ["JSON"])
        try check(try smallTokenizerJSON { $0["model"] = nil }, ["\"model\""])
        try check(try smallTokenizerJSON(changingModel("type", to: "WordPiece")), ["model.type", "\"WordPiece\"", "BPE"])
        try check(try smallTokenizerJSON(changingModel("end_of_word_suffix", to: nil)), ["end_of_word_suffix", "</w>"])
        try check(try smallTokenizerJSON(changingModel("dropout", to: 0.1)), ["model.dropout"])
        try check(try smallTokenizerJSON(changingModel("byte_fallback", to: true)), ["model.byte_fallback"])
        try check(try smallTokenizerJSON(changingModel("vocab", to: ["a": "zero"])), ["model.vocab", "\"a\"", "integer"])
        try check(try smallTokenizerJSON(merges: ["a b", "ab"]), ["model.merges[1]", "\"ab\""])
        try check(try smallTokenizerJSON(merges: [["a", "b", "c"]]), ["model.merges[0]"])
        try check(try smallTokenizerJSON { $0["normalizer"] = ["type": "BertNormalizer", "lowercase": true] },
                  ["normalizer is BertNormalizer", "CLIP's normalizer"])
        try check(try smallTokenizerJSON { $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]] },
                  ["normalizer is Sequence [NFC, Lowercase]"])
        try check(try smallTokenizerJSON { $0["normalizer"] = NSNull() }, ["normalizer is missing"])
        try check(try smallTokenizerJSON(changingStep("normalizer", "normalizers", 1, "content", to: "_")), ["normalizer replaces", "\"_\""])
        try check(try smallTokenizerJSON { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": false] },
                  ["pre_tokenizer is ByteLevel", "CLIP's pre-tokenizer"])
        try check(try smallTokenizerJSON(changingStep("pre_tokenizer", "pretokenizers", 0, "pattern", to: ["Regex": "\\S+"])),
                  ["pre_tokenizer splits on", "not CLIP's regex"])
        try check(try smallTokenizerJSON(changingStep("pre_tokenizer", "pretokenizers", 0, "invert", to: false)), ["pre_tokenizer", "invert"])
        try check(try smallTokenizerJSON(changingStep("pre_tokenizer", "pretokenizers", 1, "add_prefix_space", to: true)),
                  ["pre_tokenizer", "add_prefix_space"])
        try check(try smallTokenizerJSON { $0["post_processor"] = ["type": "TemplateProcessing"] }, ["post_processor", "TemplateProcessing"])
        try check(try smallTokenizerJSON { $0["post_processor"] = ["type": "RobertaProcessing", "sep": ["<|endoftext|>", 6], "cls": ["a", 0]] },
                  ["post_processor.cls", "\"a\" (id 0)", "bos_token", "\"<|startoftext|>\" (id 5)"])
        try check(try smallTokenizerJSON(changingModel("unk_token", to: "a")), ["model.unk_token is \"a\"", "unk_token of tokenizer_config.json"])
        try check(try smallTokenizerJSON { $0["added_tokens"] = [["content": "<|endoftext|>"]] }, ["added_tokens[0]", "\"id\""])
    }

    func testBothFileSetsMustAgree() throws {
        let files = ["vocab.json": vocabulary, "merges.txt": merges]
        let agreeing = try CLIPTokenizer(directory: folder(files.merging(["tokenizer.json": try smallTokenizerJSON()]) { $1 }))
        XCTAssertEqual(agreeing.encode("AB ab a"), [5, 4, 4, 2, 6])
        func check(_ extra: [String: String], _ words: [String], line: UInt = #line) throws {
            try assertThrows(files.merging(extra) { $1 }, file: "tokenizer.json", mentioning: words + ["must agree"], line: line)
        }
        try check(["tokenizer.json": try smallTokenizerJSON(merges: ["b a</w>"])], ["model.merges[0]", "\"b a</w>\"", "merges.txt", "\"a b</w>\""])
        try check(["tokenizer.json": try smallTokenizerJSON(merges: ["a b</w>", "b a"])], ["2 merges", "merges.txt has 1"])
        try check(["tokenizer.json": try smallTokenizerJSON(changingModel("vocab", to: ["a": 0]))], ["model.vocab lacks", "vocab.json"])
        try check(["tokenizer.json": try smallTokenizerJSON(changingModel("vocab", to: ["a": 9, "b": 1]))], ["\"a\" the id 9", "vocab.json gives it the id 0"])
        // transformers 4's fast tokenizer would keep tokenizer.json's added tokens next to the config's.
        try assertThrows(files.merging(["tokenizer.json": try smallTokenizerJSON(),
                                        "tokenizer_config.json": #"{"added_tokens_decoder": {"6": {"content": "<|endoftext|>", "special": true}}}"#]) { $1 },
                         file: "tokenizer.json", mentioning: ["\"<|startoftext|>\" (id 5)", "added_tokens_decoder"])
    }

    func testTokenizerJSONOnlyFolderReadsSpecialTokensFromConfig() throws {
        // transformers 5 writes the special tokens of tokenizer_config.json as bare strings.
        let tokenizer = try CLIPTokenizer(directory: folder([
            "tokenizer.json": try smallTokenizerJSON(),
            "tokenizer_config.json": #"{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "ab</w>", "model_max_length": 5}"#,
        ]), flavor: .fast)
        XCTAssertEqual(tokenizer("b"), [5, 3, 6, 4, 4])
        XCTAssertEqual(tokenizer.addedTokens.map(\.content), ["ab</w>", "<|startoftext|>", "<|endoftext|>"])
        XCTAssertEqual(tokenizer.addedTokens.map(\.special), [true, true, true])
    }

    // MARK: - Bad folders

    private func folder(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        for (name, contents) in files {
            try Data(contents.utf8).write(to: directory.appendingPathComponent(name))
        }
        return directory
    }

    private func assertThrows(_ files: [String: String], file expectedFile: String, mentioning words: [String],
                              line: UInt = #line) throws {
        let directory = try folder(files)
        XCTAssertThrowsError(try CLIPTokenizer(directory: directory), line: line) { error in
            guard let error = error as? CLIPTokenizerError else { return XCTFail("unexpected \(error)", line: line) }
            XCTAssertEqual(error.file?.lastPathComponent, expectedFile, "\(error)", line: line)
            for word in words {
                XCTAssertTrue(error.description.contains(word), "\"\(error)\" should mention \(word)", line: line)
            }
        }
    }

    private let vocabulary = #"{"a": 0, "b": 1, "a</w>": 2, "b</w>": 3, "ab</w>": 4, "<|startoftext|>": 5, "<|endoftext|>": 6}"#
    private let merges = "#version: 0.2\na b</w>\n"

    func testMinimalFolderLoadsWithDefaults() throws {
        let tokenizer = try CLIPTokenizer(directory: folder(["vocab.json": vocabulary, "merges.txt": merges]))
        XCTAssertEqual(tokenizer.encode("AB ab a"), [5, 4, 4, 2, 6])
        XCTAssertEqual(tokenizer.modelMaxLength, 77)
        XCTAssertEqual(tokenizer.padTokenId, 6)
        XCTAssertEqual(tokenizer.encode("c"), [5, 6, 6], "a byte missing from the vocabulary is the unknown token")
    }

    func testMissingOrMalformedFilesAreNamed() throws {
        try assertThrows(["merges.txt": merges], file: "vocab.json", mentioning: ["not found"])
        try assertThrows(["vocab.json": vocabulary], file: "merges.txt", mentioning: ["not found"])
        try assertThrows(["vocab.json": "{\"a\": ", "merges.txt": merges], file: "vocab.json", mentioning: ["JSON"])
        try assertThrows(["vocab.json": "[1, 2]", "merges.txt": merges], file: "vocab.json", mentioning: ["object"])
        try assertThrows(["vocab.json": #"{"a": "zero"}"#, "merges.txt": merges], file: "vocab.json", mentioning: ["\"a\"", "integer"])
        try assertThrows(["vocab.json": #"{"a": 0, "b": 0}"#, "merges.txt": merges], file: "vocab.json", mentioning: ["share the id 0"])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": "#version: 0.2\na b\nab\n"], file: "merges.txt", mentioning: ["line 3", "\"ab\""])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": merges, "tokenizer_config.json": "{"],
                         file: "tokenizer_config.json", mentioning: ["JSON"])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": merges, "tokenizer_config.json": #"{"model_max_length": 1}"#],
                         file: "tokenizer_config.json", mentioning: ["model_max_length"])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": merges, "tokenizer_config.json": #"{"model_max_length": "long"}"#],
                         file: "tokenizer_config.json", mentioning: ["model_max_length", "integer"])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": merges, "special_tokens_map.json": #"{"pad_token": "<pad>"}"#],
                         file: "special_tokens_map.json", mentioning: ["pad_token", "<pad>"])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": merges, "tokenizer_config.json": #"{"bos_token": 3}"#],
                         file: "tokenizer_config.json", mentioning: ["bos_token"])
        try assertThrows(["vocab.json": vocabulary, "merges.txt": merges,
                          "tokenizer_config.json": #"{"added_tokens_decoder": {"9": {"content": "a"}}}"#],
                         file: "tokenizer_config.json", mentioning: ["\"a\"", "9"])
    }

    func testHugeModelMaxLengthMeansUnset() throws {
        let tokenizer = try CLIPTokenizer(directory: folder([
            "vocab.json": vocabulary, "merges.txt": merges,
            "tokenizer_config.json": #"{"model_max_length": 1000000000000000019884624838656}"#,
        ]))
        XCTAssertEqual(tokenizer.modelMaxLength, 77)
    }
}
