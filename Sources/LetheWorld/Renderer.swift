// Frames from a ClipSpec: each output pixel is the mean of supersample² point samples of the
// analytic scene (a box filter over a supersample× finer grid), so edges of shapes and patterns
// come out smooth. Pixels whose centre is farther from every edge than any of its samples can be
// (signed distances never overestimate) are filled without sampling: same result, less work.

import Foundation
import LetheCore

public struct Renderer: Sendable {
    public let config: WorldConfig
    private let shapes: [ShapeGeometry]

    public init(config: WorldConfig = .v1) {
        self.config = config
        shapes = ObjectKind.allCases.map(ShapeGeometry.init)
    }

    public func geometry(_ object: ObjectKind) -> ShapeGeometry { shapes[object.classIndex] }

    /// The clip as [3, frames, size, size] (NCFHW without N), values in [-1, 1].
    public func render(_ spec: ClipSpec) -> Tensor {
        let out = Tensor(uninitializedShape: [3, spec.frameCount, spec.size, spec.size])
        render(spec, into: out.pointer)
        return out
    }

    /// How much of each pixel each object's silhouette covers, [objects, frames, size, size] in
    /// [0, 1] (an outlined object's silhouette includes its empty inside).
    public func coverage(_ spec: ClipSpec) -> Tensor {
        let plane = spec.size * spec.size
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * spec.frameCount * plane)
        defer { scratch.deallocate() }
        let out = Tensor.zeros([spec.objects.count, spec.frameCount, spec.size, spec.size])
        render(spec, into: scratch, coverage: out.pointer)
        return out
    }

    /// Writes the clip into `out` ([3, frames, size, size], values in [-1, 1]) and, if given,
    /// each object's coverage into `coverage` ([objects, frames, size, size], which must be
    /// zeroed).
    public func render(_ spec: ClipSpec, into out: UnsafeMutablePointer<Float>,
                       coverage: UnsafeMutablePointer<Float>? = nil) {
        let n = spec.size, frames = spec.frameCount, plane = n * n
        let channel = frames * plane
        for f in 0..<frames {
            let r = out + f * plane, g = r + channel, b = g + channel
            for y in 0..<n {
                for x in 0..<n {
                    let c = spec.background.color(at: SIMD2(Float(x) + 0.5, Float(y) + 0.5), size: n)
                    r[y * n + x] = c.x
                    g[y * n + x] = c.y
                    b[y * n + x] = c.z
                }
            }
            for (k, object) in spec.objects.enumerated() {
                draw(object, pose: object.pose(frame: f, frameCount: frames), size: n,
                     rgb: (r, g, b), coverage: coverage.map { $0 + (k * frames + f) * plane })
            }
        }
        // [0, 1] → [-1, 1], the range diffusion models are trained on.
        for i in 0..<(3 * channel) { out[i] = 2 * min(max(out[i], 0), 1) - 1 }
    }

    /// One object's box in every frame.
    public func labels(_ spec: ClipSpec) -> ClipLabels {
        ClipLabels(objects: spec.objects.map { o in
            ObjectLabel(object: o.object, color: o.color, style: o.style, motion: o.motion,
                        boxes: (0..<spec.frameCount).map { box(o, pose: o.pose(frame: $0, frameCount: spec.frameCount)) })
        })
    }

    public func box(_ object: ObjectSpec, pose: Pose) -> BoundingBox {
        let (s, c) = (sin(pose.angle), cos(pose.angle))
        var box = BoundingBox(minX: .infinity, minY: .infinity, maxX: -.infinity, maxY: -.infinity)
        for u in geometry(object.object).outline {
            let p = pose.center + pose.radius * SIMD2(c * u.x - s * u.y, s * u.x + c * u.y)
            box.minX = min(box.minX, p.x)
            box.minY = min(box.minY, p.y)
            box.maxX = max(box.maxX, p.x)
            box.maxY = max(box.maxY, p.y)
        }
        return box
    }

    /// Frame `f` of a rendered clip ([3, F, H, W]) as a [3, H, W] copy.
    public static func frame(_ f: Int, of clip: Tensor) -> Tensor {
        precondition(clip.rank == 4 && clip.shape[0] == 3 && (0..<clip.shape[1]).contains(f),
                     "frame \(f) of a clip of shape \(clip.shape)")
        let (frames, plane) = (clip.shape[1], clip.shape[2] * clip.shape[3])
        let out = Tensor(uninitializedShape: [3, clip.shape[2], clip.shape[3]])
        for c in 0..<3 {
            (out.pointer + c * plane).update(from: clip.pointer + (c * frames + f) * plane, count: plane)
        }
        return out
    }

    private func draw(_ object: ObjectSpec, pose: Pose, size n: Int,
                      rgb: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
                      coverage: UnsafeMutablePointer<Float>?) {
        let shape = geometry(object.object)
        let box = self.box(object, pose: pose)
        let x0 = max(Int(box.minX.rounded(.down)) - 1, 0), x1 = min(Int(box.maxX.rounded(.up)) + 1, n - 1)
        let y0 = max(Int(box.minY.rounded(.down)) - 1, 0), y1 = min(Int(box.maxY.rounded(.up)) + 1, n - 1)
        guard x0 <= x1, y0 <= y1 else { return }

        let ss = config.supersample
        let inv = 1 / Float(ss)
        let weight = inv * inv
        // The farthest a sample lies from its pixel's centre.
        let reach: Float = (0.5 - 0.5 * inv) * Float(2).squareRoot() + 1e-3
        let (sinA, cosA) = (sin(pose.angle), cos(pose.angle))
        let r = pose.radius
        let color = object.color.rgb
        let paper = SIMD3<Float>(repeating: config.paper)
        let outline = object.style == .outlined
        let width = config.outlineWidth
        let hasPattern = object.style == .striped || object.style == .checkered || object.style == .dotted

        // Offset from the centre, rotated into the object's frame (pixels).
        @inline(__always) func local(_ p: SIMD2<Float>) -> SIMD2<Float> {
            let d = p - pose.center
            return SIMD2(cosA * d.x + sinA * d.y, -sinA * d.x + cosA * d.y)
        }
        @inline(__always) func distance(_ l: SIMD2<Float>) -> Float { shape.distance(l / r) * r }
        // Whether a point inside the object takes its color (true) or the pattern's paper.
        @inline(__always) func ink(_ l: SIMD2<Float>) -> Bool {
            switch object.style {
            case .striped:
                let t = l.y / config.stripePeriod
                return t - t.rounded(.down) < 0.5
            case .checkered:
                let i = Int((l.x / config.checkerCell).rounded(.down)) + Int((l.y / config.checkerCell).rounded(.down))
                return i & 1 == 0
            case .dotted:
                // Rows of dots, every other row shifted by half a period (a hexagonal packing:
                // reads as dots rather than as a grid of squares).
                let p = config.dotPeriod, rowStep = p * 0.866
                let row = (l.y / rowStep).rounded()
                let shift = abs(row.truncatingRemainder(dividingBy: 2)) * 0.5 * p
                let q = SIMD2(l.x - shift - p * ((l.x - shift) / p).rounded(), l.y - rowStep * row)
                return (q * q).sum() > config.dotRadius * config.dotRadius
            case .flat, .outlined:
                return true
            }
        }
        // Whether a point at signed distance d is painted (outline: the band just inside the edge).
        @inline(__always) func painted(_ d: Float) -> Bool { d < 0 && (!outline || d > -width) }

        for y in y0...y1 {
            for x in x0...x1 {
                let centre = local(SIMD2(Float(x) + 0.5, Float(y) + 0.5))
                let d0 = distance(centre)
                if d0 >= reach { continue }
                let silhouetteKnown = d0 <= -reach
                let paintKnown = silhouetteKnown && (!outline || d0 >= -width + reach || d0 <= -width - reach)
                var inkSum = SIMD3<Float>.zero
                var paintCount = 0, insideCount = 0
                if paintKnown && !hasPattern {
                    insideCount = ss * ss
                    if painted(d0) { paintCount = ss * ss; inkSum = color * Float(ss * ss) }
                } else {
                    for sy in 0..<ss {
                        for sx in 0..<ss {
                            let p = SIMD2(Float(x) + (Float(sx) + 0.5) * inv, Float(y) + (Float(sy) + 0.5) * inv)
                            let l = local(p)
                            let d = paintKnown ? d0 : distance(l)
                            if d < 0 { insideCount += 1 }
                            guard painted(d) else { continue }
                            paintCount += 1
                            inkSum += ink(l) ? color : paper
                        }
                    }
                }
                let i = y * n + x
                if let coverage { coverage[i] = Float(insideCount) * weight }
                guard paintCount > 0 else { continue }
                let keep = 1 - Float(paintCount) * weight
                let add = inkSum * weight
                rgb.0[i] = rgb.0[i] * keep + add.x
                rgb.1[i] = rgb.1[i] * keep + add.y
                rgb.2[i] = rgb.2[i] * keep + add.z
            }
        }
    }
}
