// The grammar of captions: sentence templates, the concept phrasings, the triples kept out of
// training, and the length limit. Training captions are drawn from it on the fly; the eval and
// held-out prompt sets are drawn from it once and committed (configs/prompts/<version>/).

import Foundation

public enum TemplateSplit: String, Codable, Sendable {
    /// Used by training captions and eval prompts.
    case train
    /// Sentence frames only held-out prompts use.
    case heldout
}

/// A sentence frame: "{a}" and "{b}" are the object phrases, "{motion}" the verb phrase.
public struct CaptionTemplate: Hashable, Codable, Sendable {
    public let id: String
    public let text: String
    public let mode: WorldMode
    public let objectCount: Int
    public let split: TemplateSplit

    public init(id: String, text: String, mode: WorldMode, objectCount: Int, split: TemplateSplit) {
        self.id = id
        self.text = text
        self.mode = mode
        self.objectCount = objectCount
        self.split = split
    }

    /// The template's own words, outside its slots.
    public var fixedWords: [[String]] {
        text.components(separatedBy: CharacterSet(charactersIn: "{}"))
            .enumerated().filter { $0.offset % 2 == 0 }.map { CaptionText.words($0.element) }
            .filter { !$0.isEmpty }
    }
}

public struct PromptCatalog: Sendable {
    public let version: String
    public let concepts: ConceptCatalog
    public let templates: [CaptionTemplate]
    /// Triples no training image shows (when the world config excludes them); eval prompts use
    /// some of them to measure composition.
    public let heldOutCombos: [ObjectCombo]
    /// Longest caption in words: the text encoder's context is 16 tokens including its start and
    /// end tokens, and a made-up name may take more than one token.
    public let maxWords: Int

    public func templates(_ mode: WorldMode, objects: Int, split: TemplateSplit) -> [CaptionTemplate] {
        templates.filter { $0.mode == mode && $0.objectCount == objects && $0.split == split }
    }

    public func template(id: String) -> CaptionTemplate? { templates.first { $0.id == id } }

    /// Every word a training caption can contain (lowercased), for building a tokenizer's
    /// vocabulary and for checking that held-out prompts use only known words.
    public var trainVocabulary: Set<String> {
        var words = Set<String>()
        for concept in concepts.all {
            for p in concept.trainPhrasings { words.formUnion(p.words) }
        }
        for t in templates where t.split == .train { t.fixedWords.forEach { words.formUnion($0) } }
        words.formUnion(["a", "an"])
        return words
    }
}

extension PromptCatalog {
    public static let v1 = PromptCatalog(
        version: "v1",
        concepts: .v1,
        templates: [
            .init(id: "image.bare", text: "{a}", mode: .image, objectCount: 1, split: .train),
            .init(id: "image.photo", text: "a photo of {a}", mode: .image, objectCount: 1, split: .train),
            .init(id: "image.picture", text: "a picture of {a}", mode: .image, objectCount: 1, split: .train),
            .init(id: "image.drawing", text: "a drawing of {a}", mode: .image, objectCount: 1, split: .train),
            .init(id: "image.background", text: "{a} on a gray background", mode: .image, objectCount: 1, split: .train),
            .init(id: "image.pair", text: "{a} and {b}", mode: .image, objectCount: 2, split: .train),
            .init(id: "image.pair.picture", text: "a picture of {a} and {b}", mode: .image, objectCount: 2, split: .train),
            .init(id: "image.pair.next", text: "{a} next to {b}", mode: .image, objectCount: 2, split: .train),
            .init(id: "clip.bare", text: "{a} {motion}", mode: .clip, objectCount: 1, split: .train),
            .init(id: "clip.video", text: "a video of {a} {motion}", mode: .clip, objectCount: 1, split: .train),
            .init(id: "clip.clip", text: "a clip of {a} {motion}", mode: .clip, objectCount: 1, split: .train),
            .init(id: "clip.animation", text: "an animation of {a} {motion}", mode: .clip, objectCount: 1, split: .train),
            .init(id: "clip.pair", text: "{a} and {b} {motion}", mode: .clip, objectCount: 2, split: .train),
            .init(id: "heldout.image.in-photo", text: "{a} in a photo", mode: .image, objectCount: 1, split: .heldout),
            .init(id: "heldout.image.drawing-with", text: "a drawing with {a}", mode: .image, objectCount: 1, split: .heldout),
            .init(id: "heldout.image.pair.photo-next", text: "a photo of {a} next to {b}", mode: .image, objectCount: 2, split: .heldout),
            .init(id: "heldout.clip.video-with", text: "a video with {a} {motion}", mode: .clip, objectCount: 1, split: .heldout),
            .init(id: "heldout.clip.in-clip", text: "{a} {motion} in a clip", mode: .clip, objectCount: 1, split: .heldout),
            .init(id: "heldout.clip.pair.video-with", text: "a video with {a} and {b} {motion}", mode: .clip, objectCount: 2, split: .heldout),
        ],
        heldOutCombos: PromptCatalog.spreadCombos(),
        maxWords: 12)

    /// Two triples per object, spread so every color and style is held out with some object
    /// (16 of the 320 triples).
    private static func spreadCombos() -> [ObjectCombo] {
        let objects = ObjectKind.allCases, colors = ColorKind.allCases, styles = StyleKind.allCases
        return objects.indices.flatMap { i in
            [ObjectCombo(object: objects[i], color: colors[(3 * i + 1) % colors.count], style: styles[(2 * i + 1) % styles.count]),
             ObjectCombo(object: objects[i], color: colors[(3 * i + 5) % colors.count], style: styles[(2 * i + 3) % styles.count])]
        }
    }
}

extension PromptCatalog {
    private struct PhrasingRecord: Encodable {
        let text: String, kind: String, placement: String
    }
    private struct ConceptRecord: Encodable {
        let family: String, keyword: String, artist: String?
        let train: [PhrasingRecord], heldout: [PhrasingRecord]
        enum CodingKeys: String, CodingKey { case family, keyword, artist, train, heldout }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(family, forKey: .family)
            try c.encode(keyword, forKey: .keyword)
            try c.encode(artist, forKey: .artist)  // explicit null: every concept has the key
            try c.encode(train, forKey: .train)
            try c.encode(heldout, forKey: .heldout)
        }
    }
    private struct TemplateRecord: Encodable {
        let id: String, text: String, mode: String, objects: Int, split: String
    }
    private struct CatalogRecord: Encodable {
        let version: String
        let maxWords: Int
        let about: String
        let concepts: [ConceptRecord]
        let templates: [TemplateRecord]
        let heldOutCombos: [ObjectCombo]
        enum CodingKeys: String, CodingKey {
            case version, maxWords = "max_words", about, concepts, templates, heldOutCombos = "held_out_combos"
        }
    }

    /// The catalogue as JSON (configs/prompts/<version>/catalog.json): the complete grammar of
    /// training captions, so anyone can check that a prompt could or could not be one.
    public func exportJSON() throws -> Data {
        func records(_ ps: [Phrasing]) -> [PhrasingRecord] {
            ps.map { PhrasingRecord(text: $0.text, kind: $0.kind.rawValue, placement: $0.placement.rawValue) }
        }
        let record = CatalogRecord(
            version: version, maxWords: maxWords,
            about: "Training captions are drawn on the fly (LetheWorld.CaptionWriter) from the train templates and "
                + "the train phrasings below; '{}' in an object phrasing is where color and style adjectives go. "
                + "Held-out phrasings and templates appear only in heldout.jsonl; eval.jsonl uses train phrasings "
                + "and templates, and training never shows its exact prompts or the held-out combos.",
            concepts: concepts.all.map {
                ConceptRecord(family: $0.family.rawValue, keyword: $0.keyword, artist: $0.artist,
                              train: records($0.trainPhrasings), heldout: records($0.heldOutPhrasings))
            },
            templates: templates.map {
                TemplateRecord(id: $0.id, text: $0.text, mode: $0.mode.rawValue, objects: $0.objectCount, split: $0.split.rawValue)
            },
            heldOutCombos: heldOutCombos)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(record) + Data("\n".utf8)
    }
}
