// Training losses with PyTorch's default mean reduction. Sums are accumulated in Double over
// fixed blocks (see `deterministicSum`), so a loss does not depend on the core count.

import Foundation

extension Tensor {
    /// mean((self − target)²) (`F.mse_loss`, reduction "mean"); shapes must match.
    public func mseLoss(_ target: Tensor) -> Tensor {
        precondition(shape == target.shape, "mseLoss: input \(shape) and target \(target.shape) differ")
        let x = self, xp = pointer, tp = target.pointer, n = count
        let value = deterministicSum(n) { i in
            let d = Double(xp[i]) - Double(tp[i])
            return d * d
        } / Double(max(n, 1))
        let out = Tensor.scalar(Float(value))
        return Autograd.record(out, "mse_loss", inputs: [x, target]) { g in
            // d/dx = 2(x − t)/N; the target's gradient is its negative.
            let scale = 2 * g.item / Float(max(n, 1))
            let gx = Tensor(uninitializedShape: x.shape)
            let gp = gx.pointer
            parallelFor(n, grain: 1 << 15) { r in
                for i in r { gp[i] = scale * (xp[i] - tp[i]) }
            }
            return [x.requiresGrad ? gx : nil, target.requiresGrad ? gx.map { -$0 } : nil]
        }
    }
}

/// Mean over rows of −log softmax(logits)[label] (`F.cross_entropy(logits, labels)`):
/// logits [N, C], one class index in 0..<C per row.
public func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    precondition(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
    let rows = logits.shape[0], classes = logits.shape[1]
    precondition(labels.count == rows, "crossEntropy: \(labels.count) labels for \(rows) rows")
    for (i, label) in labels.enumerated() {
        precondition(label >= 0 && label < classes, "crossEntropy: label \(label) at row \(i) outside 0..<\(classes)")
    }
    // Probabilities are kept for backward: dlogits = (softmax − onehot)/N.
    let probs = TensorStorage(count: logits.count)
    let perRow = UnsafeMutablePointer<Double>.allocate(capacity: max(rows, 1))
    defer { perRow.deallocate() }
    let src = logits.pointer, pp = probs.pointer
    parallelFor(rows, grain: max(1, (1 << 14) / max(classes, 1))) { r in
        for row in r {
            let x = src + row * classes, p = pp + row * classes
            p.update(from: x, count: classes)
            let m = rowMax(x, classes)
            let sum = expShiftedInPlace(p, classes, shift: m)
            scaleInPlace(p, classes, 1 / sum)
            // −log p[label] = log Σ e^(x−m) − (x[label] − m), without taking the log of a tiny p.
            perRow[row] = Foundation.log(Double(sum)) - Double(x[labels[row]] - m)
        }
    }
    var total = 0.0
    for row in 0..<rows { total += perRow[row] }
    let out = Tensor.scalar(Float(total / Double(max(rows, 1))))
    return Autograd.record(out, "cross_entropy", inputs: [logits]) { g in
        let gx = Tensor(uninitializedShape: [rows, classes])
        let scale = g.item / Float(max(rows, 1)), gp = gx.pointer, pp = probs.pointer
        for row in 0..<rows {
            for c in 0..<classes { gp[row * classes + c] = scale * pp[row * classes + c] }
            gp[row * classes + labels[row]] -= scale
        }
        return [gx]
    }
}
