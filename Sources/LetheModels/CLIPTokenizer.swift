import Foundation

/// CLIP's byte-level BPE tokenizer, giving the token ids of transformers' `CLIPTokenizer` for a
/// folder in the transformers layout (`vocab.json`, `merges.txt`, `tokenizer_config.json`,
/// `special_tokens_map.json`).
///
/// transformers has shipped two CLIP tokenizers that disagree on unusual text (CJK ideographs,
/// control and zero-width characters, Greek final sigma, upper-case special-token literals), so the
/// one to reproduce is a `Flavor`. They agree on ordinary prompts. Neither applies ftfy's repairs
/// (mojibake, HTML entities, full-width letters), which only the Python tokenizer does when ftfy is
/// installed.
public struct CLIPTokenizer: Sendable {
    public enum Flavor: String, Sendable, CaseIterable {
        /// transformers ≤ 4 `CLIPTokenizer`, the Python one, without ftfy installed (the usual
        /// diffusers setup): BERT's BasicTokenizer clean-up (drops control and format characters,
        /// spaces out CJK ideographs, NFC, Python's `lower()`), CLIP's regex case-insensitively, BPE.
        case slow
        /// transformers ≥ 5 `CLIPTokenizer` and transformers 4 `CLIPTokenizerFast` (the Rust
        /// tokenizers library): NFC, whitespace runs to one space, per-character lower case, CLIP's
        /// regex, GPT-2's byte-level split, BPE.
        case fast
    }

    /// A token matched in the raw text before BPE (transformers' `AddedToken`). Special tokens are
    /// added tokens too.
    public struct AddedToken: Sendable, Equatable {
        public var content: String
        public var id: Int
        /// Left out by `decode(_:skipSpecialTokens:)`.
        public var special: Bool
        /// Matched in the normalized (lower-cased) text rather than the raw text; only the fast
        /// flavor reads it.
        public var normalized: Bool
        /// Kept for saving: CLIP drops all whitespace, so stripping it around the token changes no id.
        public var lstrip: Bool
        public var rstrip: Bool
        public var singleWord: Bool

        public init(content: String, id: Int, special: Bool = true, normalized: Bool = false,
                    lstrip: Bool = false, rstrip: Bool = false, singleWord: Bool = false) {
            self.content = content
            self.id = id
            self.special = special
            self.normalized = normalized
            self.lstrip = lstrip
            self.rstrip = rstrip
            self.singleWord = singleWord
        }
    }

    /// The Python tokenizer reads at most this many merges (`49152 - 256 - 2`): CLIP's vocabulary
    /// of 49,152 tokens less the 256 byte symbols and the two special tokens.
    static let slowMergeLimit = 49152 - 256 - 2

    public let flavor: Flavor
    /// Length of `callAsFunction`'s output: `model_max_length` of tokenizer_config.json, 77 if absent.
    public let modelMaxLength: Int
    public let bosToken: String
    public let eosToken: String
    public let unkToken: String
    public let padToken: String
    public let bosTokenId: Int
    public let eosTokenId: Int
    public let unkTokenId: Int
    public let padTokenId: Int
    /// The added tokens, special tokens included, by id.
    public let addedTokens: [AddedToken]
    /// vocab.json: token text to id.
    public let vocabulary: [String: Int]
    /// merges.txt in rank order.
    public let merges: [(String, String)]

    private let model: BPEModel
    private let tokensById: [Int: String]
    private let addedIds: [String: Int]
    private let specialIds: Set<Int>
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher

    /// One more than the largest token id: the rows the text encoder's token embedding needs
    /// (49,408 for CLIP).
    public var vocabularySize: Int { (tokensById.keys.max() ?? -1) + 1 }

    /// Loads a tokenizer folder; throws `CLIPTokenizerError` naming the file at fault.
    public init(directory: URL, flavor: Flavor = .slow) throws {
        let files = try CLIPTokenizerFiles(directory: directory)
        try self.init(vocabulary: files.vocabulary, merges: files.merges, modelMaxLength: files.modelMaxLength,
                      bosToken: files.specialTokens.bos, eosToken: files.specialTokens.eos,
                      unkToken: files.specialTokens.unk, padToken: files.specialTokens.pad,
                      addedTokens: files.addedTokens, flavor: flavor,
                      vocabularyFile: files.vocabularyFile, configurationFile: files.configurationFile)
    }

    /// A tokenizer from its parts. Special tokens that `addedTokens` does not list are added as
    /// special, non-normalized tokens with their vocabulary id.
    public init(vocabulary: [String: Int], merges: [(String, String)], modelMaxLength: Int = 77,
                bosToken: String = "<|startoftext|>", eosToken: String = "<|endoftext|>",
                unkToken: String = "<|endoftext|>", padToken: String = "<|endoftext|>",
                addedTokens: [AddedToken] = [], flavor: Flavor = .slow) throws {
        try self.init(vocabulary: vocabulary, merges: merges, modelMaxLength: modelMaxLength,
                      bosToken: bosToken, eosToken: eosToken, unkToken: unkToken, padToken: padToken,
                      addedTokens: addedTokens, flavor: flavor, vocabularyFile: nil, configurationFile: nil)
    }

    private init(vocabulary: [String: Int], merges: [(String, String)], modelMaxLength: Int,
                 bosToken: String, eosToken: String, unkToken: String, padToken: String,
                 addedTokens: [AddedToken], flavor: Flavor, vocabularyFile: URL?, configurationFile: URL?) throws {
        guard modelMaxLength >= 2 else {
            throw CLIPTokenizerError(file: configurationFile,
                                     reason: "model_max_length is \(modelMaxLength); it must leave room for the start and end tokens (≥ 2)")
        }
        var tokensById: [Int: String] = [:]
        for (token, id) in vocabulary {
            guard id >= 0 else {
                throw CLIPTokenizerError(file: vocabularyFile, reason: "token \"\(token)\" has the negative id \(id)")
            }
            if let other = tokensById[id] {
                throw CLIPTokenizerError(file: vocabularyFile, reason: "tokens \"\(other)\" and \"\(token)\" share the id \(id)")
            }
            tokensById[id] = token
        }
        var added = addedTokens
        var addedIds: [String: Int] = [:]
        for token in added {
            if let id = addedIds[token.content], id != token.id {
                throw CLIPTokenizerError(file: configurationFile, reason: "added token \"\(token.content)\" has two ids, \(id) and \(token.id)")
            }
            if let known = tokensById[token.id], known != token.content {
                throw CLIPTokenizerError(file: configurationFile,
                                         reason: "added token \"\(token.content)\" has the id \(token.id) of vocabulary token \"\(known)\"")
            }
            if let id = vocabulary[token.content], id != token.id {
                throw CLIPTokenizerError(file: configurationFile,
                                         reason: "added token \"\(token.content)\" has the id \(token.id) but vocab.json gives it \(id)")
            }
            addedIds[token.content] = token.id
            tokensById[token.id] = token.content
        }
        var roleIds: [Int] = []
        for (field, content) in [("bos_token", bosToken), ("eos_token", eosToken), ("unk_token", unkToken), ("pad_token", padToken)] {
            if addedIds[content] == nil {
                guard let id = vocabulary[content] else {
                    throw CLIPTokenizerError(file: configurationFile,
                                             reason: "\(field) \"\(content)\" is neither in vocab.json nor an added token")
                }
                added.append(AddedToken(content: content, id: id))
                addedIds[content] = id
            }
            roleIds.append(addedIds[content]!)
        }
        self.addedTokens = added.reduce(into: [AddedToken]()) { unique, token in
            if !unique.contains(where: { $0.content == token.content }) { unique.append(token) }
        }.sorted { $0.id < $1.id }
        self.bosTokenId = roleIds[0]
        self.eosTokenId = roleIds[1]
        self.unkTokenId = roleIds[2]
        self.padTokenId = roleIds[3]
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.unkToken = unkToken
        self.padToken = padToken
        self.specialIds = Set(roleIds + self.addedTokens.filter(\.special).map(\.id))
        self.tokensById = tokensById
        self.addedIds = addedIds
        self.vocabulary = vocabulary
        self.merges = merges
        self.modelMaxLength = modelMaxLength
        self.flavor = flavor

        let usedMerges = flavor == .slow ? Array(merges.prefix(Self.slowMergeLimit)) : merges
        model = BPEModel(merges: usedMerges, vocabulary: vocabulary, alphabet: BPEByteAlphabet(),
                         isolatesUnknownSymbols: flavor == .fast)
        // The Python tokenizer matches every added token in the raw text; the tokenizers library
        // matches normalized ones in the normalized text, against their normalized content.
        let rawTokens = self.addedTokens.filter { flavor == .slow || !$0.normalized }
        rawMatcher = AddedTokenMatcher(rawTokens.map { (Array($0.content.unicodeScalars), $0.id) })
        let normalizedTokens = flavor == .slow ? [] : self.addedTokens.filter(\.normalized)
        normalizedMatcher = AddedTokenMatcher(normalizedTokens.map {
            (TokenizersTextNormalizer.normalize(Array($0.content.unicodeScalars)[...]), $0.id)
        })
    }

    // MARK: - Encoding

    /// Ids with the start and end tokens, neither truncated nor padded
    /// (`tokenizer(text).input_ids`).
    public func encode(_ text: String) -> [Int] {
        [bosTokenId] + tokenIds(text) + [eosTokenId]
    }

    /// Exactly `length` ids: start token, the text's tokens cut to fit, end token, then padding
    /// (`tokenizer(text, padding="max_length", truncation=True, max_length=length).input_ids`).
    public func encode(_ text: String, padTo length: Int) -> [Int] {
        precondition(length >= 2, "a padded sequence needs room for the start and end tokens")
        var ids = [bosTokenId]
        ids += tokenIds(text).prefix(length - 2)
        ids.append(eosTokenId)
        ids += repeatElement(padTokenId, count: length - ids.count)
        return ids
    }

    /// `encode(text, padTo: modelMaxLength)`: what a diffusion pipeline feeds its text encoder.
    public func callAsFunction(_ text: String) -> [Int] {
        encode(text, padTo: modelMaxLength)
    }

    public func callAsFunction(_ texts: [String]) -> [[Int]] {
        texts.map { encode($0, padTo: modelMaxLength) }
    }

    /// The token strings of `text` without start and end tokens (`tokenizer.tokenize(text)`).
    public func tokenize(_ text: String) -> [String] {
        pieces(of: text).flatMap { piece -> [String] in
            switch piece {
            case .added(let id): return [tokensById[id]!]
            case .literal(let token): return [token]
            case .word(let bytes):
                return model.encode(word: bytes).map { $0 == BPEModel.unknownSymbol ? unkToken : model.symbols[Int($0)] }
            }
        }
    }

    private func tokenIds(_ text: String) -> [Int] {
        var ids: [Int] = []
        for piece in pieces(of: text) {
            switch piece {
            case .added(let id):
                ids.append(id)
            case .literal(let token):
                ids.append(addedIds[token] ?? vocabulary[token] ?? unkTokenId)
            case .word(let bytes):
                for symbol in model.encode(word: bytes) {
                    ids.append(symbol == BPEModel.unknownSymbol ? unkTokenId : model.vocabularyIds[Int(symbol)] ?? unkTokenId)
                }
            }
        }
        return ids
    }

    private enum Piece {
        case added(Int)
        /// The Python tokenizer's BPE cache starts with these two strings mapped to themselves, so
        /// text its regex reads as "<|startoftext|>" (any case, after lower-casing) becomes that token.
        case literal(String)
        case word([UInt8])
    }

    private static let slowPattern = BPESplitPattern.clip(ignoresCase: true)
    private static let fastPattern = BPESplitPattern.clip(ignoresCase: false)
    private static let cachedLiterals = ["<|startoftext|>", "<|endoftext|>"]

    private func pieces(of text: String) -> [Piece] {
        var pieces: [Piece] = []
        func words(_ text: Scalars, pattern: BPESplitPattern) {
            for range in pattern.pieces(of: text[...]) {
                let piece = text[range]
                if flavor == .slow, let literal = Self.cachedLiterals.first(where: { piece.elementsEqual($0.unicodeScalars) }) {
                    pieces.append(.literal(literal))
                } else if flavor == .fast {
                    for part in BPESplitPattern.gpt2.pieces(of: piece) { pieces.append(.word(Self.utf8(text[part]))) }
                } else {
                    pieces.append(.word(Self.utf8(piece)))
                }
            }
        }
        for segment in rawMatcher.split(Array(text.unicodeScalars)[...]) {
            switch segment {
            case .token(let id):
                pieces.append(.added(id))
            case .text(let part) where flavor == .slow:
                words(BasicTextCleaner.clean(part), pattern: Self.slowPattern)
            case .text(let part):
                let normalized = TokenizersTextNormalizer.normalize(part)
                for inner in normalizedMatcher.split(normalized[...]) {
                    switch inner {
                    case .token(let id): pieces.append(.added(id))
                    case .text(let innerPart): words(Array(innerPart), pattern: Self.fastPattern)
                    }
                }
            }
        }
        return pieces
    }

    private static func utf8(_ scalars: ArraySlice<Unicode.Scalar>) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in scalars { bytes.append(contentsOf: String(scalar).utf8) }
        return bytes
    }

    // MARK: - Decoding

    /// Text of `ids`: byte-level decoding, "</w>" read as a space, ends trimmed, invalid UTF-8
    /// replaced by U+FFFD (`tokenizer.decode(ids, skip_special_tokens=…,
    /// clean_up_tokenization_spaces=False)`). Ids the tokenizer does not know are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        var bytes: [UInt8] = []
        let alphabet = model.alphabet
        for id in ids where !(skipSpecialTokens && specialIds.contains(id)) {
            if let token = tokensById[id] { alphabet.decode(token, into: &bytes) }
        }
        // Replacing the suffix in the bytes equals replacing it in the text: ASCII bytes never occur
        // inside a multi-byte UTF-8 sequence.
        let suffix = Array(model.endOfWordSuffix.utf8)
        var spaced: [UInt8] = []
        spaced.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == suffix.first, bytes[i...].starts(with: suffix) {
                spaced.append(UInt8(ascii: " "))
                i += suffix.count
            } else {
                spaced.append(bytes[i])
                i += 1
            }
        }
        let scalars = Array(String(decoding: spaced, as: UTF8.self).unicodeScalars)
        guard let first = scalars.firstIndex(where: { !$0.isPythonWhitespace }),
              let last = scalars.lastIndex(where: { !$0.isPythonWhitespace }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    // MARK: - Saving

    /// Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json (each
    /// atomically) in the layout transformers' `from_pretrained` reads, creating `directory` if needed.
    public func save(to directory: URL) throws {
        try CLIPTokenizerFiles.write(self, to: directory)
    }
}

/// A tokenizer folder that cannot be read or written, naming the file and what was expected.
public struct CLIPTokenizerError: Error, CustomStringConvertible, LocalizedError {
    public let file: URL?
    public let reason: String

    public init(file: URL?, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { file.map { "\($0.path): \(reason)" } ?? reason }
    public var errorDescription: String? { description }
}
