// Shape geometry as signed distance functions in the shape's own unit space: negative inside,
// y pointing down (image rows), every shape inside the unit circle so that any rotation of a
// shape of radius r stays within r of its centre.

import Foundation

public struct ShapeGeometry: Sendable {
    enum Form: Sendable {
        case circle
        /// A simple polygon (any winding), exact distance to its edges.
        case polygon([SIMD2<Float>])
        /// The unit disc minus a disc of radius `cutRadius` at `cutCenter`.
        case crescent(cutCenter: SIMD2<Float>, cutRadius: Float)
    }

    let form: Form
    /// Points on the boundary (unit space), for bounding boxes.
    public private(set) var outline: [SIMD2<Float>]
    /// Unit space → the form's own coordinates: p_form = offset + p * scale. Puts the centre of
    /// area at the origin, so a spinning shape's centroid stays put, and the farthest point on 1.
    private var offset = SIMD2<Float>.zero
    private var scale: Float = 1

    public init(_ object: ObjectKind) {
        (form, outline) = ShapeGeometry.rawForm(object)
        let c = centroid()
        let r = outline.map { p -> Float in let q = p - c; return (q * q).sum().squareRoot() }.max()!
        offset = c
        scale = r
        outline = outline.map { ($0 - c) / r }
    }

    /// Centre of area of the outline polygon (shoelace formula); the outline follows every
    /// shape's boundary closely enough for centring.
    private func centroid() -> SIMD2<Float> {
        var area: Float = 0, sum = SIMD2<Float>.zero
        for i in outline.indices {
            let a = outline[i], b = outline[(i + 1) % outline.count]
            let cross = a.x * b.y - b.x * a.y
            area += cross
            sum += (a + b) * cross
        }
        return sum / (3 * area)
    }

    /// The shape before centring and scaling, with its boundary points.
    private static func rawForm(_ object: ObjectKind) -> (Form, [SIMD2<Float>]) {
        func polygon(_ v: [SIMD2<Float>]) -> (Form, [SIMD2<Float>]) { (.polygon(v), v) }
        switch object {
        case .circle:
            return (.circle, arc(center: .zero, radius: 1, from: 0, to: 2 * .pi, count: 64))
        case .square:
            let a = Float(0.5).squareRoot()
            return polygon([SIMD2(-a, -a), SIMD2(a, -a), SIMD2(a, a), SIMD2(-a, a)])
        case .triangle:
            return polygon((0..<3).map { i in
                let t = -Float.pi / 2 + Float(i) * 2 * .pi / 3
                return SIMD2(cos(t), sin(t))
            })
        case .star:
            return polygon((0..<10).map { i in
                let t = -Float.pi / 2 + Float(i) * .pi / 5
                let r: Float = i % 2 == 0 ? 1 : 0.45
                return SIMD2(r * cos(t), r * sin(t))
            })
        case .heart:
            return polygon(heartOutline(count: 48))
        case .cross:
            // Arms 0.68 wide; the outer corners touch the unit circle.
            let w: Float = 0.34, l = (1 - w * w).squareRoot()
            return polygon([
                SIMD2(-w, -l), SIMD2(w, -l), SIMD2(w, -w), SIMD2(l, -w), SIMD2(l, w), SIMD2(w, w),
                SIMD2(w, l), SIMD2(-w, l), SIMD2(-w, w), SIMD2(-l, w), SIMD2(-l, -w), SIMD2(-w, -w),
            ])
        case .diamond:
            // Taller than wide, so no rotation of a square ever looks like it.
            return polygon([SIMD2(0, -1), SIMD2(0.62, 0), SIMD2(0, 1), SIMD2(-0.62, 0)])
        case .crescent:
            let c = SIMD2<Float>(0.55, 0), rc: Float = 0.8
            // Horn tips where the two circles cross; the outline runs round the outer arc and
            // back along the inner one.
            let hx = (1 - rc * rc + c.x * c.x) / (2 * c.x)
            let hy = (1 - hx * hx).squareRoot()
            let outerAngle = atan2(hy, hx), innerAngle = atan2(hy, hx - c.x)
            let outer = arc(center: .zero, radius: 1, from: outerAngle, to: 2 * .pi - outerAngle, count: 48)
            let inner = arc(center: c, radius: rc, from: 2 * .pi - innerAngle, to: innerAngle, count: 32)
            return (.crescent(cutCenter: c, cutRadius: rc), outer + inner)
        }
    }

    /// Signed distance from `p` (unit space) to the boundary; negative inside. For the crescent it
    /// is exact inside and a lower bound outside, which is all the renderer relies on.
    @inline(__always)
    func distance(_ p: SIMD2<Float>) -> Float {
        formDistance(offset + p * scale) / scale
    }

    @inline(__always)
    private func formDistance(_ p: SIMD2<Float>) -> Float {
        switch form {
        case .circle:
            return (p * p).sum().squareRoot() - 1
        case let .crescent(c, rc):
            let q = p - c
            return max((p * p).sum().squareRoot() - 1, rc - (q * q).sum().squareRoot())
        case let .polygon(v):
            return v.withUnsafeBufferPointer { ShapeGeometry.polygonDistance(p, $0) }
        }
    }

    @inline(__always)
    static func polygonDistance(_ p: SIMD2<Float>, _ v: UnsafeBufferPointer<SIMD2<Float>>) -> Float {
        let d0 = p - v[0]
        var best = (d0 * d0).sum()
        var inside = false
        var j = v.count - 1
        for i in 0..<v.count {
            let a = v[i], b = v[j]
            let e = b - a, w = p - a
            let t = min(max((w * e).sum() / (e * e).sum(), 0), 1)
            let q = w - e * t
            best = min(best, (q * q).sum())
            // Crossing-number test: the edge straddles p's row and p is on its left.
            if (a.y > p.y) != (b.y > p.y) {
                let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y)
                if p.x < x { inside.toggle() }
            }
            j = i
        }
        let d = best.squareRoot()
        return inside ? -d : d
    }

    static func arc(center: SIMD2<Float>, radius: Float, from a0: Float, to a1: Float, count: Int) -> [SIMD2<Float>] {
        (0..<count).map { i in
            let t = a0 + (a1 - a0) * Float(i) / Float(count - 1)
            return center + radius * SIMD2(cos(t), sin(t))
        }
    }

    /// The classic parametric heart, point down, scaled into the unit circle about the centre
    /// of its bounding box.
    static func heartOutline(count: Int) -> [SIMD2<Float>] {
        let raw: [SIMD2<Float>] = (0..<count).map { i in
            let t = Float(i) * 2 * .pi / Float(count)
            let s = sin(t)
            let x = 16 * s * s * s
            let y = -(13 * cos(t) - 5 * cos(2 * t) - 2 * cos(3 * t) - cos(4 * t))
            return SIMD2(x, y)
        }
        let lo = raw.reduce(SIMD2<Float>(repeating: .infinity)) { pointwiseMin($0, $1) }
        let hi = raw.reduce(SIMD2<Float>(repeating: -.infinity)) { pointwiseMax($0, $1) }
        let mid = (lo + hi) / 2
        let radius = raw.map { p -> Float in let q = p - mid; return (q * q).sum().squareRoot() }.max()!
        return raw.map { ($0 - mid) / radius }
    }
}
