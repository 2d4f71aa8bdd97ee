// What is being erased, and the prompts that say it. A concept is named by a world concept's
// keyword (or any of its training phrasings: "ball" is the circle, "Mira Kolt" the checkered
// style) and resolved through the world's PromptCatalog, whose synonyms and descriptions fill
// the prompt templates. Anything else is free text, accepted only on explicit request: a typo in
// a concept name must not quietly erase a made-up phrase.

import Foundation
import LetheModels
import LetheWorld

public struct ErasureError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct ErasureConcept: Equatable, Sendable {
    /// The world keyword ("circle", "red", "checkered", "left") or the free text as given.
    public let name: String
    /// nil for free text.
    public let family: ConceptFamily?
    /// The concept on its own as a prompt: "a circle", "a red shape", "a shape moving left".
    public let prompt: String
    /// The phrasings that fill templates, with whether each goes after the noun.
    public let phrases: [Phrase]

    public struct Phrase: Equatable, Sendable {
        public let text: String
        public let kind: PhrasingKind
        /// A color or style phrasing written after the noun ("with stripes").
        public let followsNoun: Bool
    }

    public var isFreeText: Bool { family == nil }

    /// Resolves `name` against `catalog`; free text only when `allowFreeText`.
    public static func resolve(_ name: String, catalog: PromptCatalog = .v1, allowFreeText: Bool) throws -> ErasureConcept {
        let wanted = CaptionText.normalized(name)
        guard !wanted.isEmpty else { throw ErasureError("concept name is empty") }
        let concepts = catalog.concepts.all
        let match = concepts.first { $0.keyword == wanted }
            ?? concepts.first { $0.artist.map(CaptionText.normalized) == wanted }
            ?? concepts.first { c in c.trainPhrasings.contains { CaptionText.normalized(phraseText($0)) == wanted } }
        if let match { return ErasureConcept(world: match) }
        guard allowFreeText else {
            let names = concepts.map(\.keyword).joined(separator: ", ")
            throw ErasureError("unknown concept '\(name)': not a concept of the world (\(names)) nor one of their phrasings; "
                + "pass --free-text to erase it as free text")
        }
        let text = name.trimmingCharacters(in: .whitespacesAndNewlines)
        return ErasureConcept(name: text, family: nil, prompt: text,
                              phrases: [Phrase(text: text, kind: .keyword, followsNoun: false)])
    }

    init(name: String, family: ConceptFamily?, prompt: String, phrases: [Phrase]) {
        self.name = name
        self.family = family
        self.prompt = prompt
        self.phrases = phrases
    }

    init(world c: Concept) {
        let keywordText = phraseText(c.trainPhrasings[0])
        let prompt: String
        switch c.family {
        case .object: prompt = "a " + keywordText
        case .color, .style: prompt = fixArticles("a \(keywordText) shape")
        case .motion: prompt = "a shape " + keywordText
        }
        self.init(name: c.keyword, family: c.family, prompt: prompt,
                  phrases: c.trainPhrasings.map { Phrase(text: phraseText($0), kind: $0.kind, followsNoun: $0.placement == .post) })
    }

    /// A template caption and, for the anchor method's in-context mode, the same template with
    /// the family's anchor phrase in the concept's place ("a red circle" → "a red shape" when
    /// erasing the circle, → "a circle" when erasing red).
    public struct Caption: Equatable, Sendable {
        public let text: String
        public let anchored: String?
    }

    /// Template × phrasing, for the phrasing kinds asked for, in a fixed order without repeats.
    public func captions(templates: PromptTemplates, kinds: [PhrasingKind], anchorPhrases: AnchorPhrases? = nil) -> [Caption] {
        let chosen = isFreeText ? phrases : phrases.filter { kinds.contains($0.kind) }
        let anchorPhrase = family.flatMap { anchorPhrases?.forFamily($0) }
        var seen = Set<String>(), out: [Caption] = []
        for template in templates.forFamily(family) {
            for phrase in chosen {
                let text = Self.fill(template, with: phrase.text, followsNoun: phrase.followsNoun)
                let anchored = anchorPhrase.map { Self.fill(template, with: $0, followsNoun: phrase.followsNoun) }
                if seen.insert(text).inserted { out.append(Caption(text: text, anchored: anchored)) }
            }
        }
        return out
    }

    public func prompts(templates: PromptTemplates, kinds: [PhrasingKind]) -> [String] {
        captions(templates: templates, kinds: kinds).map(\.text)
    }

    /// The template with `phrase` in its slot, or appended after the template without its slot
    /// for a phrasing that follows the noun; whitespace and articles tidied.
    static func fill(_ template: String, with phrase: String, followsNoun: Bool) -> String {
        let filled: String
        if followsNoun {
            let bare = template.replacingOccurrences(of: "{} ", with: "").replacingOccurrences(of: "{}", with: "")
            filled = bare + " " + phrase
        } else {
            filled = template.replacingOccurrences(of: "{}", with: phrase)
        }
        return fixArticles(filled.split(separator: " ").joined(separator: " "))
    }
}

/// A phrasing's text without its adjective slot ("round {} disc" → "round disc").
func phraseText(_ p: Phrasing) -> String {
    p.text.replacingOccurrences(of: "{}", with: " ").split(separator: " ").joined(separator: " ")
}

/// "a" before a vowel becomes "an" ("a amber circle" → "an amber circle"), and the reverse.
func fixArticles(_ text: String) -> String {
    var words = text.split(separator: " ").map(String.init)
    for i in words.indices.dropLast() where words[i] == "a" || words[i] == "an" {
        words[i] = CaptionText.article(before: words[i + 1])
    }
    return words.joined(separator: " ")
}

/// A concept with the prompts a run uses for it, all within the tokenizer's length.
public struct ErasureTarget: Sendable {
    public let concept: ErasureConcept
    /// Template captions (few-shot, anchor): the generated images' captions.
    public let captions: [String]
    /// The in-context anchor of each caption (anchor method, `anchor_mode: in-context`), same order.
    public let anchoredCaptions: [String]?
    /// Captions left out because they would be truncated.
    public let dropped: [String]

    public var prompt: String { concept.prompt }

    /// Builds the captions and keeps those whose tokens fit `tokenizer.modelMaxLength` (start and
    /// end tokens included); throws if the concept's own prompt or every caption would be cut.
    public init(_ concept: ErasureConcept, recipe: ErasureRecipe, tokenizer: CLIPTokenizer) throws {
        let limit = tokenizer.modelMaxLength
        func fits(_ text: String) -> Bool { tokenizer.encode(text).count <= limit }
        guard fits(concept.prompt) else {
            throw ErasureError("concept '\(concept.name)': the prompt \"\(concept.prompt)\" is \(tokenizer.encode(concept.prompt).count) tokens, "
                + "longer than the tokenizer's \(limit)")
        }
        let inContext = recipe.method == .anchor && recipe.anchorMode == .inContext && !concept.isFreeText
        let all = concept.captions(templates: recipe.templates, kinds: recipe.phrasings,
                                   anchorPhrases: inContext ? recipe.anchorPhrases : nil)
        let kept = all.filter { fits($0.text) && ($0.anchored.map(fits) ?? true) }
        self.concept = concept
        captions = kept.map(\.text)
        anchoredCaptions = inContext ? kept.map { $0.anchored! } : nil
        dropped = all.filter { !kept.contains($0) }.map(\.text)
        guard !captions.isEmpty else {
            throw ErasureError("concept '\(concept.name)': every template prompt is longer than the tokenizer's \(limit) tokens")
        }
    }
}

extension ErasureConcept {
    /// The erased concepts' template captions with each other world concept of their family in
    /// their place ("a red {}" gives "a red square", "a red box", ... when erasing the circle):
    /// the captions an erasure most easily takes along, because they differ from its own in one word.
    public static func neighborPrompts(of erased: [ErasureConcept], templates: PromptTemplates, kinds: [PhrasingKind],
                                       catalog: PromptCatalog = .v1) -> [String] {
        let names = Set(erased.map(\.name))
        let families = Set(erased.compactMap(\.family))
        var seen = Set<String>()
        return catalog.concepts.all.filter { families.contains($0.family) && !names.contains($0.keyword) }
            .flatMap { ErasureConcept(world: $0).prompts(templates: templates, kinds: kinds) }
            .filter { seen.insert($0).inserted }
    }

    /// Prompts of the world's other concepts (for preservation), excluding the `erased` ones.
    public static func otherWorldPrompts(excluding erased: [ErasureConcept], catalog: PromptCatalog = .v1) -> [String] {
        let names = Set(erased.filter { !$0.isFreeText }.map(\.name))
        return catalog.concepts.all.filter { !names.contains($0.keyword) }.map { ErasureConcept(world: $0).prompt }
    }
}
