// Random clip specifications, deterministic from a RandomGenerator, optionally constrained to the
// concepts a prompt names (a prompt's ground-truth renders).

import Foundation
import LetheCore

/// Concepts asked of one object; nil leaves it to chance.
public struct ObjectQuery: Hashable, Codable, Sendable {
    public var object: ObjectKind?
    public var color: ColorKind?
    public var style: StyleKind?

    public init(object: ObjectKind? = nil, color: ColorKind? = nil, style: StyleKind? = nil) {
        self.object = object
        self.color = color
        self.style = style
    }

    var isFullySpecified: Bool { object != nil && color != nil && style != nil }
}

/// Concepts asked of a clip.
public struct ClipQuery: Hashable, Codable, Sendable {
    public var first: ObjectQuery
    /// Asks for a second object; nil with `objectCount` nil leaves the count to chance.
    public var second: ObjectQuery?
    public var motion: MotionKind?
    /// 1 or 2; nil: two objects when `second` is given, otherwise by the configured probability.
    public var objectCount: Int?

    public init(first: ObjectQuery = ObjectQuery(), second: ObjectQuery? = nil, motion: MotionKind? = nil,
                objectCount: Int? = nil) {
        self.first = first
        self.second = second
        self.motion = motion
        self.objectCount = objectCount
    }

    public static let any = ClipQuery()
}

public struct WorldSamplerError: Error, CustomStringConvertible {
    public let query: ClipQuery
    public let message: String
    public var description: String { "cannot sample a clip for \(query): \(message)" }
}

public struct WorldSampler: Sendable {
    public let config: WorldConfig
    /// Triples kept out of sampled data when `config.excludeHeldOutCombos` is on.
    public let heldOutCombos: Set<ObjectCombo>

    public init(config: WorldConfig = .v1, heldOutCombos: Set<ObjectCombo> = []) {
        self.config = config
        self.heldOutCombos = heldOutCombos
    }

    /// Spinning is invisible on a shape that looks the same at every angle: a plain or outlined
    /// circle would look still while labelled "spin". Patterns rotate with their object, so any
    /// other style makes a circle's spin visible; these two combinations are never sampled (a
    /// query that names all three concepts still gets them).
    public static func isAmbiguous(object: ObjectKind, style: StyleKind, motion: MotionKind) -> Bool {
        motion == .spin && object == .circle && (style == .flat || style == .outlined)
    }

    /// A random clip (or image: one frame, standing still).
    public func sample(_ mode: WorldMode, rng: inout RandomGenerator) -> ClipSpec {
        draw(mode, query: .any, rng: &rng)
    }

    /// A random clip whose motion is drawn from `motions` alone (a training stage that stresses some
    /// motions); everything else as in `sample(_:rng:)`.
    public func sample(_ mode: WorldMode, motions: [MotionKind], rng: inout RandomGenerator) -> ClipSpec {
        precondition(!motions.isEmpty, "a clip needs at least one motion to draw from")
        return draw(mode, query: ClipQuery(motion: pick(motions, &rng)), rng: &rng)
    }

    /// A random clip (or image) satisfying `query`; throws when no clip can (two objects of the
    /// same shape, or an object count other than 1 or 2).
    public func sample(_ mode: WorldMode, query: ClipQuery, rng: inout RandomGenerator) throws -> ClipSpec {
        if let n = query.objectCount, n != 1 && n != 2 {
            throw WorldSamplerError(query: query, message: "a clip has 1 or 2 objects, not \(n)")
        }
        if query.objectCount != 1, let a = query.first.object, a == query.second?.object {
            throw WorldSamplerError(query: query, message: "the two objects of a clip are different shapes, both are \(a.rawValue)")
        }
        return draw(mode, query: query, rng: &rng)
    }

    private func draw(_ mode: WorldMode, query: ClipQuery, rng: inout RandomGenerator) -> ClipSpec {
        let count: Int
        if let n = query.objectCount {
            count = n
        } else if query.second != nil {
            count = 2
        } else {
            count = rng.nextFloat() < config.twoObjectProbability ? 2 : 1
        }
        let motion: MotionKind = mode == .image ? .still : (query.motion ?? pick(MotionKind.allCases, &rng))
        let queries = count == 1 ? [query.first] : [query.first, query.second ?? ObjectQuery()]

        var concepts: [ObjectCombo] = []
        for (i, q) in queries.enumerated() {
            var combo = drawCombo(q, motion: motion, &rng)
            for _ in 0..<200 where !acceptable(combo, query: q, motion: motion, others: concepts) {
                combo = drawCombo(q, motion: motion, &rng)
            }
            precondition(acceptable(combo, query: q, motion: motion, others: concepts),
                         "no object satisfies query \(i) (\(q)) together with \(concepts)")
            concepts.append(combo)
        }

        let frameCount = mode == .image ? 1 : config.frameCount
        let objects = count == 1
            ? [place(concepts[0], motion: motion, mode: mode, cell: nil, &rng)]
            : placePair(concepts, motion: motion, mode: mode, &rng)
        return ClipSpec(size: config.size, frameCount: frameCount, objects: objects, background: background(&rng))
    }

    private func drawCombo(_ q: ObjectQuery, motion: MotionKind, _ rng: inout RandomGenerator) -> ObjectCombo {
        let object = q.object ?? pick(ObjectKind.allCases, &rng)
        let color = q.color ?? pick(ColorKind.allCases, &rng)
        let style = q.style ?? pick(StyleKind.allCases, &rng)
        return ObjectCombo(object: object, color: color, style: style)
    }

    private func acceptable(_ c: ObjectCombo, query: ObjectQuery, motion: MotionKind, others: [ObjectCombo]) -> Bool {
        // Two objects are always different shapes, so "keep the square, lose the circle" has one
        // answer per frame.
        if others.contains(where: { $0.object == c.object }) { return false }
        if query.isFullySpecified { return true }
        if WorldSampler.isAmbiguous(object: c.object, style: c.style, motion: motion) { return false }
        if config.excludeHeldOutCombos && heldOutCombos.contains(c) { return false }
        return true
    }

    /// The rectangle one object must stay in: the whole frame, or half of it for a pair.
    struct Cell {
        var minX: Float, minY: Float, maxX: Float, maxY: Float
    }

    private func place(_ c: ObjectCombo, motion: MotionKind, mode: WorldMode, cell: Cell?,
                       _ rng: inout RandomGenerator) -> ObjectSpec {
        let m = config.margin, s = Float(config.size)
        let box = cell ?? Cell(minX: 0, minY: 0, maxX: s, maxY: s)
        let (lx, hx, ly, hy) = (box.minX + m, box.maxX - m, box.minY + m, box.maxY - m)
        let jitter = config.angleJitterDegrees * .pi / 180
        let angle = (2 * rng.nextFloat() - 1) * jitter
        var spec = ObjectSpec(object: c.object, color: c.color, style: c.style, motion: motion,
                              center: .zero, radius: 0, angle: angle)
        func radius(_ r: ValueRange, fitting room: Float) -> Float {
            let range = cell == nil ? r : config.pairRadius
            return min(range.sample(&rng), room / 2)
        }
        func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * rng.nextFloat() }

        switch motion {
        case .left, .right, .up, .down:
            let horizontal = motion == .left || motion == .right
            let along = horizontal ? hx - lx : hy - ly
            let across = horizontal ? hy - ly : hx - lx
            let r = radius(config.translateRadius, fitting: min(across, along - config.translateTravel.low))
            let d = min(config.translateTravel.sample(&rng), along - 2 * r)
            // Start far enough from the edge it moves towards.
            let toLow = motion == .left || motion == .up
            let lo = (horizontal ? lx : ly) + r + (toLow ? d : 0)
            let hi = (horizontal ? hx : hy) - r - (toLow ? 0 : d)
            let a = uniform(lo, hi)
            let b = horizontal ? uniform(ly + r, hy - r) : uniform(lx + r, hx - r)
            spec.center = horizontal ? SIMD2(a, b) : SIMD2(b, a)
            spec.radius = r
            spec.travel = d
        case .bounce:
            let r = radius(config.bounceRadius, fitting: min(hx - lx, hy - ly - config.bounceHeight.low))
            let h = min(config.bounceHeight.sample(&rng), hy - ly - 2 * r)
            spec.center = SIMD2(uniform(lx + r, hx - r), uniform(ly + r + h, hy - r))
            spec.radius = r
            spec.travel = h
        case .spin, .grow, .still:
            let range = mode == .image ? config.imageRadius
                : motion == .spin ? config.spinRadius : motion == .grow ? config.growRadius : config.stillRadius
            let r = radius(range, fitting: min(hx - lx, hy - ly))
            spec.center = SIMD2(uniform(lx + r, hx - r), uniform(ly + r, hy - r))
            spec.radius = r
            if motion == .spin {
                let step = config.spinDegreesPerFrame.sample(&rng) * .pi / 180
                spec.spinPerFrame = rng.nextInt(2) == 0 ? step : -step
            } else if motion == .grow {
                spec.growFrom = config.growFrom.sample(&rng)
            }
        }
        return spec
    }

    /// Two objects in two halves of the frame, split across the direction of motion so that both
    /// paths fit and never meet.
    private func placePair(_ combos: [ObjectCombo], motion: MotionKind, mode: WorldMode,
                           _ rng: inout RandomGenerator) -> [ObjectSpec] {
        let s = Float(config.size), half = s / 2
        let stacked: Bool  // one above the other
        switch motion {
        case .left, .right: stacked = true
        case .up, .down, .bounce: stacked = false
        case .spin, .grow, .still: stacked = rng.nextInt(2) == 0
        }
        var cells = stacked
            ? [Cell(minX: 0, minY: 0, maxX: s, maxY: half), Cell(minX: 0, minY: half, maxX: s, maxY: s)]
            : [Cell(minX: 0, minY: 0, maxX: half, maxY: s), Cell(minX: half, minY: 0, maxX: s, maxY: s)]
        if !config.pairsInReadingOrder && rng.nextInt(2) == 1 { cells.swapAt(0, 1) }
        return zip(combos, cells).map { place($0, motion: motion, mode: mode, cell: $1, &rng) }
    }

    private func background(_ rng: inout RandomGenerator) -> Background {
        let gray = config.backgroundGray.sample(&rng)
        let t = config.backgroundTint
        let tint = SIMD3((2 * rng.nextFloat() - 1) * t, (2 * rng.nextFloat() - 1) * t, (2 * rng.nextFloat() - 1) * t)
        let theta = 2 * Float.pi * rng.nextFloat()
        let amount = config.backgroundGradient * rng.nextFloat()
        return Background(gray: gray, tint: tint, gradient: amount * SIMD2(cos(theta), sin(theta)))
    }

    private func pick<T>(_ values: [T], _ rng: inout RandomGenerator) -> T { values[rng.nextInt(values.count)] }
}
