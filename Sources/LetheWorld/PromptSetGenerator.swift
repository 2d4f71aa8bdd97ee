// Draws the eval and held-out prompt sets of a catalogue version from a seed.
//
// - eval: train templates and train phrasings, every prompt naming its first object's object,
//   color and style (and the motion, for clips). Training captions are drawn from the same
//   grammar, so CaptionWriter's exclusion set rejects any that equals an eval prompt; about a
//   fifth name a held-out (object, color, style) triple that training data never shows.
// - heldout: every held-out phrasing of every concept, in train and held-out templates; the
//   other concepts of the prompt in keywords and synonyms, so the held-out wording is the one
//   new thing.

import Foundation
import LetheCore

public struct PromptSetGenerator: Sendable {
    public let catalog: PromptCatalog
    public let seed: UInt64
    private let writer: CaptionWriter

    public init(catalog: PromptCatalog = .v1, seed: UInt64) {
        self.catalog = catalog
        self.seed = seed
        self.writer = CaptionWriter(catalog: catalog)
    }

    /// The committed version-1 sets (configs/prompts/v1/eval.jsonl and heldout.jsonl).
    public static func v1() -> (eval: PromptSet, heldout: PromptSet) {
        let generator = PromptSetGenerator(catalog: .v1, seed: 0x4C65_7468_6531)
        return (generator.eval(imagePrompts: 400, clipPrompts: 400), generator.heldOut(promptsPerPhrasing: 3))
    }

    /// The prompts training captions must avoid: the union of `sets`, normalized.
    public static func exclusions(_ sets: [PromptSet]) -> Set<String> {
        Set(sets.flatMap { $0.entries.map { CaptionText.normalized($0.prompt) } })
    }

    public func eval(imagePrompts: Int, clipPrompts: Int) -> PromptSet {
        var rng = RandomGenerator(seed: seed)
        var entries: [PromptEntry] = []
        var seen = Set<String>()
        let objects = ObjectKind.allCases
        let kinds: [PhrasingKind] = [.keyword, .synonym, .description]
        for (mode, count) in [(WorldMode.image, imagePrompts), (.clip, clipPrompts)] {
            for i in 0..<count {
                // Objects in turn, and each object's wording in turn, so every object is asked
                // for equally often in each wording.
                let object = objects[i % objects.count]
                let objectKind = kinds[(i / objects.count) % kinds.count]
                while true {
                    let id = String(format: "eval-%@-%04d", mode.rawValue, i + 1)
                    if let entry = drawEval(mode, object: object, objectKind: objectKind, id: id, &rng),
                       seen.insert(CaptionText.normalized(entry.prompt)).inserted {
                        entries.append(entry)
                        break
                    }
                }
            }
        }
        return PromptSet(name: "eval", entries: entries)
    }

    private func drawEval(_ mode: WorldMode, object: ObjectKind, objectKind: PhrasingKind, id: String,
                          _ rng: inout RandomGenerator) -> PromptEntry? {
        let concepts = catalog.concepts
        let pair = rng.nextFloat() < 0.25
        var color = pick(ColorKind.allCases, &rng), style = pick(StyleKind.allCases, &rng)
        if rng.nextFloat() < 0.2 {
            let held = catalog.heldOutCombos.filter { $0.object == object }
            if !held.isEmpty {
                let c = pick(held, &rng)
                (color, style) = (c.color, c.style)
            }
        }
        var motion: MotionKind?
        if mode == .clip {
            var m = pick(MotionKind.allCases, &rng)
            while WorldSampler.isAmbiguous(object: object, style: style, motion: m) { m = pick(MotionKind.allCases, &rng) }
            motion = m
        }
        var second: (ObjectKind, ColorKind?, StyleKind?)?
        if pair {
            var o = pick(ObjectKind.allCases, &rng)
            while o == object { o = pick(ObjectKind.allCases, &rng) }
            let c: ColorKind? = rng.nextFloat() < 0.8 ? pick(ColorKind.allCases, &rng) : nil
            var s: StyleKind? = rng.nextFloat() < 0.5 ? pick(StyleKind.allCases, &rng) : nil
            if let st = s, let m = motion, WorldSampler.isAmbiguous(object: o, style: st, motion: m) { s = nil }
            second = (o, c, s)
        }
        let templates = catalog.templates(mode, objects: pair ? 2 : 1, split: .train)
        for _ in 0..<100 {
            let any = { (c: Concept, rng: inout RandomGenerator) in self.phrasing(c, among: [.keyword, .synonym, .description], &rng) }
            var wordings = [ObjectWording(
                object: object, objectPhrasing: phrasing(concepts.concept(object), among: [objectKind], &rng),
                color: (color, any(concepts.concept(color), &rng)), style: (style, any(concepts.concept(style), &rng)))]
            if let (o, c, s) = second {
                wordings.append(ObjectWording(
                    object: o, objectPhrasing: any(concepts.concept(o), &rng),
                    color: c.map { ($0, any(concepts.concept($0), &rng)) }, style: s.map { ($0, any(concepts.concept($0), &rng)) }))
            }
            let verb = motion.map { ($0, any(concepts.concept($0), &rng)) }
            if let entry = writer.compose(pick(templates, &rng), wordings, motion: verb, id: id) { return entry }
        }
        return nil
    }

    public func heldOut(promptsPerPhrasing k: Int) -> PromptSet {
        var rng = RandomGenerator(seed: seed &+ 1)
        var entries: [PromptEntry] = []
        var seen = Set<String>()
        for concept in catalog.concepts.all {
            let modes: [WorldMode] = concept.family == .motion ? [.clip] : [.image, .clip]
            for h in concept.heldOutPhrasings {
                for mode in modes {
                    for j in 0..<k {
                        // Alternate familiar and unfamiliar sentence frames.
                        let split: TemplateSplit = j % 2 == 0 ? .train : .heldout
                        while true {
                            let id = String(format: "heldout-%04d", entries.count + 1)
                            if let entry = drawHeldOut(concept, h, mode, split, id: id, &rng),
                               seen.insert(CaptionText.normalized(entry.prompt)).inserted {
                                entries.append(entry)
                                break
                            }
                        }
                    }
                }
            }
        }
        return PromptSet(name: "heldout", entries: entries)
    }

    private func drawHeldOut(_ concept: Concept, _ held: Phrasing, _ mode: WorldMode, _ split: TemplateSplit,
                             id: String, _ rng: inout RandomGenerator) -> PromptEntry? {
        let concepts = catalog.concepts
        let familiar: [PhrasingKind] = [.keyword, .synonym]
        func fixed<T: RawRepresentable>(_ family: ConceptFamily, _ type: T.Type) -> T? where T.RawValue == String {
            concept.family == family ? T(rawValue: concept.keyword) : nil
        }
        let object = fixed(.object, ObjectKind.self) ?? pick(ObjectKind.allCases, &rng)
        let color = fixed(.color, ColorKind.self) ?? pick(ColorKind.allCases, &rng)
        var style = fixed(.style, StyleKind.self) ?? pick(StyleKind.allCases, &rng)
        var motion: MotionKind?
        if mode == .clip {
            motion = fixed(.motion, MotionKind.self) ?? pick(MotionKind.allCases, &rng)
            while WorldSampler.isAmbiguous(object: object, style: style, motion: motion!) {
                if concept.family == .style { return nil }
                style = pick(StyleKind.allCases, &rng)
            }
        }
        let nameColor = concept.family == .color || rng.nextFloat() < 0.7
        let nameStyle = concept.family == .style || rng.nextFloat() < 0.5
        let templates = catalog.templates(mode, objects: 1, split: split)
        for _ in 0..<100 {
            func word(_ family: ConceptFamily, _ c: Concept) -> Phrasing {
                concept.family == family ? held : phrasing(c, among: familiar, &rng)
            }
            let wording = ObjectWording(
                object: object, objectPhrasing: word(.object, concepts.concept(object)),
                color: nameColor ? (color, word(.color, concepts.concept(color))) : nil,
                style: nameStyle ? (style, word(.style, concepts.concept(style))) : nil)
            let verb = motion.map { ($0, word(.motion, concepts.concept($0))) }
            if let entry = writer.compose(pick(templates, &rng), [wording], motion: verb, id: id) { return entry }
        }
        return nil
    }

    private func phrasing(_ concept: Concept, among kinds: [PhrasingKind], _ rng: inout RandomGenerator) -> Phrasing {
        let choices = concept.trainPhrasings.filter { kinds.contains($0.kind) }
        return choices[rng.nextInt(choices.count)]
    }

    private func pick<T>(_ values: [T], _ rng: inout RandomGenerator) -> T { values[rng.nextInt(values.count)] }
}
