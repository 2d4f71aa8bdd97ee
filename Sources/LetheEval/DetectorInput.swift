// Pictures from files as the detector sees them: 32×32 RGB in [-1, 1]. Files written for
// viewing are upscaled (lethe writes 4× by default), so a frame of another size is resampled by
// area averaging: an exact integer upscale comes back to the original pixels, and any other size
// is filtered instead of aliased.

import LetheCore
import LetheMedia

public enum DetectorInput {
    /// Frames [N, 3, size, size] in [-1, 1].
    public static func tensor(frames: [RGBFrame], size: Int) -> Tensor {
        precondition(size > 0, "DetectorInput: size must be positive")
        let plane = size * size
        let out = Tensor(uninitializedShape: [frames.count, 3, size, size])
        for (n, frame) in frames.enumerated() {
            let dst = out.pointer + n * 3 * plane
            let sx = Double(frame.width) / Double(size), sy = Double(frame.height) / Double(size)
            frame.pixels.withUnsafeBufferPointer { px in
                for y in 0..<size {
                    let (y0, y1) = (Double(y) * sy, Double(y + 1) * sy)
                    for x in 0..<size {
                        let (x0, x1) = (Double(x) * sx, Double(x + 1) * sx)
                        var sum = SIMD3<Double>(repeating: 0), weight = 0.0
                        // Every source pixel the target pixel's footprint overlaps, weighted by
                        // the overlap.
                        for v in Int(y0)..<min(Int(y1.rounded(.up)), frame.height) {
                            let wy = min(y1, Double(v + 1)) - max(y0, Double(v))
                            if wy <= 0 { continue }
                            for u in Int(x0)..<min(Int(x1.rounded(.up)), frame.width) {
                                let wx = min(x1, Double(u + 1)) - max(x0, Double(u))
                                if wx <= 0 { continue }
                                let p = (v * frame.width + u) * 3
                                sum += SIMD3(Double(px[p]), Double(px[p + 1]), Double(px[p + 2])) * (wx * wy)
                                weight += wx * wy
                            }
                        }
                        let mean = sum / max(weight, 1e-12)
                        for c in 0..<3 { dst[c * plane + y * size + x] = Float(mean[c] / 255 * 2 - 1) }
                    }
                }
            }
        }
        return out
    }

    /// Frames [F, 3, H, W] of one clip as the clip tensor [1, 3, F, H, W].
    public static func clip(frames: Tensor) -> Tensor {
        precondition(frames.rank == 4, "DetectorInput.clip: frames must be [F, 3, H, W], got \(frames.shape)")
        let (f, h, w) = (frames.shape[0], frames.shape[2], frames.shape[3])
        return Autograd.inference { frames.permuted([1, 0, 2, 3]).reshaped([1, 3, f, h, w]).copy() }
    }
}
