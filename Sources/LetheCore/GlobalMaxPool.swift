// Global max pooling (`torch.amax(x, dim=(2, 3))`, `F.adaptive_max_pool2d(x, 1)`), for presence
// heads: a concept is present when some place in the frame shows it strongly, however small
// the object and whatever else the frame holds. An average over the frame would dilute a small
// object by its area and mix the two objects of a pair into one feature.

extension Tensor {
    /// [N, C, H, W] → [N, C]: each channel's largest value. The gradient goes to the first
    /// position holding the maximum (as PyTorch's max pooling).
    public func globalMaxPool() -> Tensor {
        precondition(rank == 4, "globalMaxPool: input must be [N, C, H, W], got \(shape)")
        let rows = shape[0] * shape[1], plane = shape[2] * shape[3]
        precondition(plane > 0, "globalMaxPool: empty spatial size in \(shape)")
        let out = Tensor(uninitializedShape: [shape[0], shape[1]])
        var argmax = [Int](repeating: 0, count: rows)
        let src = pointer, dst = out.pointer
        argmax.withUnsafeMutableBufferPointer { best in
            let bestBase = best.baseAddress!
            parallelFor(rows, grain: max(1, 4096 / plane)) { r in
                for row in r {
                    let p = src + row * plane
                    var k = 0
                    for j in 1..<plane where p[j] > p[k] { k = j }
                    bestBase[row] = k
                    dst[row] = p[k]
                }
            }
        }
        let inShape = shape
        return Autograd.record(out, "global_max_pool", inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let gp = g.pointer, gxp = gx.pointer
            for row in 0..<rows { gxp[row * plane + argmax[row]] = gp[row] }
            return [gx]
        }
    }
}
