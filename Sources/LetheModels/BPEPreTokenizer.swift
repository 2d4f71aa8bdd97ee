import Foundation

/// Text is handled as arrays of Unicode scalars throughout: Python strings and Rust's regexes index
/// code points, while Swift's `Character` and `Regex` see grapheme clusters and would keep a
/// combining mark with its letter where the references split them apart.
typealias Scalars = [Unicode.Scalar]

extension Unicode.Scalar {
    /// `\p{L}`.
    var isBPELetter: Bool {
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`.
    var isBPENumber: Bool {
        switch properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\s` of the regex engines (the Unicode White_Space property).
    var isBPEWhitespace: Bool { properties.isWhitespace }

    /// Python's `str.isspace()` (what `str.split()` and `str.strip()` use): White_Space plus the
    /// information separators U+001C…U+001F.
    var isPythonWhitespace: Bool { properties.isWhitespace || (0x1C...0x1F).contains(value) }
}

/// One alternation of literals followed by letter, number and "other" classes, scanned the way a
/// backtracking regex does: at each position the first alternative that matches wins.
///
/// CLIP's pattern is
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`;
/// GPT-2's, which the tokenizers library's byte-level step applies to each CLIP piece, is
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (no piece has
/// whitespace left by then, so its optional spaces never match).
struct BPESplitPattern: Sendable {
    let literals: [Scalars]
    /// `[\p{N}]` (one digit per piece, CLIP) or `\p{N}+` (GPT-2).
    let numbersGroup: Bool
    /// The Python tokenizer compiles CLIP's pattern with `re.IGNORECASE`.
    let ignoresCase: Bool

    static func clip(ignoresCase: Bool) -> BPESplitPattern {
        BPESplitPattern(literals: (["<|startoftext|>", "<|endoftext|>"] + contractions).map { Array($0.unicodeScalars) },
                        numbersGroup: false, ignoresCase: ignoresCase)
    }

    static let gpt2 = BPESplitPattern(literals: contractions.map { Array($0.unicodeScalars) },
                                      numbersGroup: true, ignoresCase: false)

    private static let contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]

    /// The ranges of `text` the pattern matches (`re.findall`); whatever lies between them is whitespace.
    func pieces(of text: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var i = text.startIndex
        while i < text.endIndex {
            let start = i
            if let literal = literals.first(where: { matches($0, in: text, at: start) }) {
                i += literal.count
            } else if text[i].isBPELetter {
                while i < text.endIndex && text[i].isBPELetter { i += 1 }
            } else if text[i].isBPENumber {
                i += 1
                if numbersGroup { while i < text.endIndex && text[i].isBPENumber { i += 1 } }
            } else if !text[i].isBPEWhitespace {
                while i < text.endIndex && !text[i].isBPEWhitespace && !text[i].isBPELetter && !text[i].isBPENumber { i += 1 }
            } else {
                i += 1
                continue
            }
            pieces.append(start..<i)
        }
        return pieces
    }

    private func matches(_ literal: Scalars, in text: ArraySlice<Unicode.Scalar>, at start: Int) -> Bool {
        guard text.endIndex - start >= literal.count else { return false }
        for (offset, expected) in literal.enumerated() where !Self.equal(text[start + offset], expected, ignoringCase: ignoresCase) {
            return false
        }
        return true
    }

    /// The `regex` module's case-insensitive matching pairs the pattern's ASCII letters with their
    /// capitals only, and "s" also with "ſ" (U+017F LATIN SMALL LETTER LONG S).
    private static func equal(_ scalar: Unicode.Scalar, _ expected: Unicode.Scalar, ignoringCase: Bool) -> Bool {
        if scalar == expected { return true }
        guard ignoringCase, ("a"..."z").contains(expected) else { return false }
        return scalar.value == expected.value - 0x20 || (expected == "s" && scalar == "\u{17F}")
    }
}

/// The clean-up of transformers' Python `CLIPTokenizer` when ftfy is not installed:
/// `BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text)`, joined by spaces.
enum BasicTextCleaner {
    static func clean(_ text: ArraySlice<Unicode.Scalar>) -> Scalars {
        var cleaned = String.UnicodeScalarView()
        for scalar in text {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isCJKIdeograph(scalar) {
                // BERT's multilingual models made every ideograph its own word.
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(isWhitespace(scalar) ? " " : scalar)
            }
        }
        let composed = Array(String(cleaned).precomposedStringWithCanonicalMapping.unicodeScalars)
        var output: Scalars = []
        for word in composed.split(whereSeparator: { $0.isPythonWhitespace }) {
            if !output.isEmpty { output.append(" ") }
            // Lower-casing never yields whitespace, so BasicTokenizer's second split changes nothing.
            output.append(contentsOf: pythonLowercased(word))
        }
        return output
    }

    /// `_is_control`: general category C* except tab, newline and carriage return, which count as
    /// whitespace.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// `_is_whitespace`: space, tab, newline, carriage return and category Zs.
    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r"
            || scalar.properties.generalCategory == .spaceSeparator
    }

    /// `_is_chinese_char`: the CJK Unified Ideographs blocks and their extensions A–E and compatibility
    /// blocks (not kana or hangul).
    private static func isCJKIdeograph(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Python's `str.lower()`: full lower-case mappings, and capital sigma becomes final sigma after a
    /// cased letter when no cased letter follows (case-ignorable characters skipped both ways).
    static func pythonLowercased(_ word: ArraySlice<Unicode.Scalar>) -> Scalars {
        var output: Scalars = []
        output.reserveCapacity(word.count)
        for i in word.indices {
            if word[i] == "\u{3A3}" {
                output.append(isFinalSigma(word, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else {
                output.append(contentsOf: word[i].properties.lowercaseMapping.unicodeScalars)
            }
        }
        return output
    }

    private static func isFinalSigma(_ word: ArraySlice<Unicode.Scalar>, at i: Int) -> Bool {
        guard let before = word[..<i].last(where: { !$0.properties.isCaseIgnorable }), before.properties.isCased else {
            return false
        }
        guard let after = word[(i + 1)...].first(where: { !$0.properties.isCaseIgnorable }) else { return true }
        return !after.properties.isCased
    }
}

/// The normalizer of the tokenizers-library CLIP tokenizer: NFC, every run of `\s` to one space,
/// then each character lower-cased on its own (no final-sigma rule).
enum TokenizersTextNormalizer {
    static func normalize(_ text: ArraySlice<Unicode.Scalar>) -> Scalars {
        let composed = String(String.UnicodeScalarView(text)).precomposedStringWithCanonicalMapping.unicodeScalars
        var output: Scalars = []
        var inWhitespace = false
        for scalar in composed {
            if scalar.isBPEWhitespace {
                if !inWhitespace { output.append(" ") }
                inWhitespace = true
            } else {
                output.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
                inWhitespace = false
            }
        }
        return output
    }
}

/// Splits text at added tokens (the special tokens among them), which bypass BPE. Both references
/// take the leftmost match and, among matches starting there, the longest.
struct AddedTokenMatcher: Sendable {
    enum Segment {
        case text(ArraySlice<Unicode.Scalar>)
        case token(id: Int)
    }

    private let patterns: [(scalars: Scalars, id: Int)]

    init(_ patterns: [(scalars: Scalars, id: Int)]) {
        self.patterns = patterns.filter { !$0.scalars.isEmpty }.sorted { $0.scalars.count > $1.scalars.count }
    }

    func split(_ text: ArraySlice<Unicode.Scalar>) -> [Segment] {
        if patterns.isEmpty { return [.text(text)] }
        var segments: [Segment] = []
        var textStart = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            guard let match = patterns.first(where: { text[i...].starts(with: $0.scalars) }) else {
                i += 1
                continue
            }
            if textStart < i { segments.append(.text(text[textStart..<i])) }
            segments.append(.token(id: match.id))
            i += match.scalars.count
            textStart = i
        }
        if textStart < text.endIndex { segments.append(.text(text[textStart...])) }
        return segments
    }
}
