// The mixed noise prior of PYoCo (Ge et al. 2023, "Preserve Your Own Correlation"): each frame's
// noise is one draw shared by the whole clip plus one of its own,
//     ε_f = (α·ε_shared + ε_own,f) / √(1 + α²),
// so every element is still N(0, 1) but frames are correlated by α²/(1 + α²). A video model
// fine-tuned from an image model under this prior starts each sample from frames that already
// agree, and its temporal layers need only learn what differs between them. A model trained
// with it must be sampled with it: Lethe records α in the scheduler config
// (`mixed_noise_alpha`, a key diffusers ignores with a warning), and a diffusers user passes
// the mixed noise as `latents`.

import LetheCore

public struct MixedFrameNoise: Equatable, Sendable {
    /// The scheduler-config key that records α.
    public static let configKey = "mixed_noise_alpha"

    public let alpha: Float

    public init(alpha: Float) {
        precondition(Self.accepts(alpha: Double(alpha)), "mixed noise α must be finite and ≥ 0, got \(alpha)")
        self.alpha = alpha
    }

    /// Whether α makes a prior: finite and ≥ 0 (0 is independent frames). The scheduler config
    /// and the training recipe check their values here.
    public static func accepts(alpha: Double) -> Bool { alpha >= 0 && alpha.isFinite }

    /// Noise of `shape` [N, C, F, H, W] drawn from the prior.
    public func sample(_ shape: [Int], rng: inout RandomGenerator) -> Tensor {
        precondition(shape.count == 5, "mixed frame noise needs [N, C, F, H, W], got \(shape)")
        let shared = Tensor.randn([shape[0], shape[1], 1, shape[3], shape[4]], rng: &rng)
        let own = Tensor.randn(shape, rng: &rng)
        return mix(shared: shared, own: own)
    }

    /// (α·shared + own) / √(1 + α²), `shared` [N, C, 1, H, W] broadcast over `own`'s frames.
    public func mix(shared: Tensor, own: Tensor) -> Tensor {
        let s = own.shape
        precondition(s.count == 5 && shared.shape == [s[0], s[1], 1, s[3], s[4]],
                     "mixed frame noise: shared \(shared.shape) does not fit own \(s)")
        let (frames, plane) = (s[2], s[3] * s[4])
        let scale = 1 / (1 + alpha * alpha).squareRoot(), a = alpha * scale
        let out = Tensor(uninitializedShape: s)
        let o = out.pointer, x = own.pointer, z = shared.pointer
        for nc in 0..<(s[0] * s[1]) {
            let sharedPlane = z + nc * plane
            for f in 0..<frames {
                let base = (nc * frames + f) * plane
                for j in 0..<plane { o[base + j] = a * sharedPlane[j] + scale * x[base + j] }
            }
        }
        return out
    }
}

extension SchedulerConfig {
    /// The clip noise prior a video model was trained with; nil: independent frames (or a value
    /// `validate` refuses).
    public var mixedFrameNoise: MixedFrameNoise? {
        get { mixedNoiseAlpha.flatMap { MixedFrameNoise.accepts(alpha: $0) ? MixedFrameNoise(alpha: Float($0)) : nil } }
        set { extraKeys[MixedFrameNoise.configKey] = newValue.map { .double(Double($0.alpha)) } }
    }

    /// `mixed_noise_alpha` as a number, if the key holds one.
    var mixedNoiseAlpha: Double? {
        switch extraKeys[MixedFrameNoise.configKey] {
        case .double(let a)?: return a
        case .int(let a)?: return Double(a)
        default: return nil
        }
    }
}
