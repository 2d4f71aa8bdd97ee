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
