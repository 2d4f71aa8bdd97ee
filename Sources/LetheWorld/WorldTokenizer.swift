// The world's own text vocabulary: byte-level BPE learned from training captions and saved in
// CLIP's files, so the world's small models read text with CLIP's tokenizer unchanged.
//
// The base vocabulary is CLIP's 512 byte symbols, so any text tokenizes without an unknown
// token; merges are learned from training captions only. A word that training captions never
// contain (held-out wordings are built from trained words, but a user's prompt need not be) then
// splits into several tokens, as an unseen word does in a real CLIP vocabulary.

import Foundation
import LetheCore
import LetheModels

/// The byte-pair merges that standard BPE learns from counted words.
public struct BPETrainer: Sendable {
    /// Most merges to learn; learning stops earlier once every word is one symbol.
    public var mergeBudget: Int

    public init(mergeBudget: Int) {
        precondition(mergeBudget >= 0, "a merge budget of \(mergeBudget)")
        self.mergeBudget = mergeBudget
    }

    /// Merges in rank order. `words` are pre-tokenized words as symbol strings (the last one
    /// carrying the end-of-word suffix) with how often each occurs. Each step merges the adjacent
    /// pair with the highest total count, every non-overlapping occurrence from left to right, as
    /// encoding later applies it; among equally frequent pairs the lexicographically smallest
    /// (first symbol, then second, by UTF-8 bytes) wins, so the result never depends on the order
    /// of `words`.
    public func merges(_ words: [(symbols: [String], count: Int)]) -> [(String, String)] {
        var symbols: [String] = []
        var index: [String: Int] = [:]
        func intern(_ text: String) -> Int {
            if let id = index[text] { return id }
            symbols.append(text)
            index[text] = symbols.count - 1
            return symbols.count - 1
        }
        var sequences = words.map { $0.symbols.map(intern) }
        let counts = words.map(\.count)
        var merges: [(String, String)] = []
        while merges.count < mergeBudget {
            var pairCounts: [Pair: Int] = [:]
            for (sequence, count) in zip(sequences, counts) where sequence.count > 1 {
                for i in 0..<(sequence.count - 1) { pairCounts[Pair(sequence[i], sequence[i + 1]), default: 0] += count }
            }
            var best: (pair: Pair, count: Int)?
            for (pair, count) in pairCounts {
                guard let current = best else {
                    best = (pair, count)
                    continue
                }
                if count > current.count
                    || (count == current.count && Self.precedes(pair, current.pair, symbols: symbols)) {
                    best = (pair, count)
                }
            }
            guard let best else { break }
            let merged = intern(symbols[best.pair.first] + symbols[best.pair.second])
            merges.append((symbols[best.pair.first], symbols[best.pair.second]))
            for w in sequences.indices where sequences[w].count > 1 {
                sequences[w] = Self.apply(best.pair, merged: merged, to: sequences[w])
            }
        }
        return merges
    }

    private struct Pair: Hashable {
        let first: Int, second: Int
        init(_ first: Int, _ second: Int) {
            self.first = first
            self.second = second
        }
    }

    private static func precedes(_ a: Pair, _ b: Pair, symbols: [String]) -> Bool {
        let (a1, b1) = (symbols[a.first], symbols[b.first])
        if a1 != b1 { return a1.utf8.lexicographicallyPrecedes(b1.utf8) }
        return symbols[a.second].utf8.lexicographicallyPrecedes(symbols[b.second].utf8)
    }

    private static func apply(_ pair: Pair, merged: Int, to sequence: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(sequence.count)
        var i = 0
        while i < sequence.count {
            if i + 1 < sequence.count && sequence[i] == pair.first && sequence[i + 1] == pair.second {
                out.append(merged)
                i += 2
            } else {
                out.append(sequence[i])
                i += 1
            }
        }
        return out
    }
}

/// CLIP's vocabulary layout, shared by every vocabulary this module builds.
public enum CLIPVocabularyLayout {
    public static let startToken = "<|startoftext|>"
    public static let endToken = "<|endoftext|>"
    public static let endOfWord = "</w>"

    /// The characters GPT-2's `bytes_to_unicode` gives the 256 bytes, in the order CLIP's
    /// vocab.json lists them: the printable Latin-1 bytes standing for themselves first, then the
    /// 68 others, in byte order, as U+0100…. (LetheModels keeps its byte table private; the
    /// round-trip tests check that both agree.)
    public static let byteSymbols: [String] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let kept = Set(printable)
        let moved = (0..<256).filter { !kept.contains($0) }
        return printable.map { String(Unicode.Scalar(UInt8($0))) }
            + moved.indices.map { String(Unicode.Scalar(UInt32(256 + $0))!) }
    }()

    /// ids 0–255 the byte symbols, 256–511 the same followed by "</w>", then each merge's result in
    /// rank order (a result already present keeps its id), then the start and end tokens.
    public static func vocabulary(merges: [(String, String)]) -> [String: Int] {
        var vocabulary: [String: Int] = [:]
        func add(_ token: String) {
            if vocabulary[token] == nil { vocabulary[token] = vocabulary.count }
        }
        byteSymbols.forEach(add)
        byteSymbols.forEach { add($0 + endOfWord) }
        merges.forEach { add($0.0 + $0.1) }
        add(startToken)
        add(endToken)
        return vocabulary
    }

    /// A tokenizer in CLIP's layout: start token first, end token last and as padding.
    public static func tokenizer(merges: [(String, String)], modelMaxLength: Int) throws -> CLIPTokenizer {
        try CLIPTokenizer(vocabulary: vocabulary(merges: merges), merges: merges, modelMaxLength: modelMaxLength,
                          bosToken: startToken, eosToken: endToken, unkToken: endToken, padToken: endToken)
    }
}

/// A text longer than the model's context with the learned vocabulary.
public struct WorldTokenizerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The world's vocabulary as learned: the tokenizer and what went into it.
public struct WorldVocabulary: Sendable {
    public let tokenizer: CLIPTokenizer
    /// Every training word (lowercased, as the tokenizer sees it) with its count in the caption
    /// sample; words of the catalogue's training vocabulary that the sample missed count once.
    public let wordCounts: [String: Int]
    /// Training words still more than one token when the merge budget ran out, sorted.
    public let splitWords: [String]
    /// The longest of the checked prompts and captions and its length in tokens, start and end
    /// tokens included.
    public let longest: (text: String, tokens: Int)

    /// The tokenizer's file names, as `save(to:)` writes them.
    public static let fileNames = ["merges.txt", "special_tokens_map.json", "tokenizer.json",
                                   "tokenizer_config.json", "vocab.json"]

    /// Writes the tokenizer folder (`fileNames`), creating `directory` if needed. All files are
    /// written into a staging folder first and then each is renamed into place, so a failure
    /// leaves the previous files as they were; other files in `directory` are left alone.
    public func save(to directory: URL) throws {
        let fm = FileManager.default
        let parent = directory.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(directory.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CLIPTokenizerError(file: directory, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        defer { try? fm.removeItem(at: staging) }
        try tokenizer.save(to: staging)
        for name in Self.fileNames {
            let (from, to) = (staging.appendingPathComponent(name), directory.appendingPathComponent(name))
            guard rename(from.path, to.path) == 0 else {
                throw CLIPTokenizerError(file: to, reason: "cannot be written: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// Learns the world's vocabulary: word counts from a sample of training captions, BPE merges
/// until every training word is one token (or the budget runs out), CLIP's layout.
public struct WorldTokenizerTrainer: Sendable {
    /// Where training captions come from (its writer holds the catalogue and the excluded prompts).
    public var dataset: WorldDataset
    /// Training captions sampled for word counts, half image and half clip captions.
    public var captionCount: Int
    public var mergeBudget: Int
    /// Context lengths the text encoder may have, start and end tokens included: the tokenizer
    /// gets the smallest that holds every checked prompt and sampled caption.
    public var modelMaxLengths: [Int]
    /// Prompts that must fit in `modelMaxLength` besides the sampled captions (eval and held-out
    /// prompts); they play no part in learning.
    public var checkedPrompts: [String]

    public init(dataset: WorldDataset, captionCount: Int, mergeBudget: Int, modelMaxLengths: [Int], checkedPrompts: [String]) {
        self.dataset = dataset
        self.captionCount = captionCount
        self.mergeBudget = mergeBudget
        self.modelMaxLengths = modelMaxLengths
        self.checkedPrompts = checkedPrompts
    }

    /// The committed vocabulary (configs/world/tokenizer): v1 captions, every v1 eval and held-out
    /// prompt checked; the context is 16, 20 or 24 tokens, whichever is the smallest that fits.
    /// (Captions are at most 12 words and every training word becomes one token, so it is 16.)
    public static func v1() -> WorldTokenizerTrainer {
        let sets = PromptSetGenerator.v1()
        return WorldTokenizerTrainer(
            dataset: WorldDataset(seed: 0x576F_726C_6454, config: .v1, catalog: .v1,
                                  excludedPrompts: PromptSetGenerator.exclusions([sets.eval, sets.heldout])),
            captionCount: 10_000, mergeBudget: 1000, modelMaxLengths: [16, 20, 24],
            checkedPrompts: (sets.eval.entries + sets.heldout.entries).map(\.prompt))
    }

    /// `captionCount` training captions, without rendering their clips; drawn on all cores, each
    /// from its own generator forked in order, so the result does not depend on the core count.
    public func trainCaptions() -> [String] {
        var rng = RandomGenerator(seed: dataset.seed)
        let generators = (0..<captionCount).map { _ in rng.fork() }
        var captions = [String](repeating: "", count: captionCount)
        captions.withUnsafeMutableBufferPointer { out in
            parallelForEach(captionCount) { i in
                var item = generators[i]
                let spec = dataset.sampler.sample(i % 2 == 0 ? .image : .clip, rng: &item)
                out[i] = dataset.writer.caption(for: spec, rng: &item).prompt
            }
        }
        return captions
    }

    public func train() throws -> WorldVocabulary {
        let captions = trainCaptions()
        // Texts are cut at spaces first and each distinct chunk pre-tokenized once: CLIP's clean-up
        // splits at spaces and its regex never matches across one, so a text's words are its
        // chunks' words in order. This keeps the (slow) pre-tokenizer off thousands of repeats of "a".
        var chunkCounts: [Substring: Int] = [:]
        for caption in captions {
            for chunk in caption.split(separator: " ") { chunkCounts[chunk, default: 0] += 1 }
        }
        let splitter = try Self.wordSplitter()
        var counts: [[String]: Int] = [:]
        for (chunk, n) in chunkCounts {
            for word in Self.words(String(chunk), splitter) { counts[word, default: 0] += n }
        }
        for word in dataset.writer.catalog.trainVocabulary.sorted() {
            for piece in Self.words(word, splitter) where counts[piece] == nil { counts[piece] = 1 }
        }
        let merges = BPETrainer(mergeBudget: mergeBudget).merges(counts.map { ($0.key, $0.value) })
        // The length is chosen below, once the longest text is known; the vocabulary does not depend on it.
        let tokenizer = try CLIPVocabularyLayout.tokenizer(merges: merges, modelMaxLength: 2)

        let wordCounts = Dictionary(uniqueKeysWithValues: counts.map { (Self.text(of: $0.key, splitter), $0.value) })
        let splitWords = wordCounts.keys.filter { tokenizer.tokenize($0).count > 1 }.sorted()
        var chunkTokens: [Substring: Int] = [:]
        var longest = (text: "", tokens: 0)
        for text in checkedPrompts + captions {
            var n = 2
            for chunk in text.split(separator: " ") {
                if let known = chunkTokens[chunk] {
                    n += known
                } else {
                    let tokens = tokenizer.tokenize(String(chunk)).count
                    chunkTokens[chunk] = tokens
                    n += tokens
                }
            }
            if n > longest.tokens { longest = (text, n) }
        }
        guard let length = modelMaxLengths.sorted().first(where: { $0 >= longest.tokens }) else {
            throw WorldTokenizerError(message: "\"\(longest.text)\" is \(longest.tokens) tokens with the learned vocabulary "
                + "(start and end included), more than every allowed model length \(modelMaxLengths)")
        }
        let sized = try CLIPVocabularyLayout.tokenizer(merges: merges, modelMaxLength: length)
        return WorldVocabulary(tokenizer: sized, wordCounts: wordCounts, splitWords: splitWords, longest: longest)
    }

    /// CLIP's own pre-tokenizer (clean-up, lower case, CLIP's split, bytes to symbols): a tokenizer
    /// without merges leaves each word as its byte symbols, the last one marked "</w>".
    private static func wordSplitter() throws -> CLIPTokenizer {
        try CLIPVocabularyLayout.tokenizer(merges: [], modelMaxLength: 2)
    }

    private static func words(_ text: String, _ splitter: CLIPTokenizer) -> [[String]] {
        var words: [[String]] = []
        var current: [String] = []
        for symbol in splitter.tokenize(text) {
            current.append(symbol)
            if symbol.hasSuffix(CLIPVocabularyLayout.endOfWord) {
                words.append(current)
                current = []
            }
        }
        return words
    }

    /// The word a symbol sequence spells (what the tokenizer's input held, lowercased).
    private static func text(of symbols: [String], _ splitter: CLIPTokenizer) -> String {
        splitter.decode(symbols.map { splitter.vocabulary[$0]! })
    }
}
