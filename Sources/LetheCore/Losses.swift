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

extension Tensor {
    /// (1/N)·Σ_b w_b·Σ_i (self_bi − target_bi)² over samples b of the first axis: the mean squared
    /// error with one weight per sample (min-SNR weighting of a diffusion loss). Built from the
    /// plain MSE of √w-scaled tensors, so it has that loss's gradients; weights must be ≥ 0.
    public func weightedMSELoss(_ target: Tensor, sampleWeights: [Float]) -> Tensor {
        precondition(shape == target.shape, "weightedMSELoss: input \(shape) and target \(target.shape) differ")
        precondition(rank >= 1 && sampleWeights.count == shape[0] && sampleWeights.allSatisfy { $0 >= 0 },
                     "weightedMSELoss: \(sampleWeights.count) non-negative weights for \(shape)")
        var scaleShape = Array(repeating: 1, count: rank)
        scaleShape[0] = shape[0]
        let scale = Tensor(shape: scaleShape, data: sampleWeights.map { $0.squareRoot() })
        return (self * scale).mseLoss(target * scale)
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

// MARK: Binary cross-entropy

// On logits, for multi-label presence heads (the detector: a two-object frame shows two objects,
// possibly two colors and two styles, so each class is its own yes/no).

/// Mean over all elements of −[t·log σ(x) + (1−t)·log(1−σ(x))]
/// (`F.binary_cross_entropy_with_logits(logits, targets)`, reduction "mean"): logits and
/// targets of the same shape, targets in [0, 1]. Targets get no gradient.
public func binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor) -> Tensor {
    precondition(logits.shape == targets.shape,
                 "binaryCrossEntropyWithLogits: logits \(logits.shape) and targets \(targets.shape) differ")
    let n = logits.count
    let xp = logits.pointer, tp = targets.pointer
    // max(x, 0) − x·t + log(1 + e^−|x|): PyTorch's form, finite for any logit (no log of a
    // probability that underflowed to 0). Summed in Double in index order, so the loss does
    // not depend on thread timing.
    var total = 0.0
    for i in 0..<n {
        let x = Double(xp[i]), t = Double(tp[i])
        total += max(x, 0) - x * t + Foundation.log1p(Foundation.exp(-abs(x)))
    }
    let out = Tensor.scalar(Float(total / Double(max(n, 1))))
    return Autograd.record(out, "binary_cross_entropy_with_logits", inputs: [logits]) { g in
        // d/dx = (σ(x) − t)/N.
        // Read through the tensors, not the pointers taken above: the closure must keep the
        // caller's targets alive until backward runs.
        let scale = g.item / Float(max(n, 1))
        let gx = Tensor(uninitializedShape: logits.shape)
        let gp = gx.pointer, xp = logits.pointer, tp = targets.pointer
        for i in 0..<n { gp[i] = scale * (1 / (1 + Foundation.exp(-xp[i])) - tp[i]) }
        return [gx]
    }
}

extension Tensor {
    /// mean((self − target)²) per sample of the first axis: shape [B]. A loss that compares one
    /// sample's error under two conditions (`relativeMarginHinge`) needs the errors one by one.
    public func perSampleMSE(_ target: Tensor) -> Tensor {
        precondition(shape == target.shape && rank >= 1, "perSampleMSE: input \(shape) and target \(target.shape) differ")
        return (self - target).squared().reshaped([shape[0], count / max(shape[0], 1)]).mean(axis: 1)
    }
}

/// mean_i max(0, margin − (wrong_i − right_i) / scale_i): asks each sample's error under a wrong
/// condition (a caption with its colors swapped) to exceed its error under the right one by at
/// least `margin` of `scale` — the right errors' values, passed as constants, so the margin is
/// relative without a gradient through the denominator, and a pair already past the margin
/// contributes nothing. right, wrong: [K]; scale: K positive numbers.
public func relativeMarginHinge(right: Tensor, wrong: Tensor, scale: [Float], margin: Float) -> Tensor {
    precondition(right.rank == 1 && right.shape == wrong.shape && right.count > 0 && scale.count == right.count
                 && scale.allSatisfy { $0 > 0 },
                 "relativeMarginHinge: right \(right.shape), wrong \(wrong.shape) and \(scale.count) positive scales must agree")
    let k = right.count, rp = right.pointer, wp = wrong.pointer
    let slack = (0..<k).map { i in Double(margin) - (Double(wp[i]) - Double(rp[i])) / Double(scale[i]) }
    let out = Tensor.scalar(Float(slack.reduce(0) { $0 + max($1, 0) } / Double(k)))
    return Autograd.record(out, "relative_margin_hinge", inputs: [right, wrong]) { g in
        let gr = Tensor.zeros([k]), gw = Tensor.zeros([k])
        for i in 0..<k where slack[i] > 0 {
            gr.pointer[i] = g.item / (Float(k) * scale[i])
            gw.pointer[i] = -gr.pointer[i]
        }
        return [right.requiresGrad ? gr : nil, wrong.requiresGrad ? gw : nil]
    }
}
