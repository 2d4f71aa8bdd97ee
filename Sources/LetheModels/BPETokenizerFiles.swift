import Foundation

/// Reading and writing a tokenizer folder in the transformers layout.
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
    let vocabularyFile: URL
    let configurationFile: URL

    init(directory: URL) throws {
        vocabularyFile = directory.appendingPathComponent(Self.vocabularyName)
        configurationFile = directory.appendingPathComponent(Self.configurationName)
        vocabulary = try Self.readVocabulary(vocabularyFile)
        merges = try Self.readMerges(directory.appendingPathComponent(Self.mergesName))
        let configuration = try Self.readObject(configurationFile, required: false) ?? [:]
        modelMaxLength = try Self.modelMaxLength(in: configuration, file: configurationFile)

        // transformers reads special_tokens_map.json only for folders saved before tokenizer_config.json
        // gained "added_tokens_decoder"; when read, it overrides tokenizer_config.json.
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
        } else {
            let mapFile = directory.appendingPathComponent(Self.specialTokensMapName)
            if let map = try Self.readObject(mapFile, required: false) { try readRoles(map, mapFile, true) }
        }

        // Roles share tokens ("<|endoftext|>" is eos, unk and pad); a token listed in
        // added_tokens_decoder keeps its flags there, otherwise the last role naming it sets them.
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
                throw CLIPTokenizerError(file: file, reason: "\(field) \"\(role.content)\" is neither in \(Self.vocabularyName) nor in added_tokens_decoder")
            }
            added.append((role.flags ?? RoleToken.Flags()).token(role.content, id: id))
        }
        addedTokens = added
        specialTokens = (roles["bos_token"]!.token.content, roles["eos_token"]!.token.content,
                         roles["unk_token"]!.token.content, roles["pad_token"]!.token.content)
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
            throw CLIPTokenizerError(file: file, reason: "file not found (a CLIP tokenizer folder needs \(vocabularyName) and \(mergesName))")
        }
        do {
            return try Data(contentsOf: file)
        } catch {
            throw CLIPTokenizerError(file: file, reason: "cannot be read: \(error.localizedDescription)")
        }
    }

    private static func readObject(_ file: URL, required: Bool) throws -> [String: Any]? {
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
        let object = try readObject(file, required: true)!
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(object.count)
        var tokensById: [Int: String] = [:]
        for (token, value) in object {
            guard let id = value as? Int, id >= 0 else {
                throw CLIPTokenizerError(file: file, reason: "token \"\(token)\" maps to \(value); expected a non-negative integer id")
            }
            if let other = tokensById.updateValue(token, forKey: id) {
                throw CLIPTokenizerError(file: file, reason: "tokens \"\(other)\" and \"\(token)\" share the id \(id)")
            }
            vocabulary[token] = id
        }
        if vocabulary.isEmpty { throw CLIPTokenizerError(file: file, reason: "holds no tokens") }
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
    private static func addedToken(_ object: [String: Any], id: Int, field: String, file: URL,
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

    static func write(_ tokenizer: CLIPTokenizer, to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CLIPTokenizerError(file: directory, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        // vocab.json by id, one token per line, so files diff well and match the Hub's order.
        let entries = tokenizer.vocabulary.sorted { $0.value < $1.value }
            .map { "  \(jsonString($0.key)): \($0.value)" }
        try write(Data(("{\n" + entries.joined(separator: ",\n") + "\n}\n").utf8), to: directory, name: vocabularyName)

        var merges = "#version: 0.2\n"
        for (first, second) in tokenizer.merges { merges += "\(first) \(second)\n" }
        try write(Data(merges.utf8), to: directory, name: mergesName)

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

    /// A JSON string literal; non-ASCII characters are written as they are, as Python's
    /// `json.dumps(..., ensure_ascii=False)` does.
    private static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
