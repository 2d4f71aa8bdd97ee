// Pictures as the detector sees them: 32×32 RGB in [-1, 1]. Files written for viewing are
// upscaled (lethe writes 4× by default) and a model may draw at another size, so pictures of
// another size are resampled by area averaging: an exact integer upscale comes back to the
// original pixels, and any other size is filtered instead of aliased.

import LetheCore
import LetheMedia

public enum DetectorInput {
    /// Frames [N, 3, size, size] in [-1, 1].
    public static func tensor(frames: [RGBFrame], size: Int) -> Tensor {
        guard let first = frames.first else { return Tensor.zeros([0, 3, size, size]) }
        let (h, w) = (first.height, first.width), plane = h * w
        precondition(frames.allSatisfy { $0.width == w && $0.height == h }, "DetectorInput: frames of different sizes")
        let raw = Tensor(uninitializedShape: [frames.count, 3, h, w])
        for (n, frame) in frames.enumerated() {
            let dst = raw.pointer + n * 3 * plane
            for p in 0..<plane {
                for c in 0..<3 { dst[c * plane + p] = Float(frame.pixels[p * 3 + c]) / 255 * 2 - 1 }
            }
        }
        return resized(raw, size: size)
    }

    /// Images [N, C, H, W] or clips [N, C, F, H, W] resampled to size×size (area average) and
    /// clamped to [-1, 1]; a new tensor, outside any graph.
    public static func resized(_ x: Tensor, size: Int) -> Tensor {
        precondition(size > 0 && x.rank >= 3, "DetectorInput.resized: size \(size), input \(x.shape)")
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let planes = x.count / (h * w)
        let out = Tensor(uninitializedShape: Array(x.shape.dropLast(2)) + [size, size])
        let wy = areaWeights(from: h, to: size), wx = areaWeights(from: w, to: size)
        let src = x.pointer, dst = out.pointer
        parallelFor(planes, grain: 8) { range in
            var rows = [Float](repeating: 0, count: size * w)
            for plane in range {
                let s = src + plane * h * w, d = dst + plane * size * size
                // Rows first, then columns: area averaging is separable.
                for y in 0..<size {
                    for j in 0..<w { rows[y * w + j] = 0 }
                    for (v, weight) in wy[y] { for j in 0..<w { rows[y * w + j] += weight * s[v * w + j] } }
                }
                for y in 0..<size {
                    for xo in 0..<size {
                        var sum: Float = 0
                        for (u, weight) in wx[xo] { sum += weight * rows[y * w + u] }
                        d[y * size + xo] = min(max(sum, -1), 1)
                    }
                }
            }
        }
        return out
    }

    /// For each of `m` target cells, the source cells of an axis of `n` it overlaps and the
    /// normalised overlap.
    static func areaWeights(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { i in
            let (a, b) = (Double(i) * scale, Double(i + 1) * scale)
            var cells: [(Int, Float)] = []
            for k in Int(a)..<min(Int(b.rounded(.up)), n) {
                let overlap = min(b, Double(k + 1)) - max(a, Double(k))
                if overlap > 1e-12 { cells.append((k, Float(overlap / scale))) }
            }
            return cells
        }
    }

    /// Frames [F, 3, H, W] of one clip as the clip tensor [1, 3, F, H, W].
    public static func clip(frames: Tensor) -> Tensor {
        precondition(frames.rank == 4, "DetectorInput.clip: frames must be [F, 3, H, W], got \(frames.shape)")
        let (f, h, w) = (frames.shape[0], frames.shape[2], frames.shape[3])
        return Autograd.inference { frames.permuted([1, 0, 2, 3]).reshaped([1, 3, f, h, w]).copy() }
    }
}
