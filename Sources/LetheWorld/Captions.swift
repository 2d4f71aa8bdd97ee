// Captions from templates and phrasings. The writer composes a caption from chosen phrasings and
// records what it chose, so every caption comes with its ground truth as a PromptEntry.

import Foundation
import LetheCore

/// How training captions describe a clip.
public struct CaptionOptions: Hashable, Sendable {
    /// Probability that a caption names an object's color / style / the clip's motion.
    public var colorRate: Float = 0.85
    public var styleRate: Float = 0.75
    public var motionRate: Float = 0.9
    /// Relative weights of keyword, synonym and description phrasings.
    public var keywordWeight: Float = 0.4
    public var synonymWeight: Float = 0.3
    public var descriptionWeight: Float = 0.3

    public init() {}
}

/// The phrasings picked for one object.
struct ObjectWording {
    var object: ObjectKind
    var objectPhrasing: Phrasing
    var color: (ColorKind, Phrasing)?
    var style: (StyleKind, Phrasing)?

    var mention: PromptObject {
        PromptObject(object: object, color: color?.0, style: style?.0,
                     phrasings: PromptPhrasings(object: objectPhrasing.kind, color: color?.1.kind, style: style?.1.kind))
    }
}

public struct CaptionWriter: Sendable {
    public let catalog: PromptCatalog
    public let options: CaptionOptions
    /// Normalized prompts a training caption must never be (the eval and held-out sets).
    public let excluded: Set<String>

    public init(catalog: PromptCatalog = .v1, options: CaptionOptions = CaptionOptions(), excluded: Set<String> = []) {
        self.catalog = catalog
        self.options = options
        self.excluded = excluded
    }

    /// A training caption for `spec`: a random train template, random train phrasings, some
    /// concepts left unsaid. Falls back to the plainest caption if 100 draws are all too long
    /// or excluded.
    public func caption(for spec: ClipSpec, rng: inout RandomGenerator) -> PromptEntry {
        let mode = spec.mode
        let templates = catalog.templates(mode, objects: spec.objects.count, split: .train)
        let motion = spec.objects[0].motion
        for _ in 0..<100 {
            let template = templates[rng.nextInt(templates.count)]
            let wordings = spec.objects.map { o -> ObjectWording in
                let color = rng.nextFloat() < options.colorRate ? (o.color, trainPhrasing(catalog.concepts.concept(o.color), &rng)) : nil
                let style = rng.nextFloat() < options.styleRate ? (o.style, trainPhrasing(catalog.concepts.concept(o.style), &rng)) : nil
                return ObjectWording(object: o.object, objectPhrasing: trainPhrasing(catalog.concepts.concept(o.object), &rng),
                                     color: color, style: style)
            }
            let verb = mode == .clip && rng.nextFloat() < options.motionRate
                ? trainPhrasing(catalog.concepts.concept(motion), &rng) : nil
            guard var entry = compose(template, wordings, motion: verb.map { (motion, $0) }, id: "train", recordingWords: true),
                  !excluded.contains(CaptionText.normalized(entry.prompt)) else { continue }
            entry.colorSwappedPrompt = colorSwapped(template, wordings, motion: verb.map { (motion, $0) })
            entry.motionReversedPrompt = verb.flatMap { motionReversed(template, wordings, motion: (motion, $0)) }
            return entry
        }
        let plain = spec.objects.map {
            ObjectWording(object: $0.object, objectPhrasing: catalog.concepts.concept($0.object).trainPhrasings[0])
        }
        let template = templates.first { $0.id.hasSuffix(".bare") || $0.id.hasSuffix(".pair") } ?? templates[0]
        let verb = mode == .clip ? (motion, catalog.concepts.concept(motion).trainPhrasings[0]) : nil
        return compose(template, plain, motion: verb, id: "train", recordingWords: true)!
    }

    /// `template` filled with the two objects' color phrasings exchanged; nil unless both objects
    /// name a color and the colors differ, or when that caption is too long, awkward or excluded
    /// (an eval prompt must not appear in training, even as a negative).
    private func colorSwapped(_ template: CaptionTemplate, _ objects: [ObjectWording], motion: (MotionKind, Phrasing)?) -> String? {
        guard objects.count == 2, let a = objects[0].color, let b = objects[1].color, a.0 != b.0 else { return nil }
        var swapped = objects
        swapped[0].color = b
        swapped[1].color = a
        return negative(template, swapped, motion: motion)
    }

    /// `template` with the motion's phrasing replaced by the reversed motion's phrasing of the
    /// same kind and place in its list (the catalogue lists them in parallel: "sliding to the
    /// left" / "sliding to the right"); nil unless the motion is a direction, or when that caption
    /// is excluded. Draws nothing, so adding it left every recipe's captions as they were.
    private func motionReversed(_ template: CaptionTemplate, _ objects: [ObjectWording], motion: (MotionKind, Phrasing)) -> String? {
        guard let reversed = motion.0.reversed else { return nil }
        let own = catalog.concepts.concept(motion.0).phrasings(motion.1.kind)
        let other = catalog.concepts.concept(reversed).phrasings(motion.1.kind)
        guard let index = own.firstIndex(of: motion.1), index < other.count else { return nil }
        return negative(template, objects, motion: (reversed, other[index]))
    }

    /// A hinge's negative caption: `template` filled, or nil when that is too long, awkward or
    /// excluded (an eval prompt must not appear in training, even as a negative).
    private func negative(_ template: CaptionTemplate, _ objects: [ObjectWording], motion: (MotionKind, Phrasing)?) -> String? {
        guard let entry = compose(template, objects, motion: motion, id: "train"),
              !excluded.contains(CaptionText.normalized(entry.prompt)) else { return nil }
        return entry.prompt
    }

    /// Fills `template`; nil when the caption breaks the length limit or stacks two modifier
    /// clauses on one noun ("a shape with no corners with stripes").
    /// `recordingWords`: fill in the entry's `objectWords` (training captions; prompt sets, which
    /// go to files, leave them out).
    func compose(_ template: CaptionTemplate, _ objects: [ObjectWording], motion: (MotionKind, Phrasing)?,
                 id: String, recordingWords: Bool = false) -> PromptEntry? {
        precondition(objects.count == template.objectCount, "template \(template.id) takes \(template.objectCount) objects")
        var phrases: [String] = []
        for w in objects {
            guard let np = nounPhrase(w) else { return nil }
            phrases.append(np)
        }
        var text = template.text.replacingOccurrences(of: "{a}", with: phrases[0])
        if phrases.count > 1 { text = text.replacingOccurrences(of: "{b}", with: phrases[1]) }
        text = text.replacingOccurrences(of: "{motion}", with: motion?.1.text ?? "")
        text = text.split(separator: " ").joined(separator: " ")
        guard CaptionText.words(text).count <= catalog.maxWords else { return nil }
        let first = objects[0]
        let words = recordingWords ? objectWordRanges(template, phrases, motion: motion?.1.text, text: text) : []
        let combo = first.color.flatMap { c in first.style.map { ObjectCombo(object: first.object, color: c.0, style: $0.0) } }
        return PromptEntry(id: id, prompt: text, kind: template.mode, first: first.mention, motion: motion?.0,
                           motionPhrasing: motion?.1.kind, second: objects.count > 1 ? objects[1].mention : nil,
                           template: template.id, heldOutCombo: combo.map(catalog.heldOutCombos.contains) ?? false)
            .with(objectWords: words)
    }

    /// The word ranges of the object phrases in the filled template; empty if a placeholder is
    /// glued to other characters, where words and phrases would not line up.
    private func objectWordRanges(_ template: CaptionTemplate, _ phrases: [String], motion: String?, text: String) -> [Range<Int>] {
        func split(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }
        var words: [String] = []
        var ranges = Array(repeating: 0..<0, count: phrases.count)
        for w in split(template.text) {
            switch w {
            case "{a}", "{b}":
                let k = w == "{a}" ? 0 : 1
                let phrase = split(phrases[k])
                ranges[k] = words.count..<(words.count + phrase.count)
                words += phrase
            case "{motion}": words += split(motion ?? "")
            default: words.append(w)
            }
        }
        return words.joined(separator: " ") == text ? ranges : []
    }

    /// "a red striped ball", "an orange shape with no corners", "a box by Oskar Vell".
    func nounPhrase(_ w: ObjectWording) -> String? {
        let modifiers = [w.color?.1, w.style?.1].compactMap { $0 }
        let posts = modifiers.filter { $0.placement == .post }
        if posts.count + (w.objectPhrasing.isPostModifier ? 1 : 0) > 1 { return nil }
        let pre = modifiers.filter { $0.placement == .pre }.map(\.text).joined(separator: " ")
        var phrase = w.objectPhrasing.text.replacingOccurrences(of: "{}", with: pre)
        phrase = ([phrase] + posts.map(\.text)).joined(separator: " ")
        phrase = phrase.split(separator: " ").joined(separator: " ")
        let firstWord = phrase.split(separator: " ").first.map(String.init) ?? ""
        return CaptionText.article(before: firstWord) + " " + phrase
    }

    private func trainPhrasing(_ concept: Concept, _ rng: inout RandomGenerator) -> Phrasing {
        let total = options.keywordWeight + options.synonymWeight + options.descriptionWeight
        let u = rng.nextFloat() * total
        let kind: PhrasingKind = u < options.keywordWeight ? .keyword
            : u < options.keywordWeight + options.synonymWeight ? .synonym : .description
        let choices = concept.phrasings(kind)
        return choices[rng.nextInt(choices.count)]
    }
}
