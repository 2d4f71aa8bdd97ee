// Frames are plain interleaved RGB24 buffers so this module stays free of the tensor core: models
// hand over raw Float pointers and get back something every encoder and viewer understands.

/// An 8-bit RGB colour.
public struct RGBColor: Hashable, Sendable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let black = RGBColor(0, 0, 0)
    public static let white = RGBColor(255, 255, 255)
    public static let gray = RGBColor(128, 128, 128)
    public static let yellow = RGBColor(255, 220, 90)
}

/// How Float samples map to bytes: diffusion VAEs decode to [-1, 1], image processors use [0, 1].
public enum SampleRange: Sendable {
    case minusOneToOne
    case zeroToOne

    @inline(__always)
    func byte(_ v: Float) -> UInt8 {
        let unit: Float = self == .minusOneToOne ? (v + 1) * 0.5 : v
        // NaN compares false everywhere and would trap in UInt8(_:); treat it as black.
        guard unit > 0 else { return 0 }
        guard unit < 1 else { return 255 }
        return UInt8((unit * 255).rounded())
    }
}

/// Memory order of a stack of frames: diffusers video tensors are [C, F, H, W] per sample,
/// decoded VAE batches (frames folded into the batch) are [F, C, H, W].
public enum VideoLayout: Sendable {
    case cfhw
    case fchw
}

/// One RGB24 image: `pixels` holds `height` rows of `width` interleaved R, G, B bytes.
public struct RGBFrame: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "frame size must be positive, got \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "RGB24 frame \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: RGBColor = .black) {
        precondition(width > 0 && height > 0, "frame size must be positive, got \(width)x\(height)")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = fill.r
            pixels[3 * i + 1] = fill.g
            pixels[3 * i + 2] = fill.b
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// Builds a frame from planar Float samples laid out [channels, height, width] (one image of
    /// a model's output). One channel is shown as grey; only the first three of more are used.
    public init(chw data: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                range: SampleRange = .minusOneToOne) {
        self.init(planes: data, channels: channels, planeStride: height * width, height: height, width: width,
                  range: range)
    }

    public init(chw data: [Float], channels: Int, height: Int, width: Int, range: SampleRange = .minusOneToOne) {
        precondition(data.count == channels * height * width,
                     "CHW data of \(channels)x\(height)x\(width) needs \(channels * height * width) values, got \(data.count)")
        self = data.withUnsafeBufferPointer {
            RGBFrame(chw: $0.baseAddress!, channels: channels, height: height, width: width, range: range)
        }
    }

    /// `planeStride` is the distance between two channel planes, which differs from H·W when the
    /// frames of a [C, F, H, W] video are read one at a time.
    init(planes data: UnsafePointer<Float>, channels: Int, planeStride: Int, height: Int, width: Int,
         range: SampleRange) {
        precondition(channels >= 1, "need at least one channel")
        let plane = height * width
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        let sources = channels >= 3 ? [0, 1, 2] : [0, 0, 0]
        pixels.withUnsafeMutableBufferPointer { out in
            for (c, source) in sources.enumerated() {
                let src = data + source * planeStride
                for i in 0..<plane { out[3 * i + c] = range.byte(src[i]) }
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// Splits the video tensor of one sample into frames.
    public static func frames(from data: UnsafePointer<Float>, layout: VideoLayout, channels: Int, frames: Int,
                              height: Int, width: Int, range: SampleRange = .minusOneToOne) -> [RGBFrame] {
        let plane = height * width
        return (0..<frames).map { f in
            switch layout {
            case .fchw:
                return RGBFrame(planes: data + f * channels * plane, channels: channels, planeStride: plane,
                                height: height, width: width, range: range)
            case .cfhw:
                return RGBFrame(planes: data + f * plane, channels: channels, planeStride: frames * plane,
                                height: height, width: width, range: range)
            }
        }
    }

    public static func frames(from data: [Float], layout: VideoLayout, channels: Int, frames: Int,
                              height: Int, width: Int, range: SampleRange = .minusOneToOne) -> [RGBFrame] {
        precondition(data.count == channels * frames * height * width,
                     "video data of \(channels)x\(frames)x\(height)x\(width) has \(data.count) values")
        return data.withUnsafeBufferPointer {
            RGBFrame.frames(from: $0.baseAddress!, layout: layout, channels: channels, frames: frames,
                            height: height, width: width, range: range)
        }
    }

    public subscript(x: Int, y: Int) -> RGBColor {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
            let i = 3 * (y * width + x)
            return RGBColor(pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
            let i = 3 * (y * width + x)
            pixels[i] = newValue.r
            pixels[i + 1] = newValue.g
            pixels[i + 2] = newValue.b
        }
    }

    /// Fills the part of the rectangle that lies inside the frame.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: RGBColor) {
        let x0 = max(0, x), x1 = min(width, x + w)
        let y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        let stride = width
        pixels.withUnsafeMutableBufferPointer { p in
            for row in y0..<y1 {
                for col in x0..<x1 {
                    let i = 3 * (row * stride + col)
                    p[i] = color.r
                    p[i + 1] = color.g
                    p[i + 2] = color.b
                }
            }
        }
    }

    /// Copies `other` with its top-left corner at (x, y), clipped to this frame.
    public mutating func paste(_ other: RGBFrame, x: Int, y: Int) {
        let x0 = max(0, x), x1 = min(width, x + other.width)
        let y0 = max(0, y), y1 = min(height, y + other.height)
        guard x0 < x1, y0 < y1 else { return }
        let stride = width
        pixels.withUnsafeMutableBufferPointer { dst in
            other.pixels.withUnsafeBufferPointer { src in
                let rowBytes = 3 * (x1 - x0)
                for row in y0..<y1 {
                    let d = dst.baseAddress! + 3 * (row * stride + x0)
                    let s = src.baseAddress! + 3 * ((row - y) * other.width + (x0 - x))
                    d.update(from: s, count: rowBytes)
                }
            }
        }
    }

    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBFrame {
        precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height,
                     "crop (\(x), \(y), \(w)x\(h)) outside \(width)x\(height)")
        var out = RGBFrame(width: w, height: h)
        out.paste(self, x: -x, y: -y)
        return out
    }

    /// Nearest-neighbour enlargement, which keeps the pixels of tiny (32×32) samples crisp.
    public func upscaled(by factor: Int) -> RGBFrame {
        precondition(factor >= 1, "upscale factor must be at least 1, got \(factor)")
        if factor == 1 { return self }
        let outWidth = width * factor
        var out = [UInt8](repeating: 0, count: outWidth * height * factor * 3)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    // Build one enlarged row, then duplicate it for the remaining factor - 1 rows.
                    let firstRow = dst.baseAddress! + 3 * (y * factor * outWidth)
                    for x in 0..<width {
                        let s = src.baseAddress! + 3 * (y * width + x)
                        for k in 0..<factor {
                            let d = firstRow + 3 * (x * factor + k)
                            d[0] = s[0]
                            d[1] = s[1]
                            d[2] = s[2]
                        }
                    }
                    for k in 1..<factor {
                        (firstRow + 3 * k * outWidth).update(from: firstRow, count: 3 * outWidth)
                    }
                }
            }
        }
        return RGBFrame(width: outWidth, height: height * factor, pixels: out)
    }

    /// The frame grown to even width and height by repeating its last column/row, as 4:2:0
    /// chroma subsampling requires; repeating (rather than a black bar) keeps the edge invisible.
    public func paddedToEven() -> RGBFrame {
        let w = width + width % 2, h = height + height % 2
        if w == width && h == height { return self }
        var out = RGBFrame(width: w, height: h)
        out.paste(self, x: 0, y: 0)
        if w != width {
            for y in 0..<height { out[w - 1, y] = self[width - 1, y] }
        }
        if h != height {
            for x in 0..<w { out[x, h - 1] = out[x, height - 1] }
        }
        return out
    }

    /// Side-by-side layout, tops aligned; shorter frames are padded below with `background`.
    public static func hconcat(_ frames: [RGBFrame], spacing: Int = 0, background: RGBColor = .black) -> RGBFrame {
        precondition(!frames.isEmpty, "nothing to concatenate")
        let w = frames.reduce(0) { $0 + $1.width } + spacing * (frames.count - 1)
        let h = frames.map(\.height).max()!
        var out = RGBFrame(width: w, height: h, fill: background)
        var x = 0
        for f in frames {
            out.paste(f, x: x, y: 0)
            x += f.width + spacing
        }
        return out
    }

    /// Stacked layout, left edges aligned; narrower frames are padded right with `background`.
    public static func vconcat(_ frames: [RGBFrame], spacing: Int = 0, background: RGBColor = .black) -> RGBFrame {
        precondition(!frames.isEmpty, "nothing to concatenate")
        let w = frames.map(\.width).max()!
        let h = frames.reduce(0) { $0 + $1.height } + spacing * (frames.count - 1)
        var out = RGBFrame(width: w, height: h, fill: background)
        var y = 0
        for f in frames {
            out.paste(f, x: 0, y: y)
            y += f.height + spacing
        }
        return out
    }

    /// Rows of frames with `spacing` between cells and `border` around the whole grid.
    public static func grid(_ rows: [[RGBFrame]], spacing: Int = 0, border: Int = 0,
                            background: RGBColor = .black) -> RGBFrame {
        let lines = rows.map { hconcat($0, spacing: spacing, background: background) }
        let inner = vconcat(lines, spacing: spacing, background: background)
        guard border > 0 else { return inner }
        var out = RGBFrame(width: inner.width + 2 * border, height: inner.height + 2 * border, fill: background)
        out.paste(inner, x: border, y: border)
        return out
    }
}

/// The name the rest of the toolkit uses for a video frame.
public typealias Frame = RGBFrame
