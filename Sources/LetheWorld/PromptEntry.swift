// A prompt with the concepts it names and how it words each of them, so an evaluator knows the
// ground truth of every prompt. Prompt sets are JSON lines, one entry per line.

import Foundation
import LetheCore

/// How each concept of a prompt is worded; nil where the prompt does not name that family.
public struct PromptPhrasings: Hashable, Codable, Sendable {
    public var object: PhrasingKind
    public var color: PhrasingKind?
    public var style: PhrasingKind?
    public var motion: PhrasingKind?

    public init(object: PhrasingKind, color: PhrasingKind? = nil, style: PhrasingKind? = nil, motion: PhrasingKind? = nil) {
        self.object = object
        self.color = color
        self.style = style
        self.motion = motion
    }

    var all: [PhrasingKind] { [object] + [color, style, motion].compactMap { $0 } }

    enum CodingKeys: String, CodingKey { case object, color, style, motion }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        object = try c.decodeConcept(PhrasingKind.self, forKey: .object) ?? .keyword
        color = try c.decodeConcept(PhrasingKind.self, forKey: .color)
        style = try c.decodeConcept(PhrasingKind.self, forKey: .style)
        motion = try c.decodeConcept(PhrasingKind.self, forKey: .motion)
    }
}

/// An object a prompt names; color and style are nil when the prompt leaves them open.
public struct PromptObject: Hashable, Codable, Sendable {
    public var object: ObjectKind
    public var color: ColorKind?
    public var style: StyleKind?
    public var phrasings: PromptPhrasings

    public init(object: ObjectKind, color: ColorKind?, style: StyleKind?, phrasings: PromptPhrasings) {
        self.object = object
        self.color = color
        self.style = style
        self.phrasings = phrasings
    }

    public var query: ObjectQuery { ObjectQuery(object: object, color: color, style: style) }

    enum CodingKeys: String, CodingKey { case object, color, style, phrasings }

    /// Only `object` is required; wordings not given are taken to be keywords.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        object = try c.required(c.decodeConcept(ObjectKind.self, forKey: .object), .object)
        color = try c.decodeConcept(ColorKind.self, forKey: .color)
        style = try c.decodeConcept(StyleKind.self, forKey: .style)
        phrasings = try c.decodeIfPresent(PromptPhrasings.self, forKey: .phrasings)
            ?? PromptPhrasings(object: .keyword, color: color.map { _ in .keyword }, style: style.map { _ in .keyword })
    }
}

public struct PromptEntry: Hashable, Codable, Sendable {
    public var id: String
    public var prompt: String
    public var kind: WorldMode
    public var object: ObjectKind
    public var color: ColorKind?
    public var style: StyleKind?
    /// Clips only; nil when the prompt does not say how things move.
    public var motion: MotionKind?
    /// The most paraphrased wording in the prompt: heldout > description > synonym > keyword.
    public var phrasing: PhrasingKind
    public var phrasings: PromptPhrasings
    public var second: PromptObject?
    /// The template's id in the prompt catalogue.
    public var template: String
    /// The first object is one of the catalogue's held-out (object, color, style) triples.
    public var heldOutCombo: Bool
    /// Where each object's noun phrase ("a red striped ball") sits in `prompt`, as ranges of its
    /// space-separated words; known for captions the writer composed (a training loss on where
    /// those words attend), empty for prompts read from a file. Not part of the JSON form.
    public var objectWords: [Range<Int>] = []
    /// The same caption with the two objects' colors exchanged (same template and phrasings),
    /// when both colors are named and differ: the negative of a binding loss. Training captions
    /// only; not part of the JSON form.
    public var colorSwappedPrompt: String? = nil
    /// The same caption with its motion reversed ("moving left" → "moving right", same template
    /// and phrasing kind), when it names a direction: the negative of the motion hinge. Training
    /// captions only; not part of the JSON form.
    public var motionReversedPrompt: String? = nil

    enum CodingKeys: String, CodingKey {
        case id, prompt, kind, object, color, style, motion, phrasing, phrasings, second, template
        case heldOutCombo = "held_out_combo"
    }

    /// `prompt` and `object` are required, so a hand-written prompt file can be as short as
    /// `{"prompt": "a red ball", "object": "circle", "color": "red"}`. Left out: `kind` follows
    /// from `motion`, wordings default to keywords, `id` is filled in by `PromptSet.parse`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id) ?? ""
        prompt = try c.required(c.decodeIfPresent(String.self, forKey: .prompt), .prompt)
        object = try c.required(c.decodeConcept(ObjectKind.self, forKey: .object), .object)
        color = try c.decodeConcept(ColorKind.self, forKey: .color)
        style = try c.decodeConcept(StyleKind.self, forKey: .style)
        motion = try c.decodeConcept(MotionKind.self, forKey: .motion)
        kind = try c.decodeConcept(WorldMode.self, forKey: .kind) ?? (motion == nil ? .image : .clip)
        phrasings = try c.decodeIfPresent(PromptPhrasings.self, forKey: .phrasings)
            ?? PromptPhrasings(object: .keyword, color: color.map { _ in .keyword }, style: style.map { _ in .keyword },
                               motion: motion.map { _ in .keyword })
        second = try c.decodeIfPresent(PromptObject.self, forKey: .second)
        template = try c.decodeIfPresent(String.self, forKey: .template) ?? "custom"
        heldOutCombo = try c.decodeIfPresent(Bool.self, forKey: .heldOutCombo) ?? false
        let kinds = phrasings.all + (second?.phrasings.all ?? [])
        phrasing = try c.decodeConcept(PhrasingKind.self, forKey: .phrasing)
            ?? [PhrasingKind.heldout, .description, .synonym].first(where: kinds.contains) ?? .keyword
    }

    public init(id: String, prompt: String, kind: WorldMode, first: PromptObject, motion: MotionKind?,
                motionPhrasing: PhrasingKind?, second: PromptObject?, template: String, heldOutCombo: Bool) {
        self.id = id
        self.prompt = prompt
        self.kind = kind
        self.object = first.object
        self.color = first.color
        self.style = first.style
        self.motion = motion
        var phrasings = first.phrasings
        phrasings.motion = motionPhrasing
        self.phrasings = phrasings
        self.second = second
        self.template = template
        self.heldOutCombo = heldOutCombo
        let kinds = phrasings.all + (second?.phrasings.all ?? [])
        self.phrasing = [PhrasingKind.heldout, .description, .synonym].first(where: kinds.contains) ?? .keyword
    }

    func with(objectWords: [Range<Int>]) -> PromptEntry {
        var entry = self
        entry.objectWords = objectWords
        return entry
    }

    public var first: PromptObject {
        var p = phrasings
        p.motion = nil
        return PromptObject(object: object, color: color, style: style, phrasings: p)
    }

    public var objects: [PromptObject] { [first] + (second.map { [$0] } ?? []) }

    /// What to render as this prompt's ground truth.
    public var query: ClipQuery {
        ClipQuery(first: first.query, second: second?.query, motion: motion, objectCount: second == nil ? 1 : 2)
    }

    /// How the prompt words `keyword` of `family` (any of its objects), nil if it does not name it.
    public func phrasing(of family: ConceptFamily, keyword: String) -> PhrasingKind? {
        if family == .motion { return motion?.rawValue == keyword ? phrasings.motion : nil }
        for o in objects {
            switch family {
            case .object where o.object.rawValue == keyword: return o.phrasings.object
            case .color where o.color?.rawValue == keyword: return o.phrasings.color
            case .style where o.style?.rawValue == keyword: return o.phrasings.style
            default: continue
            }
        }
        return nil
    }

    /// Whether the prompt's rendered ground truth must show `keyword` of `family`.
    public func names(_ family: ConceptFamily, _ keyword: String) -> Bool { phrasing(of: family, keyword: keyword) != nil }

    /// One JSON line with keys in a fixed, readable order (prompt first).
    public func jsonLine() -> String {
        func str(_ s: String) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                default:
                    if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
                }
            }
            return out + "\""
        }
        func opt(_ s: String?) -> String { s.map(str) ?? "null" }
        func obj(_ pairs: [(String, String)]) -> String {
            "{" + pairs.map { "\(str($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        }
        func phr(_ p: PromptPhrasings, motion: Bool) -> String {
            var pairs = [("object", str(p.object.rawValue)), ("color", opt(p.color?.rawValue)), ("style", opt(p.style?.rawValue))]
            if motion { pairs.append(("motion", opt(p.motion?.rawValue))) }
            return obj(pairs)
        }
        let secondJSON = second.map { s in
            obj([("object", str(s.object.rawValue)), ("color", opt(s.color?.rawValue)), ("style", opt(s.style?.rawValue)),
                 ("phrasings", phr(s.phrasings, motion: false))])
        } ?? "null"
        return obj([
            ("prompt", str(prompt)), ("id", str(id)), ("kind", str(kind.rawValue)),
            ("object", str(object.rawValue)), ("color", opt(color?.rawValue)), ("style", opt(style?.rawValue)),
            ("motion", opt(motion?.rawValue)), ("phrasing", str(phrasing.rawValue)),
            ("phrasings", phr(phrasings, motion: true)), ("second", secondJSON),
            ("template", str(template)), ("held_out_combo", heldOutCombo ? "true" : "false"),
        ])
    }
}

/// A named list of prompts (eval, heldout) read from or written to a JSON-lines file.
public struct PromptSet: Sendable {
    public var name: String
    public var entries: [PromptEntry]

    public init(name: String, entries: [PromptEntry]) {
        self.name = name
        self.entries = entries
    }

    public func jsonLines() -> String { entries.map { $0.jsonLine() + "\n" }.joined() }

    public func write(to url: URL) throws { try writeAtomically(Data(jsonLines().utf8), to: url) }

    /// Reads a JSON-lines prompt set; errors name the file, line and field. The set's name is the
    /// file's name without extension.
    public static func read(_ url: URL) throws -> PromptSet {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw PromptSetError(file: url.path, line: nil, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, source: url.path, name: url.deletingPathExtension().lastPathComponent)
    }

    public static func parse(_ text: String, source: String, name: String) throws -> PromptSet {
        let decoder = JSONDecoder()
        var entries: [PromptEntry] = []
        var ids = Set<String>()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let decoded: PromptEntry
            do {
                decoded = try decoder.decode(PromptEntry.self, from: Data(trimmed.utf8))
            } catch let error as DecodingError {
                throw PromptSetError(file: source, line: i + 1, message: PromptSetError.explain(error))
            } catch {
                throw PromptSetError(file: source, line: i + 1, message: "\(error)")
            }
            var entry = decoded
            if entry.id.isEmpty { entry.id = "\(name)-\(i + 1)" }
            if entry.kind == .image && entry.motion != nil {
                throw PromptSetError(file: source, line: i + 1, message: "field 'motion': an image prompt has no motion")
            }
            if let s = entry.second, s.object == entry.object {
                throw PromptSetError(file: source, line: i + 1, message: "field 'second.object': both objects are \(s.object.rawValue); they must differ")
            }
            guard ids.insert(entry.id).inserted else {
                throw PromptSetError(file: source, line: i + 1, message: "field 'id': \(entry.id) is used twice")
            }
            entries.append(entry)
        }
        return PromptSet(name: name, entries: entries)
    }
}

public struct PromptSetError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let message: String

    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }

    static func explain(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, c):
            let p = path(c)
            return "missing field '\(p.isEmpty ? key.stringValue : p + "." + key.stringValue)'"
        case let .valueNotFound(type, c): return "field '\(path(c))': expected \(type), got null"
        case let .typeMismatch(type, c): return "field '\(path(c))': expected \(type)"
        case let .dataCorrupted(c):
            if c.codingPath.isEmpty { return "not a JSON object: \(c.debugDescription)" }
            return "field '\(path(c))': \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

extension KeyedDecodingContainer {
    /// `value`, or the error of a missing `key`.
    func required<T>(_ value: T?, _ key: Key) throws -> T {
        guard let value else { throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "")) }
        return value
    }

    /// A concept keyword (or other string enum), nil when absent or null; an unknown value is an
    /// error that lists the known ones.
    func decodeConcept<T: CaseIterable & RawRepresentable>(_ type: T.Type, forKey key: Key) throws -> T?
    where T.RawValue == String {
        guard let raw = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = T(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription: "'\(raw)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}
