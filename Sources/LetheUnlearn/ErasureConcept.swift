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

    /// Template × phrasing, for the phrasing kinds asked for, in a fixed order without repeats.
    public func prompts(templates: PromptTemplates, kinds: [PhrasingKind]) -> [String] {
        let chosen = isFreeText ? phrases : phrases.filter { kinds.contains($0.kind) }
        var seen = Set<String>(), out: [String] = []
        for template in templates.forFamily(family) {
            for phrase in chosen {
                let filled: String
                if phrase.followsNoun {
                    let bare = template.replacingOccurrences(of: "{} ", with: "").replacingOccurrences(of: "{}", with: "")
                    filled = bare.trimmingCharacters(in: .whitespaces) + " " + phrase.text
                } else {
                    filled = template.replacingOccurrences(of: "{}", with: phrase.text)
                }
                let text = fixArticles(filled.split(separator: " ").joined(separator: " "))
                if seen.insert(text).inserted { out.append(text) }
            }
        }
        return out
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
        let all = concept.prompts(templates: recipe.templates, kinds: recipe.phrasings)
        self.concept = concept
        captions = all.filter(fits)
        dropped = all.filter { !fits($0) }
        guard !captions.isEmpty else {
            throw ErasureError("concept '\(concept.name)': every template prompt is longer than the tokenizer's \(limit) tokens")
        }
    }
}

extension ErasureConcept {
    /// Prompts of the world's other concepts (for preservation), excluding the `erased` ones.
    public static func otherWorldPrompts(excluding erased: [ErasureConcept], catalog: PromptCatalog = .v1) -> [String] {
        let names = Set(erased.filter { !$0.isFreeText }.map(\.name))
        return catalog.concepts.all.filter { !names.contains($0.keyword) }.map { ErasureConcept(world: $0).prompt }
    }
}
