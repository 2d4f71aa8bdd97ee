// The numbers of the clip world: frame size, sizes and speeds of objects, pattern scales,
// backgrounds. Read from configs/world/<version>.json; every key is optional and falls back to
// the version-1 default, so a file only states what it changes.

import Foundation
import LetheCore

/// A closed range of a random parameter, written `[low, high]` in JSON.
public struct ValueRange: Hashable, Codable, Sendable {
    public var low: Float
    public var high: Float

    public init(_ low: Float, _ high: Float) {
        self.low = low
        self.high = high
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        low = try c.decode(Float.self)
        high = try c.decode(Float.self)
        if !c.isAtEnd {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected [low, high], got more than two numbers")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(low)
        try c.encode(high)
    }

    public func sample(_ rng: inout RandomGenerator) -> Float { low + (high - low) * rng.nextFloat() }
}

public struct WorldConfig: Hashable, Codable, Sendable {
    /// Frame side, pixels.
    public var size = 32
    /// Frames per clip.
    public var frameCount = 8
    /// Samples per pixel side: frames are rendered at size·supersample and box-filtered down.
    public var supersample = 4
    /// Share of clips and images with two objects.
    public var twoObjectProbability: Float = 0.3
    /// Whether a pair's first-named object always takes the top or left half, as a reader meets
    /// them; false puts it in either half at random (the v1 world). A caption does not say which
    /// object is where, so with random halves a UNet must settle which phrase each half draws on
    /// its own; reading order would let place settle it. (A UNet trained on it scored the same
    /// and did not pick the convention up; README.)
    public var pairsInReadingOrder = false
    /// Pixels kept free between an object and the frame's edge (and the other object's half).
    public var margin: Float = 1

    // Object radii (of the circle a shape fits in) and motion amounts, pixels.
    public var imageRadius = ValueRange(6, 10)
    public var stillRadius = ValueRange(6, 10)
    public var translateRadius = ValueRange(5.5, 7.5)
    public var translateTravel = ValueRange(12, 16)
    public var bounceRadius = ValueRange(5.5, 7.5)
    public var bounceHeight = ValueRange(8, 12)
    public var spinRadius = ValueRange(6, 10)
    /// Degrees per frame; never a multiple of any shape's symmetry angle (72°, 90°, 120°), so
    /// consecutive frames always differ.
    public var spinDegreesPerFrame = ValueRange(18, 26)
    /// Radius at the last frame; the first frame starts at `growFrom` of it.
    public var growRadius = ValueRange(7.5, 10)
    public var growFrom = ValueRange(0.5, 0.6)
    /// Radius of each object of a two-object frame (each gets half of the frame).
    public var pairRadius = ValueRange(5, 6.5)
    /// Random tilt of every object at the first frame, ± degrees.
    public var angleJitterDegrees: Float = 12

    public var backgroundGray = ValueRange(0.3, 0.6)
    /// Largest tint added to one channel, ±.
    public var backgroundTint: Float = 0.03
    /// Largest brightness change across the frame.
    public var backgroundGradient: Float = 0.08

    // Style patterns, in output pixels, in the object's own (rotating) frame.
    public var stripePeriod: Float = 5
    public var checkerCell: Float = 4
    public var dotPeriod: Float = 4.5
    public var dotRadius: Float = 1.3
    public var outlineWidth: Float = 2
    /// Grey level of the light parts of a pattern (stripes, cells, dots).
    public var paper: Float = 0.95

    /// Keep the prompt catalogue's held-out (object, color, style) triples out of sampled
    /// training data (they are still rendered when asked for explicitly).
    public var excludeHeldOutCombos = true

    public init() {}

    public static let v1 = WorldConfig()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case size, frameCount = "frame_count", supersample
        case twoObjectProbability = "two_object_probability", pairsInReadingOrder = "pairs_in_reading_order", margin
        case imageRadius = "image_radius", stillRadius = "still_radius"
        case translateRadius = "translate_radius", translateTravel = "translate_travel"
        case bounceRadius = "bounce_radius", bounceHeight = "bounce_height"
        case spinRadius = "spin_radius", spinDegreesPerFrame = "spin_degrees_per_frame"
        case growRadius = "grow_radius", growFrom = "grow_from", pairRadius = "pair_radius"
        case angleJitterDegrees = "angle_jitter_degrees"
        case backgroundGray = "background_gray", backgroundTint = "background_tint"
        case backgroundGradient = "background_gradient"
        case stripePeriod = "stripe_period", checkerCell = "checker_cell", dotPeriod = "dot_period"
        case dotRadius = "dot_radius", outlineWidth = "outline_width", paper
        case excludeHeldOutCombos = "exclude_held_out_combos"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.size, &size)
        try read(.frameCount, &frameCount)
        try read(.supersample, &supersample)
        try read(.twoObjectProbability, &twoObjectProbability)
        try read(.pairsInReadingOrder, &pairsInReadingOrder)
        try read(.margin, &margin)
        try read(.imageRadius, &imageRadius)
        try read(.stillRadius, &stillRadius)
        try read(.translateRadius, &translateRadius)
        try read(.translateTravel, &translateTravel)
        try read(.bounceRadius, &bounceRadius)
        try read(.bounceHeight, &bounceHeight)
        try read(.spinRadius, &spinRadius)
        try read(.spinDegreesPerFrame, &spinDegreesPerFrame)
        try read(.growRadius, &growRadius)
        try read(.growFrom, &growFrom)
        try read(.pairRadius, &pairRadius)
        try read(.angleJitterDegrees, &angleJitterDegrees)
        try read(.backgroundGray, &backgroundGray)
        try read(.backgroundTint, &backgroundTint)
        try read(.backgroundGradient, &backgroundGradient)
        try read(.stripePeriod, &stripePeriod)
        try read(.checkerCell, &checkerCell)
        try read(.dotPeriod, &dotPeriod)
        try read(.dotRadius, &dotRadius)
        try read(.outlineWidth, &outlineWidth)
        try read(.paper, &paper)
        try read(.excludeHeldOutCombos, &excludeHeldOutCombos)
    }

    /// Reads and checks a config file; errors name the file and the key.
    public static func load(_ url: URL) throws -> WorldConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw WorldConfigError(file: url.path, key: nil, message: "cannot read: \(error.localizedDescription)")
        }
        let object = try? JSONSerialization.jsonObject(with: data)
        guard let dict = object as? [String: Any] else {
            throw WorldConfigError(file: url.path, key: nil, message: "expected a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = dict.keys.sorted().first(where: { !known.contains($0) }) {
            throw WorldConfigError(file: url.path, key: unknown, message: "unknown key; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let config: WorldConfig
        do {
            config = try JSONDecoder().decode(WorldConfig.self, from: data)
        } catch let DecodingError.typeMismatch(type, context) {
            let key = context.codingPath.first.flatMap { CodingKeys(stringValue: $0.stringValue) }
            let isRange = key.map(WorldConfig.rangeKeys.contains) ?? false
            throw WorldConfigError(file: url.path, key: key?.rawValue,
                                   message: "expected \(isRange ? "[low, high]" : "\(type)")")
        } catch let DecodingError.dataCorrupted(context) {
            throw WorldConfigError(file: url.path, key: context.codingPath.first?.stringValue, message: context.debugDescription)
        } catch let DecodingError.valueNotFound(type, context) {
            throw WorldConfigError(file: url.path, key: context.codingPath.first?.stringValue, message: "expected \(type), got null")
        } catch {
            throw WorldConfigError(file: url.path, key: nil, message: "\(error)")
        }
        try config.validate(source: url.path)
        return config
    }

    /// The keys whose values are `[low, high]` ranges.
    static let rangeKeys: Set<CodingKeys> = [
        .imageRadius, .stillRadius, .translateRadius, .translateTravel, .bounceRadius, .bounceHeight,
        .spinRadius, .spinDegreesPerFrame, .growRadius, .growFrom, .pairRadius, .backgroundGray,
    ]

    /// Writes the config as pretty JSON, atomically.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(self) + Data("\n".utf8), to: url)
    }

    /// Rejects values the sampler cannot honour (an object that cannot fit in the frame).
    public func validate(source: String = "world config") throws {
        func fail(_ key: CodingKeys, _ message: String) -> WorldConfigError {
            WorldConfigError(file: source, key: key.rawValue, message: message)
        }
        func check(_ key: CodingKeys, _ r: ValueRange, min: Float = 0) throws {
            guard r.low >= min, r.high >= r.low, r.low.isFinite, r.high.isFinite else {
                throw fail(key, "expected [low, high] with \(min) ≤ low ≤ high, got [\(r.low), \(r.high)]")
            }
        }
        guard size >= 8 else { throw fail(.size, "expected at least 8, got \(size)") }
        guard frameCount >= 2 else { throw fail(.frameCount, "expected at least 2, got \(frameCount)") }
        guard (1...16).contains(supersample) else { throw fail(.supersample, "expected 1...16, got \(supersample)") }
        guard (0...1).contains(twoObjectProbability) else {
            throw fail(.twoObjectProbability, "expected a probability in [0, 1], got \(twoObjectProbability)")
        }
        let inner = Float(size) - 2 * margin
        guard margin >= 0, inner > 0 else { throw fail(.margin, "expected 0 ≤ margin < size/2, got \(margin)") }
        for (key, r) in [(CodingKeys.imageRadius, imageRadius), (.stillRadius, stillRadius), (.spinRadius, spinRadius),
                         (.growRadius, growRadius)] {
            try check(key, r, min: 1)
            guard 2 * r.high <= inner else { throw fail(key, "an object of radius \(r.high) does not fit in the frame") }
        }
        try check(.translateRadius, translateRadius, min: 1)
        try check(.translateTravel, translateTravel)
        guard 2 * translateRadius.low + translateTravel.low <= inner else {
            throw fail(.translateTravel, "the smallest object cannot travel \(translateTravel.low) px inside the frame")
        }
        try check(.bounceRadius, bounceRadius, min: 1)
        try check(.bounceHeight, bounceHeight)
        guard 2 * bounceRadius.low + bounceHeight.low <= inner else {
            throw fail(.bounceHeight, "the smallest object cannot jump \(bounceHeight.low) px inside the frame")
        }
        try check(.pairRadius, pairRadius, min: 1)
        guard 2 * pairRadius.high + 2 * margin <= Float(size) / 2,
              2 * pairRadius.low + max(translateTravel.low, bounceHeight.low) <= inner else {
            throw fail(.pairRadius, "two objects of radius \(pairRadius.high) do not fit side by side")
        }
        try check(.spinDegreesPerFrame, spinDegreesPerFrame)
        try check(.growFrom, growFrom, min: 0.05)
        guard growFrom.high < 1 else { throw fail(.growFrom, "expected fractions below 1, got \(growFrom.high)") }
        try check(.backgroundGray, backgroundGray)
        guard backgroundGray.high + backgroundTint + backgroundGradient < paper - 0.15 else {
            throw fail(.backgroundGray, "backgrounds this light are hard to tell from the pattern's paper (\(paper))")
        }
        for (key, v) in [(CodingKeys.stripePeriod, stripePeriod), (.checkerCell, checkerCell), (.dotPeriod, dotPeriod),
                         (.dotRadius, dotRadius), (.outlineWidth, outlineWidth)] where !(v > 0) {
            throw fail(key, "expected a positive length, got \(v)")
        }
        guard 2 * dotRadius < dotPeriod else { throw fail(.dotRadius, "dots of radius \(dotRadius) overlap at period \(dotPeriod)") }
    }
}

public struct WorldConfigError: Error, CustomStringConvertible {
    public let file: String
    public let key: String?
    public let message: String

    public var description: String { "\(file)\(key.map { ": key '\($0)'" } ?? ""): \(message)" }
}
