// Optimisers update parameters in place from their accumulated `grad`. PyTorch's update rules,
// so a training run can be compared step by step with a reference.

import Foundation

public protocol Optimizer: AnyObject {
    var parameters: [Tensor] { get }
    var learningRate: Float { get set }
    /// Applies one update from the current gradients (parameters without a gradient are skipped).
    func step()
}

extension Optimizer {
    public func zeroGrad() { for p in parameters { p.grad = nil } }
}

/// torch.optim.AdamW (decoupled weight decay, bias-corrected moments, amsgrad off).
public final class AdamW: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var stepCount = 0
    /// Per-parameter multipliers of `learningRate` (and so of its weight decay), like torch's
    /// parameter groups: e.g. freshly added layers learning faster than pretrained ones. nil: all 1.
    public var learningRateScales: [Float]? {
        didSet { precondition(learningRateScales.map { $0.count == parameters.count } ?? true, "AdamW: one learning-rate scale per parameter") }
    }
    /// First and second moments, one pair per parameter (exposed for checkpoints).
    public private(set) var m: [Tensor]
    public private(set) var v: [Tensor]

    public init(parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                eps: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.parameters = parameters
        self.learningRate = learningRate
        (beta1, beta2) = betas
        self.eps = eps
        self.weightDecay = weightDecay
        m = parameters.map { Tensor.zeros($0.shape) }
        v = parameters.map { Tensor.zeros($0.shape) }
    }

    public func step() {
        stepCount += 1
        let bc1 = 1 - Foundation.pow(beta1, Float(stepCount))
        let bc2 = 1 - Foundation.pow(beta2, Float(stepCount))
        let b1 = beta1, b2 = beta2, eps = eps
        let bc2Sqrt = bc2.squareRoot()
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let lr = learningRate * (learningRateScales?[i] ?? 1)
            let decay = 1 - lr * weightDecay, stepSize = lr / bc1
            let w = p.pointer, gp = g.pointer, mp = m[i].pointer, vp = v[i].pointer
            parallelFor(p.count, grain: 1 << 14) { r in
                for j in r {
                    w[j] *= decay
                    mp[j] = b1 * mp[j] + (1 - b1) * gp[j]
                    vp[j] = b2 * vp[j] + (1 - b2) * gp[j] * gp[j]
                    w[j] -= stepSize * mp[j] / (vp[j].squareRoot() / bc2Sqrt + eps)
                }
            }
        }
    }

    /// Restores moments and step count from a checkpoint.
    public func restore(stepCount: Int, m: [Tensor], v: [Tensor]) {
        precondition(m.count == parameters.count && v.count == parameters.count, "optimizer state does not match parameters")
        self.stepCount = stepCount
        for i in parameters.indices { self.m[i].assign(m[i]); self.v[i].assign(v[i]) }
    }
}

/// torch.optim.SGD with momentum (dampening 0, not Nesterov) and L2 weight decay.
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float
    public private(set) var velocity: [Tensor?]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocity = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        let lr = learningRate, mu = momentum, wd = weightDecay
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let w = p.pointer, gp = g.pointer
            if mu == 0 {
                parallelFor(p.count) { r in for j in r { w[j] -= lr * (gp[j] + wd * w[j]) } }
                continue
            }
            // PyTorch starts the buffer at the first gradient, not at zero.
            let first = velocity[i] == nil
            if first { velocity[i] = Tensor(uninitializedShape: p.shape) }
            let bp = velocity[i]!.pointer
            parallelFor(p.count) { r in
                for j in r {
                    let d = gp[j] + wd * w[j]
                    bp[j] = first ? d : mu * bp[j] + d
                    w[j] -= lr * bp[j]
                }
            }
        }
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`
/// (torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total = 0.0
    for p in parameters {
        guard let g = p.grad else { continue }
        let gp = g.pointer
        var s = 0.0
        for j in 0..<g.count { s += Double(gp[j]) * Double(gp[j]) }
        total += s
    }
    let norm = Float(total.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for p in parameters {
            guard let g = p.grad else { continue }
            let gp = g.pointer
            for j in 0..<g.count { gp[j] *= scale }
        }
    }
    return norm
}

/// Exponential moving average of parameters (diffusers' EMAModel without warm-up):
/// shadow ← decay·shadow + (1−decay)·param.
public final class ExponentialMovingAverage {
    public let decay: Float
    public let shadow: [Tensor]
    private let parameters: [Tensor]

    public init(parameters: [Tensor], decay: Float = 0.999) {
        self.decay = decay
        self.parameters = parameters
        shadow = parameters.map { $0.copy() }
    }

    public func update() {
        let d = decay
        for (s, p) in zip(shadow, parameters) {
            let sp = s.pointer, pp = p.pointer
            parallelFor(s.count) { r in for j in r { sp[j] = d * sp[j] + (1 - d) * pp[j] } }
        }
    }

    /// Writes the averaged values into the live parameters.
    public func copyToParameters() { for (s, p) in zip(shadow, parameters) { p.assign(s) } }
}
