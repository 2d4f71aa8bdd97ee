// Binary cross-entropy on logits, for the detector's multi-label presence heads (two-object
// frames show two objects, possibly two colors and two styles, so each class is its own yes/no).
//
// A general loss that belongs in LetheCore/Losses.swift beside crossEntropy; it lives here
// only because the detector branch did not touch LetheCore.

import Foundation
import LetheCore

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
