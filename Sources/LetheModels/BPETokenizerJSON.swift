import Foundation
import LetheCore

/// A CLIP tokenizer as the tokenizers library defines it in `tokenizer.json`: the one file
/// transformers 5 writes (next to tokenizer_config.json) and transformers 4's `CLIPTokenizerFast` reads.
///
/// Only the BPE model and the added tokens carry data; the normalizer and pre-tokenizer are checked to
/// be CLIP's, because transformers 4 runs whatever the file names while transformers 5 replaces them
/// with CLIP's own, so any other pipeline would tokenize differently depending on who loads the folder.
/// The decoder is not read: `CLIPTokenizer.decode` is CLIP's byte-level decoding whatever it says.
struct CLIPTokenizerJSON {
    static let fileName = "tokenizer.json"

    /// CLIP's split pattern exactly as transformers writes it (`Split(Regex(...), "removed", invert=True)`).
    static let clipPattern = #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#
    static let endOfWordSuffix = "</w>"

    let file: URL
    /// model.vocab.
    let vocabulary: [String: Int]
    /// model.merges in rank order.
    let merges: [(String, String)]
    /// model.unk_token, nil when the file gives none.
    let unkToken: String?
    let addedTokens: [CLIPTokenizer.AddedToken]
    /// The tokens RobertaProcessing puts around every sequence (`cls` first, `sep` last).
    let startToken: (content: String, id: Int)
    let endToken: (content: String, id: Int)

    init(file: URL) throws {
        self.file = file
        let object = try CLIPTokenizerFiles.readObject(file, required: true)!
        func fail(_ reason: String) -> CLIPTokenizerError { CLIPTokenizerError(file: file, reason: reason) }

        guard let model = object["model"] as? [String: Any] else {
            throw fail("has no \"model\" object; expected a tokenizers-library tokenizer.json")
        }
        guard model["type"] as? String == "BPE" else {
            throw fail("model.type is \(Self.describe(model["type"])); a CLIP tokenizer needs \"BPE\" (byte-pair encoding)")
        }
        // Options that change BPE's output; CLIP leaves them all off, and transformers 5 drops them
        // when it rebuilds the model, so honouring them would only match transformers 4.
        if let dropout = Self.present(model["dropout"]), (dropout as? Double) != 0 {
            throw fail("model.dropout is \(Self.describe(dropout)); BPE dropout (random merges) is not supported")
        }
        for key in ["fuse_unk", "byte_fallback", "ignore_merges"] {
            if let value = Self.present(model[key]), (value as? Bool) != false {
                throw fail("model.\(key) is \(Self.describe(value)); CLIP's BPE has it off (false) and Lethe supports only that")
            }
        }
        if let prefix = Self.present(model["continuing_subword_prefix"]), (prefix as? String) != "" {
            throw fail("model.continuing_subword_prefix is \(Self.describe(prefix)); CLIP's BPE has none (\"\")")
        }
        guard model["end_of_word_suffix"] as? String == Self.endOfWordSuffix else {
            throw fail("model.end_of_word_suffix is \(Self.describe(model["end_of_word_suffix"])); CLIP's BPE marks word ends with \"\(Self.endOfWordSuffix)\"")
        }
        switch Self.present(model["unk_token"]) {
        case nil: unkToken = nil
        case let token as String: unkToken = token
        case let other: throw fail("model.unk_token is \(Self.describe(other)); expected a string or null")
        }
        guard let vocabulary = model["vocab"] as? [String: Any] else {
            throw fail("model.vocab is \(Self.describe(model["vocab"])); expected an object mapping tokens to ids")
        }
        self.vocabulary = try CLIPTokenizerFiles.vocabulary(vocabulary, file: file, field: "model.vocab")
        merges = try Self.merges(model["merges"], file: file)

        switch Self.present(object["added_tokens"]) {
        case nil:
            addedTokens = []
        case let entries as [Any]:
            addedTokens = try entries.enumerated().map { index, entry in
                let field = "added_tokens[\(index)]"
                guard let token = entry as? [String: Any], let id = token["id"] as? Int, id >= 0 else {
                    throw fail("\(field) must be an object with a non-negative integer \"id\"")
                }
                return try CLIPTokenizerFiles.addedToken(token, id: id, field: field, file: file, specialByDefault: false)
            }
        case let other:
            throw fail("added_tokens is \(Self.describe(other)); expected a list of AddedToken objects")
        }

        try Self.checkNormalizer(object["normalizer"], file: file)
        try Self.checkPreTokenizer(object["pre_tokenizer"], file: file)
        (startToken, endToken) = try Self.postProcessorTokens(object["post_processor"], file: file)
    }

    /// Merges as "first second" strings (tokenizers < 0.20 and most Hub files) or as
    /// ["first", "second"] pairs (tokenizers ≥ 0.20, which transformers 5 writes). Byte-level
    /// symbols never hold a space, so the string form is unambiguous.
    private static func merges(_ value: Any?, file: URL) throws -> [(String, String)] {
        guard let entries = value as? [Any] else {
            throw CLIPTokenizerError(file: file, reason: "model.merges is \(describe(value)); expected a list of merges")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(entries.count)
        for (rank, entry) in entries.enumerated() {
            var parts: [String] = []
            if let text = entry as? String {
                parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let pair = entry as? [Any] {
                parts = pair.compactMap { $0 as? String }
                if parts.count != pair.count { parts = [] }
            }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CLIPTokenizerError(file: file, reason: "model.merges[\(rank)] is \(describe(entry)); expected \"first second\" or [\"first\", \"second\"]")
            }
            merges.append((parts[0], parts[1]))
        }
        return merges
    }

    // MARK: Checking the pipeline

    private static let supportedNormalizer = "CLIP's normalizer (Sequence of NFC, Replace \\s+ with \" \", Lowercase)"
    private static let supportedPreTokenizer = "CLIP's pre-tokenizer (Sequence of Split on CLIP's regex keeping the matches, ByteLevel without prefix space)"

    private static func checkNormalizer(_ value: Any?, file: URL) throws {
        func fail(_ found: String) -> CLIPTokenizerError {
            CLIPTokenizerError(file: file, reason: "normalizer \(found); only \(supportedNormalizer) is supported")
        }
        let steps = try self.steps(value, listKey: "normalizers", field: "normalizer", file: file)
        guard steps.map({ $0["type"] as? String ?? "?" }) == ["NFC", "Replace", "Lowercase"] else {
            throw fail("is \(summary(value, steps))")
        }
        let replace = steps[1]
        guard (replace["pattern"] as? [String: Any])?["Regex"] as? String == #"\s+"#, replace["content"] as? String == " " else {
            throw fail("replaces \(describe(replace["pattern"])) with \(describe(replace["content"]))")
        }
    }

    private static func checkPreTokenizer(_ value: Any?, file: URL) throws {
        func fail(_ found: String) -> CLIPTokenizerError {
            CLIPTokenizerError(file: file, reason: "pre_tokenizer \(found); only \(supportedPreTokenizer) is supported")
        }
        let steps = try self.steps(value, listKey: "pretokenizers", field: "pre_tokenizer", file: file)
        guard steps.map({ $0["type"] as? String ?? "?" }) == ["Split", "ByteLevel"] else {
            throw fail("is \(summary(value, steps))")
        }
        let split = steps[0]
        guard let pattern = (split["pattern"] as? [String: Any])?["Regex"] as? String, pattern == clipPattern else {
            throw fail("splits on \(describe(split["pattern"])), not CLIP's regex")
        }
        // invert=true with "Removed" keeps the regex's matches and drops what lies between them.
        guard split["behavior"] as? String == "Removed", split["invert"] as? Bool == true else {
            throw fail("splits with behavior \(describe(split["behavior"])) and invert \(describe(split["invert"])), not \"Removed\" and true")
        }
        let byteLevel = steps[1]
        // tokenizers defaults add_prefix_space to true when the key is absent.
        guard byteLevel["add_prefix_space"] as? Bool == false else {
            throw fail("has ByteLevel add_prefix_space \(describe(byteLevel["add_prefix_space"] ?? true)); CLIP adds no prefix space")
        }
        if let useRegex = present(byteLevel["use_regex"]), useRegex as? Bool != true {
            throw fail("has ByteLevel use_regex \(describe(useRegex)); CLIP's fast tokenizer splits each piece with GPT-2's regex (true)")
        }
    }

    /// The steps of a Sequence, or the one step of anything else.
    private static func steps(_ value: Any?, listKey: String, field: String, file: URL) throws -> [[String: Any]] {
        guard let object = value as? [String: Any] else {
            throw CLIPTokenizerError(file: file, reason: "\(field) is \(describe(value)); expected \(field == "normalizer" ? supportedNormalizer : supportedPreTokenizer)")
        }
        guard object["type"] as? String == "Sequence" else { return [object] }
        guard let list = object[listKey] as? [Any] else {
            throw CLIPTokenizerError(file: file, reason: "\(field) is a Sequence without a \"\(listKey)\" list")
        }
        return list.map { $0 as? [String: Any] ?? [:] }
    }

    private static func summary(_ value: Any?, _ steps: [[String: Any]]) -> String {
        let names = steps.map { $0["type"] as? String ?? "?" }
        return (value as? [String: Any])?["type"] as? String == "Sequence" ? "Sequence [\(names.joined(separator: ", "))]" : names[0]
    }

    private static func postProcessorTokens(_ value: Any?, file: URL) throws -> ((String, Int), (String, Int)) {
        func token(_ value: Any?) -> (String, Int)? {
            guard let pair = value as? [Any], pair.count == 2, let content = pair[0] as? String, let id = pair[1] as? Int else { return nil }
            return (content, id)
        }
        guard let object = value as? [String: Any], object["type"] as? String == "RobertaProcessing",
              let start = token(object["cls"]), let end = token(object["sep"]) else {
            let type = (value as? [String: Any])?["type"] ?? value
            throw CLIPTokenizerError(file: file, reason: "post_processor is \(describe(type)); expected CLIP's RobertaProcessing with \"cls\" and \"sep\" as [token, id]")
        }
        return (start, end)
    }

    // MARK: Writing

    /// tokenizer.json for `tokenizer`, in the layout transformers 5 writes. Merges are written as
    /// "first second" strings, which every tokenizers version reads (the pair form needs ≥ 0.20).
    static func data(for tokenizer: CLIPTokenizer, file: URL) throws -> Data {
        // The tokenizers library refuses a merge whose symbols or result are not in the vocabulary.
        for (rank, (first, second)) in tokenizer.merges.enumerated() {
            if let missing = [first, second, first + second].first(where: { tokenizer.vocabulary[$0] == nil }) {
                throw CLIPTokenizerError(file: file, reason: "cannot be written: merge \(rank) (\"\(first) \(second)\") uses \"\(missing)\", which is not in the vocabulary, and the tokenizers library cannot load that")
            }
        }
        let string: (String) -> String = jsonStringLiteral
        func bool(_ value: Bool) -> String { value ? "true" : "false" }
        let addedTokens = tokenizer.addedTokens.map { token in
            "    {\"id\": \(token.id), \"content\": \(string(token.content)), \"single_word\": \(bool(token.singleWord)), "
                + "\"lstrip\": \(bool(token.lstrip)), \"rstrip\": \(bool(token.rstrip)), "
                + "\"normalized\": \(bool(token.normalized)), \"special\": \(bool(token.special))}"
        }
        let vocabulary = tokenizer.vocabulary.sorted { $0.value < $1.value }.map { "      \(string($0.key)): \($0.value)" }
        let merges = tokenizer.merges.map { "      " + string("\($0.0) \($0.1)") }
        let lines = [
            "{",
            "  \"version\": \"1.0\",",
            "  \"truncation\": null,",
            "  \"padding\": null,",
            "  \"added_tokens\": [\n" + addedTokens.joined(separator: ",\n") + "\n  ],",
            #"  "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Lowercase"}]},"#,
            "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \(string(clipPattern))}, "
                + "\"behavior\": \"Removed\", \"invert\": true}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}]},",
            "  \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\(string(tokenizer.eosToken)), \(tokenizer.eosTokenId)], "
                + "\"cls\": [\(string(tokenizer.bosToken)), \(tokenizer.bosTokenId)], \"trim_offsets\": false, \"add_prefix_space\": false},",
            #"  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},"#,
            "  \"model\": {",
            "    \"type\": \"BPE\",",
            "    \"dropout\": null,",
            "    \"unk_token\": \(string(tokenizer.unkToken)),",
            "    \"continuing_subword_prefix\": \"\",",
            "    \"end_of_word_suffix\": \(string(endOfWordSuffix)),",
            "    \"fuse_unk\": false,",
            "    \"byte_fallback\": false,",
            "    \"ignore_merges\": false,",
            "    \"vocab\": {\n" + vocabulary.joined(separator: ",\n") + "\n    },",
            "    \"merges\": [" + (merges.isEmpty ? "]" : "\n" + merges.joined(separator: ",\n") + "\n    ]"),
            "  }",
            "}",
        ]
        return Data((lines.joined(separator: "\n") + "\n").utf8)
    }

    // MARK: Helpers

    /// The value unless it is missing or JSON null.
    private static func present(_ value: Any?) -> Any? {
        guard let value, !(value is NSNull) else { return nil }
        return value
    }

    /// A short rendering of a JSON value for error messages.
    static func describe(_ value: Any?) -> String {
        guard let value = present(value) else { return "missing" }
        if let text = value as? String { return jsonStringLiteral(text) }
        if JSONSerialization.isValidJSONObject(value),
           let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) {
            let text = String(decoding: data, as: UTF8.self)
            return text.count > 200 ? String(text.prefix(200)) + "…" : text
        }
        return "\(value)"
    }
}
