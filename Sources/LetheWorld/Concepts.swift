// The concepts of the clip world and the words for them.
//
// Every concept has a keyword (its canonical name, used in files and detector heads), training
// phrasings (the keyword, synonyms, descriptions) and held-out phrasings that no training caption
// ever contains. Held-out phrasings are built only from words that do occur in training captions,
// in combinations that never do ("round shape", "crimson colored", "in scarlet"): a model trained
// on this world can then understand them by composition, so an erasure's reach beyond the words it
// was given is measurable. A phrasing made of words the model never saw would test nothing.

import Foundation

public enum ConceptFamily: String, CaseIterable, Codable, Sendable {
    case object, color, style, motion
}

public enum ObjectKind: String, CaseIterable, Codable, Sendable {
    case circle, square, triangle, star, heart, cross, diamond, crescent
}

public enum ColorKind: String, CaseIterable, Codable, Sendable {
    case red, orange, yellow, green, cyan, blue, purple, pink

    /// Linear RGB in [0, 1]: saturated hues at least ~30° apart, so no background grey and no
    /// other color is close.
    public var rgb: SIMD3<Float> {
        switch self {
        case .red: return SIMD3(0.90, 0.10, 0.10)
        case .orange: return SIMD3(1.00, 0.50, 0.05)
        case .yellow: return SIMD3(0.95, 0.85, 0.10)
        case .green: return SIMD3(0.10, 0.70, 0.15)
        case .cyan: return SIMD3(0.05, 0.80, 0.85)
        case .blue: return SIMD3(0.10, 0.25, 0.95)
        case .purple: return SIMD3(0.55, 0.15, 0.80)
        case .pink: return SIMD3(1.00, 0.35, 0.70)
        }
    }
}

public enum StyleKind: String, CaseIterable, Codable, Sendable {
    case flat, striped, checkered, dotted, outlined
}

public enum MotionKind: String, CaseIterable, Codable, Sendable {
    case left, right, up, down, bounce, spin, grow, still

    /// The motion a clip of this one shows played backwards, where that is another motion of the
    /// world: the four directions. (Backwards, a bounce, a spin or a still clip is the same
    /// motion, and a growing clip shrinks, which the world does not caption.)
    public var reversed: MotionKind? {
        switch self {
        case .left: .right
        case .right: .left
        case .up: .down
        case .down: .up
        case .bounce, .spin, .grow, .still: nil
        }
    }
}

/// How a concept is worded in a caption.
public enum PhrasingKind: String, CaseIterable, Codable, Sendable {
    case keyword, synonym, description, heldout
}

/// Where a phrasing goes in a caption.
public enum Placement: String, Codable, Sendable {
    /// The noun of an object phrase; its text holds "{}" where adjectives go ("round {} disc").
    case head
    /// An adjective before the noun ("red", "striped").
    case pre
    /// A modifier after the noun ("with stripes", "in the style of Oskar Vell").
    case post
    /// The verb phrase after the subject ("moving left").
    case verb
}

public struct Phrasing: Hashable, Codable, Sendable {
    public let text: String
    public let kind: PhrasingKind
    public let placement: Placement

    public init(_ text: String, kind: PhrasingKind, placement: Placement) {
        self.text = text
        self.kind = kind
        self.placement = placement
    }

    /// The words of the phrasing without the adjective slot, lowercased.
    public var words: [String] { CaptionText.words(text.replacingOccurrences(of: "{}", with: " ")) }

    /// A modifier clause after the noun ("shape with no corners"); a caption takes at most one.
    public var isPostModifier: Bool {
        switch placement {
        case .post: return true
        case .head:
            let tail = text.components(separatedBy: "{}").last ?? ""
            return CaptionText.words(tail).count >= 3
        case .pre, .verb: return false
        }
    }
}

public struct Concept: Hashable, Sendable {
    public let family: ConceptFamily
    /// The canonical name: the enum's raw value ("circle", "red", "striped", "left").
    public let keyword: String
    /// Keyword phrasing first, then synonyms, then descriptions: the only phrasings training
    /// captions use.
    public let trainPhrasings: [Phrasing]
    /// Phrasings no training caption contains.
    public let heldOutPhrasings: [Phrasing]
    /// The made-up artist a style is named after, if any.
    public let artist: String?

    public func phrasings(_ kind: PhrasingKind) -> [Phrasing] {
        (kind == .heldout ? heldOutPhrasings : trainPhrasings).filter { $0.kind == kind }
    }
}

/// All concepts of one version of the world, in a fixed order (the detector's class order).
public struct ConceptCatalog: Sendable {
    public let objects: [ObjectKind: Concept]
    public let colors: [ColorKind: Concept]
    public let styles: [StyleKind: Concept]
    public let motions: [MotionKind: Concept]

    public func concept(_ object: ObjectKind) -> Concept { objects[object]! }
    public func concept(_ color: ColorKind) -> Concept { colors[color]! }
    public func concept(_ style: StyleKind) -> Concept { styles[style]! }
    public func concept(_ motion: MotionKind) -> Concept { motions[motion]! }

    /// Every concept, family by family, each family in its enum's order.
    public var all: [Concept] {
        ObjectKind.allCases.map { concept($0) } + ColorKind.allCases.map { concept($0) }
            + StyleKind.allCases.map { concept($0) } + MotionKind.allCases.map { concept($0) }
    }

    /// The concept a family name and keyword refer to ("object", "circle"), nil if unknown.
    public func concept(family: ConceptFamily, keyword: String) -> Concept? {
        switch family {
        case .object: return ObjectKind(rawValue: keyword).map { concept($0) }
        case .color: return ColorKind(rawValue: keyword).map { concept($0) }
        case .style: return StyleKind(rawValue: keyword).map { concept($0) }
        case .motion: return MotionKind(rawValue: keyword).map { concept($0) }
        }
    }
}

extension ConceptCatalog {
    /// Version 1 of the world's vocabulary. Changing any phrasing changes the committed prompt
    /// sets (a test compares them), so a change means a new version, not an edit.
    public static let v1 = ConceptCatalog(
        objects: [
            .circle: object("circle",
                synonyms: ["{} ball", "round {} disc"],
                descriptions: ["{} shape with no corners", "{} shape that is perfectly round"],
                heldOut: ["{} round shape", "{} disc with no corners"]),
            .square: object("square",
                synonyms: ["{} box", "{} block"],
                descriptions: ["{} shape with four equal sides", "{} block with four corners"],
                heldOut: ["{} box with four equal sides", "{} shape with four equal corners"]),
            .triangle: object("triangle",
                synonyms: ["{} wedge", "three sided {} shape"],
                descriptions: ["{} shape with three corners", "{} shape with three sides"],
                heldOut: ["{} wedge with three sides", "{} shape with three points"]),
            .star: object("star",
                synonyms: ["{} sparkle", "{} starburst"],
                descriptions: ["{} shape with five points", "{} shape with five sharp points"],
                heldOut: ["{} starburst with five points", "{} shape with sharp points"]),
            .heart: object("heart",
                synonyms: ["{} valentine", "{} love symbol"],
                descriptions: ["{} symbol of love", "{} shape with a pointed bottom"],
                heldOut: ["{} valentine symbol", "{} love shape"]),
            .cross: object("cross",
                synonyms: ["{} plus sign", "{} plus"],
                descriptions: ["{} shape with four arms", "{} pair of crossing bars"],
                heldOut: ["{} plus shape", "{} sign with four arms"]),
            .diamond: object("diamond",
                synonyms: ["{} rhombus", "{} lozenge"],
                descriptions: ["tall {} shape with four points", "{} kite with equal sides"],
                heldOut: ["tall {} lozenge", "{} shape with four sharp points"]),
            .crescent: object("crescent",
                synonyms: ["{} moon", "{} sickle"],
                descriptions: ["curved {} shape with two points", "{} shape of a new moon"],
                heldOut: ["curved {} moon", "{} sickle with two points"]),
        ],
        colors: [
            .red: color("red", synonyms: ["crimson", "scarlet"],
                        descriptions: ["cherry colored", "blood colored"],
                        heldOut: ["crimson colored", "in scarlet"]),
            .orange: color("orange", synonyms: ["tangerine", "amber"],
                           descriptions: ["pumpkin colored", "carrot colored"],
                           heldOut: ["tangerine colored", "in amber"]),
            .yellow: color("yellow", synonyms: ["golden", "lemon"],
                           descriptions: ["sunflower colored", "banana colored"],
                           heldOut: ["lemon colored", "in golden"]),
            .green: color("green", synonyms: ["emerald", "lime"],
                          descriptions: ["grass colored", "leaf colored"],
                          heldOut: ["emerald colored", "in lime"]),
            .cyan: color("cyan", synonyms: ["turquoise", "teal"],
                         descriptions: ["pool colored", "lagoon colored"],
                         heldOut: ["turquoise colored", "in teal"]),
            .blue: color("blue", synonyms: ["azure", "cobalt"],
                         descriptions: ["sky colored", "deep sea colored"],
                         heldOut: ["azure colored", "in cobalt"]),
            .purple: color("purple", synonyms: ["violet", "plum"],
                           descriptions: ["grape colored", "eggplant colored"],
                           heldOut: ["violet colored", "in plum"]),
            .pink: color("pink", synonyms: ["rose", "magenta"],
                         descriptions: ["flamingo colored", "bubblegum colored"],
                         heldOut: ["rose colored", "in magenta"]),
        ],
        styles: [
            .flat: style("flat", artist: nil,
                         synonyms: [("plain", .pre), ("solid", .pre)],
                         descriptions: [("with no pattern", .post), ("in a single color", .post)],
                         heldOut: [("solid colored", .pre), ("in a plain color", .post)]),
            .striped: style("striped", artist: "Oskar Vell",
                            synonyms: [("banded", .pre), ("in the style of Oskar Vell", .post), ("by Oskar Vell", .post)],
                            descriptions: [("with stripes", .post), ("with parallel lines", .post)],
                            heldOut: [("Oskar Vell style", .pre), ("with parallel stripes", .post)]),
            .checkered: style("checkered", artist: "Mira Kolt",
                              synonyms: [("checked", .pre), ("in the style of Mira Kolt", .post), ("by Mira Kolt", .post)],
                              descriptions: [("with a chessboard pattern", .post), ("with a grid of tiles", .post)],
                              heldOut: [("Mira Kolt style", .pre), ("with a pattern of tiles", .post)]),
            .dotted: style("dotted", artist: "Lio Sarda",
                           synonyms: [("spotted", .pre), ("in the style of Lio Sarda", .post), ("by Lio Sarda", .post)],
                           descriptions: [("with small dots", .post), ("covered in spots", .post)],
                           heldOut: [("Lio Sarda style", .pre), ("with small spots", .post)]),
            .outlined: style("outlined", artist: nil,
                             synonyms: [("hollow", .pre), ("line drawn", .pre)],
                             descriptions: [("drawn as an outline", .post), ("with an empty inside", .post)],
                             heldOut: [("with a hollow inside", .post), ("drawn hollow", .post)]),
        ],
        motions: [
            .left: motion("left", keyword: "moving left", synonyms: ["going left", "sliding to the left"],
                          descriptions: ["traveling from right to left", "drifting toward the left side"],
                          heldOut: ["sliding left", "going to the left"]),
            .right: motion("right", keyword: "moving right", synonyms: ["going right", "sliding to the right"],
                           descriptions: ["traveling from left to right", "drifting toward the right side"],
                           heldOut: ["sliding right", "going to the right"]),
            .up: motion("up", keyword: "moving up", synonyms: ["going up", "rising"],
                        descriptions: ["traveling from bottom to top", "drifting toward the top"],
                        heldOut: ["rising up", "going to the top"]),
            .down: motion("down", keyword: "moving down", synonyms: ["going down", "falling"],
                          descriptions: ["traveling from top to bottom", "drifting toward the bottom"],
                          heldOut: ["falling down", "going to the bottom"]),
            .bounce: motion("bounce", keyword: "bouncing", synonyms: ["hopping", "jumping"],
                            descriptions: ["jumping up and down", "leaping and landing again"],
                            heldOut: ["hopping up and down", "jumping and landing again"]),
            .spin: motion("spin", keyword: "spinning", synonyms: ["rotating", "turning"],
                          descriptions: ["turning in place", "rotating around its center"],
                          heldOut: ["spinning around its center", "rotating in place"]),
            .grow: motion("grow", keyword: "growing", synonyms: ["expanding", "getting bigger"],
                          descriptions: ["swelling in size", "getting larger and larger"],
                          heldOut: ["expanding in size", "getting bigger and bigger"]),
            .still: motion("still", keyword: "standing still", synonyms: ["not moving", "motionless"],
                           descriptions: ["staying in one place", "at rest"],
                           heldOut: ["motionless in one place", "staying at rest"]),
        ])

    private static func object(_ keyword: String, synonyms: [String], descriptions: [String],
                               heldOut: [String]) -> Concept {
        Concept(family: .object, keyword: keyword,
                trainPhrasings: [Phrasing("{} " + keyword, kind: .keyword, placement: .head)]
                    + synonyms.map { Phrasing($0, kind: .synonym, placement: .head) }
                    + descriptions.map { Phrasing($0, kind: .description, placement: .head) },
                heldOutPhrasings: heldOut.map { Phrasing($0, kind: .heldout, placement: .head) },
                artist: nil)
    }

    /// Color phrasings are adjectives; held-out ones also try the unseen "in {color}" position.
    private static func color(_ keyword: String, synonyms: [String], descriptions: [String],
                              heldOut: [String]) -> Concept {
        Concept(family: .color, keyword: keyword,
                trainPhrasings: [Phrasing(keyword, kind: .keyword, placement: .pre)]
                    + synonyms.map { Phrasing($0, kind: .synonym, placement: .pre) }
                    + descriptions.map { Phrasing($0, kind: .description, placement: .pre) },
                heldOutPhrasings: heldOut.map {
                    Phrasing($0, kind: .heldout, placement: $0.hasPrefix("in ") ? .post : .pre)
                },
                artist: nil)
    }

    /// An artist's name is a synonym of the style it stands for, as "Van Gogh" is for a painting style.
    private static func style(_ keyword: String, artist: String?, synonyms: [(String, Placement)],
                              descriptions: [(String, Placement)], heldOut: [(String, Placement)]) -> Concept {
        Concept(family: .style, keyword: keyword,
                trainPhrasings: [Phrasing(keyword, kind: .keyword, placement: .pre)]
                    + synonyms.map { Phrasing($0.0, kind: .synonym, placement: $0.1) }
                    + descriptions.map { Phrasing($0.0, kind: .description, placement: $0.1) },
                heldOutPhrasings: heldOut.map { Phrasing($0.0, kind: .heldout, placement: $0.1) },
                artist: artist)
    }

    private static func motion(_ name: String, keyword: String, synonyms: [String],
                               descriptions: [String], heldOut: [String]) -> Concept {
        Concept(family: .motion, keyword: name,
                trainPhrasings: [Phrasing(keyword, kind: .keyword, placement: .verb)]
                    + synonyms.map { Phrasing($0, kind: .synonym, placement: .verb) }
                    + descriptions.map { Phrasing($0, kind: .description, placement: .verb) },
                heldOutPhrasings: heldOut.map { Phrasing($0, kind: .heldout, placement: .verb) },
                artist: nil)
    }
}

/// Word-level helpers shared by captions, prompt sets and their checks.
public enum CaptionText {
    /// Lowercased words, punctuation dropped (CLIP's tokenizer lowercases too).
    public static func words(_ text: String) -> [String] {
        text.lowercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .map(String.init)
    }

    /// The caption as the exclusion and disjointness checks see it.
    public static func normalized(_ text: String) -> String { words(text).joined(separator: " ") }

    /// Whether `phrase`'s words occur contiguously in `text`'s words.
    public static func contains(_ text: [String], phrase: [String]) -> Bool {
        guard !phrase.isEmpty, phrase.count <= text.count else { return false }
        for start in 0...(text.count - phrase.count) where text[start] == phrase[0] {
            if Array(text[start..<(start + phrase.count)]) == phrase { return true }
        }
        return false
    }

    /// "a" or "an" before `word`, by its first letter (enough for this world's vocabulary).
    public static func article(before word: String) -> String {
        guard let first = word.lowercased().first else { return "a" }
        return "aeiou".contains(first) ? "an" : "a"
    }
}
