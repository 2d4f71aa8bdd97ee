// An image UNet grown deeper in its attention: each Transformer2DModel gets more
// BasicTransformerBlocks (diffusers' transformer_layers_per_block) while every existing weight
// keeps its key. The added blocks start as the identity, so the grown UNet first predicts exactly
// what the one it grew from predicts, and training spends the new capacity from there (Net2Net's
// function-preserving growth, Chen et al. 2016, by the same residual trick Inflation.swift uses).
//
// A BasicTransformerBlock is three residual branches (self-attention, cross-attention,
// feed-forward); zeroing each branch's last linear layer (attn1.to_out.0, attn2.to_out.0, ff.net.2)
// makes the block return its input. The other layers keep their random initialisation, so the
// gradient reaching the zeroed layers is not zero.

import Foundation
import LetheCore

extension UNet2DConditionModel {
    /// The last linear layer of each residual branch of a BasicTransformerBlock.
    static let transformerBranchOutputs = [".attn1.to_out.0.", ".attn2.to_out.0.", ".ff.net.2."]

    /// A UNet with `source`'s weights and `transformerLayersPerBlock` transformer blocks in each
    /// block's attentions (the mid block takes the last value, as in diffusers), the added ones
    /// starting as the identity. Fewer layers than `source` has is an error: weights would be lost.
    public convenience init(deepening source: UNet2DConditionModel, transformerLayersPerBlock layers: [Int],
                            rng: inout RandomGenerator) throws {
        var config = source.config
        let n = config.blockCount
        let had = config.transformerLayersPerBlock.resolved(count: n)
        guard layers.count == n else {
            throw ConfigError(source: config.source, key: "transformer_layers_per_block",
                              "expected \(n) values, one per block, found \(layers.count)")
        }
        if let i = layers.indices.first(where: { layers[$0] < had[$0] }) {
            throw ConfigError(source: config.source, key: "transformer_layers_per_block",
                              "block \(i) has \(had[i]) transformer layers and would keep \(layers[i]); a UNet can only be deepened")
        }
        config.transformerLayersPerBlock = .perBlock(layers)
        try config.validate()
        try self.init(config: config, rng: &rng)

        var weights = stateDict()
        let sourceWeights = source.stateDict()
        weights.merge(sourceWeights) { _, kept in kept }  // load() below checks keys and shapes
        for key in weights.keys where sourceWeights[key] == nil {
            guard key.contains(".transformer_blocks.") else {
                throw ConfigError(source: config.source, key: "transformer_layers_per_block",
                                  "deepening added \(key), which is not part of a transformer block")
            }
            if Self.transformerBranchOutputs.contains(where: key.contains) {
                weights[key] = Tensor.zeros(weights[key]!.shape)
            }
        }
        try load(stateDict: weights, source: config.source)
    }
}
