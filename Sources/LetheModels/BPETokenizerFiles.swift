import Foundation
import LetheCore

/// Reading and writing a tokenizer folder in the transformers layout.
///
/// The vocabulary and merges come from vocab.json + merges.txt (what transformers 4 writes and its
/// Python tokenizer reads) or from tokenizer.json (the tokenizers library's file, all that
/// transformers 5 writes). When a folder has both, vocab.json + merges.txt are used: they are the
/// files of the default `.slow` flavor's reference and of every transformers 4 folder on the Hub.
/// tokenizer.json is then still read and must agree with them, since transformers 4's fast tokenizer
/// and transformers 5 would read it instead and a disagreement means the folder tokenizes one way or
/// the other depending on who loads it.
struct CLIPTokenizerFiles {
    static let vocabularyName = "vocab.json"
    static let mergesName = "merges.txt"
    static let configurationName = "tokenizer_config.json"
    static let specialTokensMapName = "special_tokens_map.json"
    static let defaultModelMaxLength = 77

    var vocabulary: [String: Int]
    var merges: [(String, String)]
    var modelMaxLength: Int
    var specialTokens: (bos: String, eos: String, unk: String, pad: String)
    var addedTokens: [CLIPTokenizer.AddedToken]
    /// vocab.json, or tokenizer.json when the vocabulary came from there.
    let vocabularyFile: URL
    let configurationFile: URL

    init(directory: URL) throws {
        configurationFile = directory.appendingPathComponent(Self.configurationName)
        let vocabularyURL = directory.appendingPathComponent(Self.vocabularyName)
        let mergesURL = directory.appendingPathComponent(Self.mergesName)
        let tokenizerJSONURL = directory.appendingPathComponent(CLIPTokenizerJSON.fileName)
        let exists = { (file: URL) in FileManager.default.fileExists(atPath: file.path) }
        let tokenizerJSON = exists(tokenizerJSONURL) ? try CLIPTokenizerJSON(file: tokenizerJSONURL) : nil
        if let tokenizerJSON, !(exists(vocabularyURL) && exists(mergesURL)) {
            vocabularyFile = tokenizerJSONURL
            vocabulary = tokenizerJSON.vocabulary
            merges = tokenizerJSON.merges
        } else {
            vocabularyFile = vocabularyURL
            vocabulary = try Self.readVocabulary(vocabularyURL)
            merges = try Self.readMerges(mergesURL)
            if let tokenizerJSON { try Self.checkAgreement(tokenizerJSON, vocabulary: vocabulary, merges: merges) }
        }
        let configuration = try Self.readObject(configurationFile, required: false) ?? [:]
        modelMaxLength = try Self.modelMaxLength(in: configuration, file: configurationFile)

        // transformers reads special_tokens_map.json, and tokenizer.json's added tokens, only for
        // folders whose tokenizer_config.json lacks "added_tokens_decoder" (saved before it existed,
        // or by transformers 5, which writes the special tokens there as bare strings); when read,
        // special_tokens_map.json overrides tokenizer_config.json.
        var decoder: [CLIPTokenizer.AddedToken] = []
        var roles: [String: (token: RoleToken, file: URL)] = [:]
        for field in Self.roleFields {
            roles[field] = (RoleToken(content: Self.defaultContents[field]!, flags: nil), configurationFile)
        }
        let readRoles = { (object: [String: Any], file: URL, specialByDefault: Bool) throws in
            for field in Self.roleFields {
                if let token = try Self.roleToken(object[field], field: field, file: file, specialByDefault: specialByDefault) {
                    roles[field] = (token, file)
                }
            }
        }
        try readRoles(configuration, configurationFile, false)
        if let entries = configuration["added_tokens_decoder"] {
            decoder = try Self.addedTokensDecoder(entries, file: configurationFile)
            // transformers 4's fast tokenizer keeps tokenizer.json's added tokens as well.
            for token in tokenizerJSON?.addedTokens ?? [] where !decoder.contains(where: { $0.id == token.id && $0.content == token.content }) {
                throw CLIPTokenizerError(file: tokenizerJSONURL,
                                         reason: "added token \"\(token.content)\" (id \(token.id)) is not in added_tokens_decoder of \(Self.configurationName) with that id")
            }
        } else {
            let mapFile = directory.appendingPathComponent(Self.specialTokensMapName)
            if let map = try Self.readObject(mapFile, required: false) { try readRoles(map, mapFile, true) }
            decoder = tokenizerJSON?.addedTokens ?? []
        }

        // Roles share tokens ("<|endoftext|>" is eos, unk and pad); a token listed in
        // added_tokens_decoder (or tokenizer.json) keeps its flags there, otherwise the last role
        // naming it sets them.
        var added = decoder
        for field in Self.roleFields {
            let (role, file) = roles[field]!
            if let i = added.firstIndex(where: { $0.content == role.content }) {
                if i < decoder.count {
                    added[i].special = true
                } else {
                    added[i] = (role.flags ?? RoleToken.Flags()).token(role.content, id: added[i].id)
                }
                continue
            }
            guard let id = vocabulary[role.content] else {
                throw CLIPTokenizerError(file: file, reason: "\(field) \"\(role.content)\" is neither in \(vocabularyFile.lastPathComponent) nor an added token")
            }
            added.append((role.flags ?? RoleToken.Flags()).token(role.content, id: id))
        }
        addedTokens = added
        specialTokens = (roles["bos_token"]!.token.content, roles["eos_token"]!.token.content,
                         roles["unk_token"]!.token.content, roles["pad_token"]!.token.content)
        if let tokenizerJSON { try Self.checkRoles(tokenizerJSON, roles: roles, added: added) }
    }

    /// tokenizer.json next to vocab.json and merges.txt must hold the same vocabulary and merges.
    private static func checkAgreement(_ tokenizerJSON: CLIPTokenizerJSON, vocabulary: [String: Int],
                                       merges: [(String, String)]) throws {
        func fail(_ reason: String) -> CLIPTokenizerError {
            CLIPTokenizerError(file: tokenizerJSON.file, reason: reason + "; the folder's two definitions of the tokenizer must agree")
        }
        if tokenizerJSON.vocabulary != vocabulary {
            if let (token, id) = tokenizerJSON.vocabulary.first(where: { vocabulary[$0.key] != $0.value }) {
                let other = vocabulary[token].map { "the id \($0)" } ?? "no id"
                throw fail("model.vocab gives \"\(token)\" the id \(id) but \(vocabularyName) gives it \(other)")
            }
            let token = vocabulary.keys.first { tokenizerJSON.vocabulary[$0] == nil } ?? ""
            throw fail("model.vocab lacks \"\(token)\" of \(vocabularyName)")
        }
        let pairs = tokenizerJSON.merges
        if let rank = pairs.indices.first(where: { $0 < merges.count && (pairs[$0].0 != merges[$0].0 || pairs[$0].1 != merges[$0].1) }) {
            throw fail("model.merges[\(rank)] is \"\(pairs[rank].0) \(pairs[rank].1)\" but line \(rank + 1) of the merges in \(mergesName) is \"\(merges[rank].0) \(merges[rank].1)\"")
        }
        if pairs.count != merges.count {
            throw fail("model.merges has \(pairs.count) merges but \(mergesName) has \(merges.count)")
        }
    }

    /// tokenizer.json's own unknown, start and end tokens must be the folder's special tokens:
    /// transformers 4's fast tokenizer uses the file's, transformers 5 the config's.
    private static func checkRoles(_ tokenizerJSON: CLIPTokenizerJSON, roles: [String: (token: RoleToken, file: URL)],
                                   added: [CLIPTokenizer.AddedToken]) throws {
        var checks: [(field: String, content: String, id: Int?, role: String)] = [
            ("post_processor.cls", tokenizerJSON.startToken.content, tokenizerJSON.startToken.id, "bos_token"),
            ("post_processor.sep", tokenizerJSON.endToken.content, tokenizerJSON.endToken.id, "eos_token"),
        ]
        if let unk = tokenizerJSON.unkToken { checks.append(("model.unk_token", unk, nil, "unk_token")) }
        for (field, content, id, role) in checks {
            let (expected, file) = roles[role]!
            let expectedId = added.first { $0.content == expected.content }?.id
            if content != expected.content || (id != nil && id != expectedId) {
                let given = id.map { "\"\(content)\" (id \($0))" } ?? "\"\(content)\""
                let wanted = expectedId.map { "\"\(expected.content)\" (id \($0))" } ?? "\"\(expected.content)\""
                throw CLIPTokenizerError(file: tokenizerJSON.file,
                                         reason: "\(field) is \(given) but \(role) of \(file.lastPathComponent) is \(wanted)")
            }
        }
    }

    private static let roleFields = ["bos_token", "eos_token", "unk_token", "pad_token"]
    private static let defaultContents = ["bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                                          "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"]

    /// A special token as a config file gives it: a bare string, or an AddedToken object with flags.
    private struct RoleToken {
        struct Flags {
            var normalized = false
            var lstrip = false
            var rstrip = false
            var singleWord = false

            func token(_ content: String, id: Int) -> CLIPTokenizer.AddedToken {
                CLIPTokenizer.AddedToken(content: content, id: id, special: true, normalized: normalized,
                                         lstrip: lstrip, rstrip: rstrip, singleWord: singleWord)
            }
        }

        var content: String
        var flags: Flags?
    }

    // MARK: Reading

    private static func readData(_ file: URL, required: Bool) throws -> Data? {
        guard FileManager.default.fileExists(atPath: file.path) else {
            if !required { return nil }
            throw CLIPTokenizerError(file: file, reason: "file not found (a CLIP tokenizer folder needs \(vocabularyName) and \(mergesName), or \(CLIPTokenizerJSON.fileName))")
        }
        do {
            return try Data(contentsOf: file)
        } catch {
            throw CLIPTokenizerError(file: file, reason: "cannot be read: \(error.localizedDescription)")
        }
    }

    static func readObject(_ file: URL, required: Bool) throws -> [String: Any]? {
        guard let data = try readData(file, required: required) else { return nil }
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw CLIPTokenizerError(file: file, reason: "is not valid JSON (\(error.localizedDescription))")
        }
        guard let object = value as? [String: Any] else {
            throw CLIPTokenizerError(file: file, reason: "must hold a JSON object")
        }
        return object
    }

    private static func readVocabulary(_ file: URL) throws -> [String: Int] {
        try vocabulary(try readObject(file, required: true)!, file: file, field: nil)
    }

    /// A {token: id} object; `field` is its place in the file when not the whole file.
    static func vocabulary(_ object: [String: Any], file: URL, field: String?) throws -> [String: Int] {
        let place = field.map { "\($0): " } ?? ""
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(object.count)
        var tokensById: [Int: String] = [:]
        for (token, value) in object {
            guard let id = value as? Int, id >= 0 else {
                throw CLIPTokenizerError(file: file, reason: "\(place)token \"\(token)\" maps to \(value); expected a non-negative integer id")
            }
            if let other = tokensById.updateValue(token, forKey: id) {
                throw CLIPTokenizerError(file: file, reason: "\(place)tokens \"\(other)\" and \"\(token)\" share the id \(id)")
            }
            vocabulary[token] = id
        }
        if vocabulary.isEmpty { throw CLIPTokenizerError(file: file, reason: "\(place)holds no tokens") }
        return vocabulary
    }

    /// One merge per line, "first second", ranked by line; "#version" header lines are skipped.
    private static func readMerges(_ file: URL) throws -> [(String, String)] {
        let data = try readData(file, required: true)!
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIPTokenizerError(file: file, reason: "is not UTF-8 text")
        }
        var merges: [(String, String)] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CLIPTokenizerError(file: file, reason: "line \(number + 1) is \"\(line)\"; expected two symbols separated by one space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    private static func modelMaxLength(in configuration: [String: Any], file: URL) throws -> Int {
        guard let value = configuration["model_max_length"], !(value is NSNull) else { return defaultModelMaxLength }
        guard let number = value as? Double, number.rounded() == number else {
            throw CLIPTokenizerError(file: file, reason: "model_max_length is \(value); expected an integer")
        }
        // transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit"; CLIP's text encoders hold 77
        // positions.
        if number > Double(Int32.max) { return defaultModelMaxLength }
        return Int(number)
    }

    private static func roleToken(_ value: Any?, field: String, file: URL, specialByDefault: Bool) throws -> RoleToken? {
        switch value {
        case nil, is NSNull:
            return nil
        case let content as String:
            return RoleToken(content: content, flags: nil)
        case let object as [String: Any]:
            let token = try addedToken(object, id: 0, field: field, file: file, specialByDefault: specialByDefault)
            return RoleToken(content: token.content, flags: RoleToken.Flags(normalized: token.normalized, lstrip: token.lstrip,
                                                                           rstrip: token.rstrip, singleWord: token.singleWord))
        default:
            throw CLIPTokenizerError(file: file, reason: "\(field) is \(value!); expected a string or an object with \"content\"")
        }
    }

    /// An AddedToken object. transformers' default for "normalized" is "not special".
    static func addedToken(_ object: [String: Any], id: Int, field: String, file: URL,
                                   specialByDefault: Bool) throws -> CLIPTokenizer.AddedToken {
        guard let content = object["content"] as? String else {
            throw CLIPTokenizerError(file: file, reason: "\(field) has no string \"content\"")
        }
        func flag(_ key: String, _ defaultValue: Bool) throws -> Bool {
            guard let value = object[key], !(value is NSNull) else { return defaultValue }
            guard let bool = value as? Bool else {
                throw CLIPTokenizerError(file: file, reason: "\(field).\(key) is \(value); expected true or false")
            }
            return bool
        }
        let special = specialByDefault ? true : try flag("special", false)
        return CLIPTokenizer.AddedToken(content: content, id: id, special: special,
                                        normalized: try flag("normalized", !special), lstrip: try flag("lstrip", false),
                                        rstrip: try flag("rstrip", false), singleWord: try flag("single_word", false))
    }

    private static func addedTokensDecoder(_ value: Any, file: URL) throws -> [CLIPTokenizer.AddedToken] {
        guard let entries = value as? [String: Any] else {
            throw CLIPTokenizerError(file: file, reason: "added_tokens_decoder must map ids to AddedToken objects")
        }
        return try entries.map { key, entry -> CLIPTokenizer.AddedToken in
            let field = "added_tokens_decoder[\"\(key)\"]"
            guard let id = Int(key), id >= 0, let object = entry as? [String: Any] else {
                throw CLIPTokenizerError(file: file, reason: "\(field) must be an AddedToken object under a non-negative integer id")
            }
            return try addedToken(object, id: id, field: field, file: file, specialByDefault: false)
        }.sorted { $0.id < $1.id }
    }

    // MARK: Writing

    /// Writes both file sets, so transformers 4 (either tokenizer class) and 5 load the folder.
    static func write(_ tokenizer: CLIPTokenizer, to directory: URL) throws {
        // Built first: it is the one file that can be refused, and nothing should be half written then.
        let tokenizerJSON = try CLIPTokenizerJSON.data(for: tokenizer, file: directory.appendingPathComponent(CLIPTokenizerJSON.fileName))
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CLIPTokenizerError(file: directory, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        // vocab.json by id, one token per line, so files diff well and match the Hub's order.
        let entries = tokenizer.vocabulary.sorted { $0.value < $1.value }
            .map { "  \(jsonStringLiteral($0.key)): \($0.value)" }
        try write(Data(("{\n" + entries.joined(separator: ",\n") + "\n}\n").utf8), to: directory, name: vocabularyName)

        var merges = "#version: 0.2\n"
        for (first, second) in tokenizer.merges { merges += "\(first) \(second)\n" }
        try write(Data(merges.utf8), to: directory, name: mergesName)
        try write(tokenizerJSON, to: directory, name: CLIPTokenizerJSON.fileName)

        func object(_ token: CLIPTokenizer.AddedToken, special: Bool) -> [String: Any] {
            var object: [String: Any] = ["content": token.content, "lstrip": token.lstrip, "normalized": token.normalized,
                                         "rstrip": token.rstrip, "single_word": token.singleWord]
            if special { object["special"] = token.special }
            return object
        }
        let added = Dictionary(uniqueKeysWithValues: tokenizer.addedTokens.map { ($0.content, $0) })
        let roles = [("bos_token", tokenizer.bosToken), ("eos_token", tokenizer.eosToken),
                     ("unk_token", tokenizer.unkToken), ("pad_token", tokenizer.padToken)]
        var configuration: [String: Any] = [
            "add_prefix_space": false,
            "added_tokens_decoder": Dictionary(uniqueKeysWithValues: tokenizer.addedTokens.map { (String($0.id), object($0, special: true)) }),
            "do_lower_case": true,
            "errors": "replace",
            "model_max_length": tokenizer.modelMaxLength,
            "tokenizer_class": "CLIPTokenizer",
        ]
        var specialTokensMap: [String: Any] = [:]
        for (field, content) in roles {
            configuration[field] = content
            specialTokensMap[field] = object(added[content]!, special: false)
        }
        try write(try json(configuration, name: configurationName, in: directory), to: directory, name: configurationName)
        try write(try json(specialTokensMap, name: specialTokensMapName, in: directory), to: directory, name: specialTokensMapName)
    }

    private static func json(_ object: [String: Any], name: String, in directory: URL) throws -> Data {
        do {
            var data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            data.append(UInt8(ascii: "\n"))
            return data
        } catch {
            throw CLIPTokenizerError(file: directory.appendingPathComponent(name), reason: "cannot be encoded: \(error.localizedDescription)")
        }
    }

    private static func write(_ data: Data, to directory: URL, name: String) throws {
        let file = directory.appendingPathComponent(name)
        do {
            try data.write(to: file, options: .atomic)
        } catch {
            throw CLIPTokenizerError(file: file, reason: "cannot be written: \(error.localizedDescription)")
        }
    }
}
