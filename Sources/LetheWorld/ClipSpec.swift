// What a clip shows, in numbers: the renderer's input and the source of every ground-truth label.
// Coordinates are pixels of the output frame, x to the right, y down, (0, 0) the top-left corner.

import Foundation

public enum WorldMode: String, CaseIterable, Codable, Sendable {
    /// One frame, nothing moves: data for the image model.
    case image
    /// `frameCount` frames with a motion: data for the video model.
    case clip
}

/// Where and how big an object is in one frame.
public struct Pose: Equatable, Sendable {
    public var center: SIMD2<Float>
    /// Radius of the circle the shape fits in, pixels.
    public var radius: Float
    /// Rotation, radians (clockwise on screen, since y points down).
    public var angle: Float
}

public struct ObjectSpec: Hashable, Codable, Sendable {
    public var object: ObjectKind
    public var color: ColorKind
    public var style: StyleKind
    public var motion: MotionKind
    /// Centre at the first frame.
    public var center: SIMD2<Float>
    /// Radius at full size (for `grow`, the size reached at the last frame).
    public var radius: Float
    /// Rotation at the first frame, radians.
    public var angle: Float
    /// left/right/up/down: distance covered over the clip; bounce: height of the jump. Pixels.
    public var travel: Float
    /// spin: rotation per frame, radians, signed.
    public var spinPerFrame: Float
    /// grow: radius at the first frame as a fraction of `radius`.
    public var growFrom: Float

    public init(object: ObjectKind, color: ColorKind, style: StyleKind, motion: MotionKind = .still,
                center: SIMD2<Float>, radius: Float, angle: Float = 0, travel: Float = 0,
                spinPerFrame: Float = 0, growFrom: Float = 1) {
        self.object = object
        self.color = color
        self.style = style
        self.motion = motion
        self.center = center
        self.radius = radius
        self.angle = angle
        self.travel = travel
        self.spinPerFrame = spinPerFrame
        self.growFrom = growFrom
    }

    public var combo: ObjectCombo { ObjectCombo(object: object, color: color, style: style) }

    /// The pose at `frame` of a clip of `frameCount` frames; motions run from the first frame to
    /// the last at constant speed.
    public func pose(frame: Int, frameCount: Int) -> Pose {
        let t = frameCount > 1 ? Float(frame) / Float(frameCount - 1) : 0
        var pose = Pose(center: center, radius: radius, angle: angle)
        switch motion {
        case .left: pose.center.x -= travel * t
        case .right: pose.center.x += travel * t
        case .up: pose.center.y -= travel * t
        case .down: pose.center.y += travel * t
        // One hop: leaves the ground, peaks mid-clip, lands on the last frame.
        case .bounce: pose.center.y -= travel * sin(Float.pi * t)
        case .spin: pose.angle += spinPerFrame * Float(frame)
        case .grow: pose.radius *= growFrom + (1 - growFrom) * t
        case .still: break
        }
        return pose
    }
}

/// An (object, color, style) triple; some are kept out of training to test composition.
public struct ObjectCombo: Hashable, Codable, Sendable {
    public var object: ObjectKind
    public var color: ColorKind
    public var style: StyleKind

    public init(object: ObjectKind, color: ColorKind, style: StyleKind) {
        self.object = object
        self.color = color
        self.style = style
    }
}

/// A neutral backdrop: a grey with a slight tint and a slight linear gradient, so no object color
/// is ever confused with it.
public struct Background: Hashable, Codable, Sendable {
    public var gray: Float
    /// Added per channel (R, G, B).
    public var tint: SIMD3<Float>
    /// Change of brightness across the whole frame along x and y.
    public var gradient: SIMD2<Float>

    public init(gray: Float, tint: SIMD3<Float> = .zero, gradient: SIMD2<Float> = .zero) {
        self.gray = gray
        self.tint = tint
        self.gradient = gradient
    }

    /// The color at `p` in a frame of side `size` (linear, so the box filter of a pixel is its
    /// value at the pixel centre).
    public func color(at p: SIMD2<Float>, size: Int) -> SIMD3<Float> {
        let u = p / Float(size) - 0.5
        return SIMD3(repeating: gray + (gradient * u).sum()) + tint
    }
}

public struct ClipSpec: Hashable, Codable, Sendable {
    public var size: Int
    public var frameCount: Int
    /// Drawn in order; the sampler never lets two objects overlap.
    public var objects: [ObjectSpec]
    public var background: Background

    public init(size: Int, frameCount: Int, objects: [ObjectSpec], background: Background) {
        self.size = size
        self.frameCount = frameCount
        self.objects = objects
        self.background = background
    }

    public var mode: WorldMode { frameCount == 1 ? .image : .clip }
}

public struct BoundingBox: Hashable, Codable, Sendable {
    public var minX: Float, minY: Float, maxX: Float, maxY: Float

    public var center: SIMD2<Float> { SIMD2((minX + maxX) / 2, (minY + maxY) / 2) }

    public func contains(_ other: BoundingBox) -> Bool {
        minX <= other.minX && minY <= other.minY && maxX >= other.maxX && maxY >= other.maxY
    }

    public func intersects(_ other: BoundingBox) -> Bool {
        minX < other.maxX && other.minX < maxX && minY < other.maxY && other.minY < maxY
    }
}

/// Ground truth of one object: its concepts and its box in every frame.
public struct ObjectLabel: Hashable, Codable, Sendable {
    public var object: ObjectKind
    public var color: ColorKind
    public var style: StyleKind
    public var motion: MotionKind
    public var boxes: [BoundingBox]
}

/// Ground truth of a clip, for training and checking the concept detector.
public struct ClipLabels: Hashable, Codable, Sendable {
    public var objects: [ObjectLabel]

    /// The motion of the clip (every object of a clip moves the same way).
    public var motion: MotionKind { objects[0].motion }
}

extension CaseIterable where Self: Equatable {
    /// Position in `allCases`: the class index of a detector head.
    public var classIndex: Int {
        let all = Self.allCases
        return all.distance(from: all.startIndex, to: all.firstIndex(of: self)!)
    }
}
