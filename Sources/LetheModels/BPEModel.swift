import Foundation

/// Byte-level byte-pair encoding of single words, with merges ranked by their line in merges.txt.
///
/// Symbols are interned to integers so merging compares integers, not strings. The merge loop is
/// the one of CLIP's and transformers' Python code: take the lowest-ranked adjacent pair, merge every
/// non-overlapping occurrence from left to right, repeat until no adjacent pair has a rank.
final class BPEModel: @unchecked Sendable {
    /// A word's symbols: an index into `symbols`, or `unknownSymbol`.
    typealias Symbol = Int32
    static let unknownSymbol: Symbol = -1

    let alphabet: BPEByteAlphabet
    let endOfWordSuffix: String
    /// The text of every symbol the merges can produce.
    let symbols: [String]
    /// Vocabulary id of each symbol, or nil when vocab.json lacks it.
    let vocabularyIds: [Int?]
    private let merges: [UInt64: (rank: Int, merged: Symbol)]
    private let byteSymbols: [Symbol]
    private let lastByteSymbols: [Symbol]
    private let isolatesUnknownSymbols: Bool
    private let cache = BPECache()

    /// - Parameter isolatesUnknownSymbols: the tokenizers library turns a starting character that is
    ///   not in the vocabulary into the unknown token before merging, so it never merges; the Python
    ///   tokenizer merges first and looks tokens up at the end.
    init(merges pairs: [(String, String)], vocabulary: [String: Int], alphabet: BPEByteAlphabet,
         endOfWordSuffix: String = "</w>", isolatesUnknownSymbols: Bool) {
        var symbols: [String] = []
        var index: [String: Symbol] = [:]
        func intern(_ text: String) -> Symbol {
            if let symbol = index[text] { return symbol }
            let symbol = Symbol(symbols.count)
            symbols.append(text)
            index[text] = symbol
            return symbol
        }
        byteSymbols = alphabet.characters.map { intern(String($0)) }
        lastByteSymbols = alphabet.characters.map { intern(String($0) + endOfWordSuffix) }
        var merges: [UInt64: (rank: Int, merged: Symbol)] = [:]
        for (rank, (first, second)) in pairs.enumerated() {
            // A repeated pair keeps its last rank, like the Python dict and the Rust HashMap do.
            merges[Self.key(intern(first), intern(second))] = (rank, intern(first + second))
        }
        self.merges = merges
        self.symbols = symbols
        self.vocabularyIds = symbols.map { vocabulary[$0] }
        self.alphabet = alphabet
        self.endOfWordSuffix = endOfWordSuffix
        self.isolatesUnknownSymbols = isolatesUnknownSymbols
    }

    private static func key(_ first: Symbol, _ second: Symbol) -> UInt64 {
        UInt64(UInt32(bitPattern: first)) << 32 | UInt64(UInt32(bitPattern: second))
    }

    /// The symbols of one pre-tokenized word given as UTF-8 bytes; the last one carries the
    /// end-of-word suffix.
    func encode(word bytes: [UInt8]) -> [Symbol] {
        if bytes.isEmpty { return [] }
        if let cached = cache[bytes] { return cached }
        var word = bytes.indices.map { i -> Symbol in
            let symbol = i == bytes.count - 1 ? lastByteSymbols[Int(bytes[i])] : byteSymbols[Int(bytes[i])]
            return isolatesUnknownSymbols && vocabularyIds[Int(symbol)] == nil ? Self.unknownSymbol : symbol
        }
        while word.count > 1 {
            var best: (rank: Int, first: Symbol, second: Symbol, merged: Symbol)?
            for i in 0..<(word.count - 1) where word[i] >= 0 && word[i + 1] >= 0 {
                if let merge = merges[Self.key(word[i], word[i + 1])], merge.rank < best?.rank ?? .max {
                    best = (merge.rank, word[i], word[i + 1], merge.merged)
                }
            }
            guard let best else { break }
            var merged: [Symbol] = []
            merged.reserveCapacity(word.count - 1)
            var i = 0
            while i < word.count {
                if i + 1 < word.count && word[i] == best.first && word[i + 1] == best.second {
                    merged.append(best.merged)
                    i += 2
                } else {
                    merged.append(word[i])
                    i += 1
                }
            }
            word = merged
        }
        cache[bytes] = word
        return word
    }
}

/// Words already encoded. Prompts repeat words a lot; the lock lets one tokenizer serve several
/// threads. Cleared when full rather than evicting one by one: cheap and bounded.
private final class BPECache: @unchecked Sendable {
    private var entries: [[UInt8]: [BPEModel.Symbol]] = [:]
    private let lock = NSLock()
    private let capacity = 10_000

    subscript(word: [UInt8]) -> [BPEModel.Symbol]? {
        get { lock.withLock { entries[word] } }
        set {
            lock.withLock {
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
                entries[word] = newValue
            }
        }
    }
}
