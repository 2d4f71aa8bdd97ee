// The torch.nn layers the diffusion models are built from, each holding its parameters under
// torch's state-dict names ("weight", "bias") so checkpoints load by key.
//
// Fresh layers get PyTorch's default initialisation (uniform ±1/√fan_in) from the caller's
// generator, so a model built twice from one seed is the same model.

import LetheCore

private func uniformInit(_ shape: [Int], fanIn: Int, rng: inout RandomGenerator) -> Tensor {
    let bound = 1 / Float(max(fanIn, 1)).squareRoot()
    return Tensor.rand(shape, rng: &rng, low: -bound, high: bound)
}

/// torch.nn.Linear: y = x·Wᵀ + b, weight [out, in].
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
        weight = uniformInit([outFeatures, inFeatures], fanIn: inFeatures, rng: &rng)
        self.bias = bias ? uniformInit([outFeatures], fanIn: inFeatures, rng: &rng) : nil
        super.init()
        parameter("weight", weight)
        if let b = self.bias { parameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }
}

/// torch.nn.Conv2d with square kernels, weight [out, in, k, k].
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, rng: inout RandomGenerator) {
        let fanIn = inChannels * kernelSize * kernelSize
        weight = uniformInit([outChannels, inChannels, kernelSize, kernelSize], fanIn: fanIn, rng: &rng)
        self.bias = bias ? uniformInit([outChannels], fanIn: fanIn, rng: &rng) : nil
        self.stride = stride
        self.padding = padding
        super.init()
        parameter("weight", weight)
        if let b = self.bias { parameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// torch.nn.GroupNorm over [N, C, ...].
public final class GroupNorm: Module {
    public let groups: Int
    public let eps: Float
    public let weight: Tensor?, bias: Tensor?

    public init(groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels do not split into \(groups) groups")
        self.groups = groups
        self.eps = eps
        weight = affine ? Tensor.ones([channels]) : nil
        bias = affine ? Tensor.zeros([channels]) : nil
        super.init()
        if let weight, let bias { parameter("weight", weight); parameter("bias", bias) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.groupNorm(groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// torch.nn.LayerNorm over the last dimension.
public final class LayerNorm: Module {
    public let eps: Float
    public let weight: Tensor?, bias: Tensor?

    public init(_ dim: Int, eps: Float = 1e-5, elementwiseAffine: Bool = true) {
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones([dim]) : nil
        bias = elementwiseAffine ? Tensor.zeros([dim]) : nil
        super.init()
        if let weight, let bias { parameter("weight", weight); parameter("bias", bias) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// torch.nn.Embedding, weight [count, dim], initialised N(0, std²).
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dim: Int, std: Float = 1, rng: inout RandomGenerator) {
        weight = Tensor.randn([count, dim], rng: &rng, std: std)
        super.init()
        parameter("weight", weight)
    }

    /// Rows for `ids`, shaped `shape + [dim]`.
    public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor { weight.embeddingLookup(ids: ids, shape: shape) }
}
