// Nearest-neighbour 2× upsampling of the last two dimensions, as
// F.interpolate(x, scale_factor=2, mode="nearest") does for [N, C, H, W] and, in diffusers'
// 3-D UNet, for each frame of [N, C, F, H, W].

import Foundation

extension Tensor {
    /// [..., H, W] → [..., 2H, 2W] for 4-D images or 5-D videos (frames are not upsampled);
    /// each value is copied into a 2×2 block. Backward sums each block.
    public func upsampleNearest2x() -> Tensor {
        precondition(rank == 4 || rank == 5, "upsampleNearest2x: input must be [N, C, H, W] or [N, C, F, H, W], got \(shape)")
        let h = shape[rank - 2], w = shape[rank - 1]
        let planes = h * w == 0 ? 0 : count / (h * w)
        let out = Tensor(uninitializedShape: Array(shape.dropLast(2)) + [2 * h, 2 * w])
        let src = pointer, dst = out.pointer
        parallelFor(planes, grain: max(1, 16384 / max(4 * h * w, 1))) { range in
            for p in range {
                let s = src + p * h * w, d = dst + p * 4 * h * w
                for y in 0..<h {
                    let row = d + 2 * y * 2 * w, srow = s + y * w
                    for x in 0..<w {
                        row[2 * x] = srow[x]
                        row[2 * x + 1] = srow[x]
                    }
                    (row + 2 * w).update(from: row, count: 2 * w)
                }
            }
        }
        let inShape = shape
        return Autograd.record(out, "upsample_nearest2x", inputs: [self]) { g in
            let gx = Tensor(uninitializedShape: inShape)
            let gp = g.pointer, dx = gx.pointer
            parallelFor(planes, grain: max(1, 16384 / max(4 * h * w, 1))) { range in
                for p in range {
                    let s = gp + p * 4 * h * w, d = dx + p * h * w
                    for y in 0..<h {
                        let top = s + 2 * y * 2 * w, bottom = top + 2 * w, drow = d + y * w
                        for x in 0..<w {
                            drow[x] = (top[2 * x] + top[2 * x + 1]) + (bottom[2 * x] + bottom[2 * x + 1])
                        }
                    }
                }
            }
            return [gx]
        }
    }
}
