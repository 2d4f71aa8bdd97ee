// Weights for tests that compare two models built from one: diffusers' own initialisation leaves
// many layers at zero or one, which would hide a layer taken from the wrong place.
@testable import LetheCore

/// Gives every parameter of `model` a random value of a sensible scale: norm weights near 1,
/// other vectors near 0, matrices and kernels with fan-in scaling.
func randomizeParameters(_ model: Module, rng: inout RandomGenerator) {
    for (key, p) in model.namedParameters() {
        if p.rank == 1 && key.contains("norm") && key.hasSuffix("weight") {
            p.assign(Tensor.randn(p.shape, rng: &rng, std: 0.2) + 1)
        } else if p.rank == 1 {
            p.assign(Tensor.randn(p.shape, rng: &rng, std: 0.1))
        } else {
            p.assign(Tensor.randn(p.shape, rng: &rng, std: 1 / Float(p.count / p.shape[0]).squareRoot()))
        }
    }
}
