// GIF stores at most 256 colours per image. Clips with few colours (test patterns, labels) keep
// them exactly; others get a median-cut palette shared by all frames so colours do not flicker.

/// Up to 256 colours and a mapping from any RGB colour to its nearest entry.
public struct ColorPalette: Sendable {
    public let colors: [RGBColor]

    public init(colors: [RGBColor]) {
        precondition(!colors.isEmpty && colors.count <= 256, "a palette holds 1...256 colours, got \(colors.count)")
        self.colors = colors
    }

    /// A palette for `frames`: their exact colours when there are at most `maxColors`, otherwise
    /// a median cut of their colour histogram (pixels are sampled on large clips).
    public init(frames: [RGBFrame], maxColors: Int = 256) {
        precondition(!frames.isEmpty && (1...256).contains(maxColors), "need frames and 1...256 colours")
        if let distinct = ColorPalette.distinctColors(frames, limit: maxColors) {
            self.init(colors: distinct)
        } else {
            self.init(colors: MedianCut(frames: frames).palette(maxColors: maxColors))
        }
    }

    @inline(__always)
    static func key(_ c: RGBColor) -> UInt32 { UInt32(c.r) << 16 | UInt32(c.g) << 8 | UInt32(c.b) }

    private static func distinctColors(_ frames: [RGBFrame], limit: Int) -> [RGBColor]? {
        var seen = Set<UInt32>()
        var colors: [RGBColor] = []
        for frame in frames {
            let p = frame.pixels
            for i in stride(from: 0, to: p.count, by: 3) {
                let c = RGBColor(p[i], p[i + 1], p[i + 2])
                if seen.insert(key(c)).inserted {
                    colors.append(c)
                    if colors.count > limit { return nil }
                }
            }
        }
        return colors
    }

    func nearestIndex(r: Int, g: Int, b: Int) -> UInt8 {
        var best = 0, bestDistance = Int.max
        for (i, c) in colors.enumerated() {
            let dr = Int(c.r) - r, dg = Int(c.g) - g, db = Int(c.b) - b
            let d = 2 * dr * dr + 4 * dg * dg + db * db  // eyes are most sensitive to green, least to blue
            if d < bestDistance {
                best = i
                bestDistance = d
            }
        }
        return UInt8(best)
    }
}

/// Maps pixels to palette indices, remembering the answer for each 6-bit-per-channel cell so a
/// clip costs one nearest-colour search per distinct cell rather than per pixel.
struct PaletteMapper {
    let palette: ColorPalette
    private let exact: [UInt32: UInt8]
    private var cache: [Int16]

    init(_ palette: ColorPalette) {
        self.palette = palette
        var exact: [UInt32: UInt8] = [:]
        for (i, c) in palette.colors.enumerated() where exact[ColorPalette.key(c)] == nil {
            exact[ColorPalette.key(c)] = UInt8(i)
        }
        self.exact = exact
        cache = [Int16](repeating: -1, count: 1 << 18)
    }

    mutating func index(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        if let i = exact[UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)] { return i }
        let cell = Int(r >> 2) << 12 | Int(g >> 2) << 6 | Int(b >> 2)
        if cache[cell] >= 0 { return UInt8(cache[cell]) }
        // Search from the cell centre so every colour in the cell gets the same answer.
        let i = palette.nearestIndex(r: Int(r & 0xFC) + 2, g: Int(g & 0xFC) + 2, b: Int(b & 0xFC) + 2)
        cache[cell] = Int16(i)
        return i
    }

    /// Palette indices of `frame`, one byte per pixel.
    mutating func indices(_ frame: RGBFrame) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: frame.width * frame.height)
        frame.pixels.withUnsafeBufferPointer { p in
            for i in 0..<out.count {
                out[i] = index(p[3 * i], p[3 * i + 1], p[3 * i + 2])
            }
        }
        return out
    }
}

/// Heckbert's median cut over a 5-bit-per-channel histogram: repeatedly split the box with the
/// largest squared error at the weighted median of its widest channel.
private struct MedianCut {
    /// Occupied histogram cells: pixel count and per-channel sums (for exact mean colours).
    private var counts: [Int] = []
    private var sums: [(Int, Int, Int)] = []

    init(frames: [RGBFrame]) {
        let total = frames.reduce(0) { $0 + $1.width * $1.height }
        // About a million samples is plenty for a 256-colour palette.
        let step = max(1, total / 1_000_000)
        var histogram = [Int](repeating: 0, count: 1 << 15)
        var rs = histogram, gs = histogram, bs = histogram
        for frame in frames {
            frame.pixels.withUnsafeBufferPointer { p in
                for i in stride(from: 0, to: frame.width * frame.height, by: step) {
                    let r = Int(p[3 * i]), g = Int(p[3 * i + 1]), b = Int(p[3 * i + 2])
                    let cell = (r >> 3) << 10 | (g >> 3) << 5 | (b >> 3)
                    histogram[cell] += 1
                    rs[cell] += r
                    gs[cell] += g
                    bs[cell] += b
                }
            }
        }
        for cell in 0..<histogram.count where histogram[cell] > 0 {
            counts.append(histogram[cell])
            sums.append((rs[cell], gs[cell], bs[cell]))
        }
    }

    private func mean(_ i: Int) -> (Double, Double, Double) {
        let n = Double(counts[i])
        return (Double(sums[i].0) / n, Double(sums[i].1) / n, Double(sums[i].2) / n)
    }

    private struct Box {
        var members: [Int]
        var error: Double
        var axis: Int
    }

    private func makeBox(_ members: [Int]) -> Box {
        var n = 0.0, s = [0.0, 0.0, 0.0], s2 = [0.0, 0.0, 0.0]
        for i in members {
            let w = Double(counts[i])
            let m = mean(i)
            for (c, v) in [m.0, m.1, m.2].enumerated() {
                s[c] += w * v
                s2[c] += w * v * v
            }
            n += w
        }
        let variance = (0..<3).map { s2[$0] - s[$0] * s[$0] / n }
        let axis = variance.indices.max { variance[$0] < variance[$1] }!
        return Box(members: members, error: members.count > 1 ? variance.reduce(0, +) : 0, axis: axis)
    }

    func palette(maxColors: Int) -> [RGBColor] {
        var boxes = [makeBox(Array(counts.indices))]
        while boxes.count < maxColors {
            guard let worst = boxes.indices.max(by: { boxes[$0].error < boxes[$1].error }),
                  boxes[worst].error > 0 else { break }
            let box = boxes[worst]
            let sorted = box.members.sorted { component(mean($0), box.axis) < component(mean($1), box.axis) }
            let half = sorted.reduce(0) { $0 + counts[$1] } / 2
            var running = 0, cut = 1
            for (k, i) in sorted.enumerated() {
                running += counts[i]
                if running >= half {
                    cut = k + 1
                    break
                }
            }
            cut = min(max(cut, 1), sorted.count - 1)
            boxes[worst] = makeBox(Array(sorted[..<cut]))
            boxes.append(makeBox(Array(sorted[cut...])))
        }
        return boxes.map { box in
            var n = 0, r = 0, g = 0, b = 0
            for i in box.members {
                n += counts[i]
                r += sums[i].0
                g += sums[i].1
                b += sums[i].2
            }
            return RGBColor(UInt8((r + n / 2) / n), UInt8((g + n / 2) / n), UInt8((b + n / 2) / n))
        }
    }

    private func component(_ c: (Double, Double, Double), _ axis: Int) -> Double {
        axis == 0 ? c.0 : axis == 1 ? c.1 : c.2
    }
}
