// diffusers' timestep conditioning: the sinusoidal projection of the (possibly fractional)
// timestep (`Timesteps`, `get_timestep_embedding`) and the MLP on top of it (`TimestepEmbedding`),
// plus the activations diffusers names in configs (`get_activation`).

import Foundation
import LetheCore

/// An activation named the way diffusers' configs name them (act_fn, time_embedding_act_fn, ...).
public enum Activation: String, Sendable {
    case silu, swish, gelu, relu, mish

    public init(diffusersName name: String, source: String, key: String) throws {
        guard let a = Activation(rawValue: name.lowercased()) else {
            throw ConfigError(source: source, key: key, "unknown activation \"\(name)\"; expected silu, swish, gelu, relu or mish")
        }
        self = a
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .silu, .swish: return x.silu()
        case .gelu: return x.gelu()
        case .relu: return x.unary("relu", { max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 })
        case .mish:
            return x.unary("mish", { $0 * Foundation.tanh(softplus($0)) }, derivative: { x, _ in
                let t = Foundation.tanh(softplus(x))
                return t + x * (1 - t * t) / (1 + Foundation.exp(-x))
            })
        }
    }
}

/// log(1 + eˣ) as torch computes it for mish (linear above 20, where exp would overflow).
@inline(__always) private func softplus(_ x: Float) -> Float { x > 20 ? x : Foundation.log1p(Foundation.exp(x)) }

/// Sinusoidal embeddings of `timesteps`, [count, embeddingDim] (diffusers' get_timestep_embedding).
/// Computed in Float32 in torch's order of operations, because the phases t·ω reach ~10³ and
/// every rounding of ω shows in sin(t·ω).
public func timestepEmbedding(_ timesteps: [Float], embeddingDim: Int, flipSinToCos: Bool,
                              downscaleFreqShift: Float, scale: Float = 1, maxPeriod: Float = 10000) -> Tensor {
    let half = embeddingDim / 2
    let logPeriod = -Float(Foundation.log(Double(maxPeriod)))
    let frequencies: [Float] = (0..<half).map { i in
        let exponent = logPeriod * Float(i) / (Float(half) - downscaleFreqShift)
        return Float(Foundation.exp(Double(exponent)))
    }
    let out = Tensor.zeros([timesteps.count, embeddingDim])
    let (sinOffset, cosOffset) = flipSinToCos ? (half, 0) : (0, half)
    for (row, t) in timesteps.enumerated() {
        let r = out.pointer + row * embeddingDim
        for i in 0..<half {
            let phase = scale * (t * frequencies[i])
            r[sinOffset + i] = Foundation.sin(phase)
            r[cosOffset + i] = Foundation.cos(phase)
        }
    }
    return out
}

/// diffusers' `Timesteps` module (no parameters).
public struct Timesteps {
    public let numChannels: Int
    public let flipSinToCos: Bool
    public let downscaleFreqShift: Float

    public init(numChannels: Int, flipSinToCos: Bool, downscaleFreqShift: Float) {
        self.numChannels = numChannels
        self.flipSinToCos = flipSinToCos
        self.downscaleFreqShift = downscaleFreqShift
    }

    public func callAsFunction(_ timesteps: [Float]) -> Tensor {
        timestepEmbedding(timesteps, embeddingDim: numChannels, flipSinToCos: flipSinToCos, downscaleFreqShift: downscaleFreqShift)
    }
}

/// diffusers' `TimestepEmbedding`: linear_1 → act → linear_2 (→ post_act).
public final class TimestepEmbedding: Module {
    public let linear1: Linear
    public let linear2: Linear
    public let act: Activation
    public let postAct: Activation?

    public init(inChannels: Int, timeEmbedDim: Int, act: Activation = .silu, outDim: Int? = nil,
                postAct: Activation? = nil, rng: inout RandomGenerator) {
        linear1 = Linear(inChannels, timeEmbedDim, rng: &rng)
        linear2 = Linear(timeEmbedDim, outDim ?? timeEmbedDim, rng: &rng)
        self.act = act
        self.postAct = postAct
        super.init()
        child("linear_1", linear1)
        child("linear_2", linear2)
    }

    /// [N, inChannels] → [N, outDim].
    public func callAsFunction(_ sample: Tensor) -> Tensor {
        let h = linear2(act(linear1(sample)))
        return postAct.map { $0(h) } ?? h
    }
}
