// A UNet deepened in its attention (UNet2DConditionModel(deepening:)) starts as the UNet it grew from.
import XCTest
@testable import LetheCore
@testable import LetheModels

// UNet2DConditionModelTests' "tiny" fixture (a cross-attention down block, a plain one, a
// cross-attention mid block), with random weights everywhere so no layer starts at zero or one.
extension UNet2DConditionModelTests {
    private func tinyFixture() throws -> Fixture {
        let f = try loadFixture("tiny")
        var rng = RandomGenerator(seed: 3)
        randomizeParameters(f.model, rng: &rng)
        return f
    }

    func testDeepenedUNetPredictsWhatItGrewFrom() throws {
        let f = try tinyFixture()
        var rng = RandomGenerator(seed: 4)
        let deep = try UNet2DConditionModel(deepening: f.model, transformerLayersPerBlock: [3, 2], rng: &rng)
        XCTAssertEqual(deep.config.transformerLayersPerBlock, .perBlock([3, 2]))

        let weights = deep.stateDict()
        let source = f.model.stateDict()
        for (key, t) in source { XCTAssertEqual(weights[key]?.scalars, t.scalars, "\(key) keeps its weights") }
        // Down block 0 and its mirror up block have three transformer blocks, the mid block two (the last value).
        let added = weights.keys.filter { source[$0] == nil }
        XCTAssertTrue(added.contains { $0.hasPrefix("down_blocks.0.attentions.0.transformer_blocks.2.") })
        XCTAssertTrue(added.contains { $0.hasPrefix("mid_block.attentions.0.transformer_blocks.1.") })
        XCTAssertFalse(added.contains { $0.hasPrefix("mid_block.attentions.0.transformer_blocks.2.") })
        XCTAssertTrue(added.allSatisfy { $0.contains(".transformer_blocks.") }, "only transformer blocks are added")

        let expected = Autograd.inference { f.model(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        assertMatches(Autograd.inference { deep(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) },
                      expected, tolerance: 1e-6, "deepened UNet vs the UNet it grew from")

        // The added blocks are on the path: the loss reaches their zeroed output layers, and
        // once one is no longer zero the prediction changes.
        let key = "mid_block.attentions.0.transformer_blocks.1.attn2.to_out.0.weight"
        let zeroed = try XCTUnwrap(deep.namedParameters().first { $0.key == key }?.tensor)
        XCTAssertEqual(zeroed.scalars.map(abs).max(), 0)
        let w = Tensor.randn(expected.shape, rng: &rng)
        deep(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context).backward(w)
        XCTAssertGreaterThan(try XCTUnwrap(zeroed.grad).scalars.map(abs).max() ?? 0, 0, "\(key) gets a gradient")
        zeroed.assign(Tensor.randn(zeroed.shape, rng: &rng, std: 0.5))
        let changed = Autograd.inference { deep(sample: f.sample, timesteps: f.timesteps, encoderHiddenStates: f.context) }
        let difference = zip(changed.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(difference, 1e-4, "the added mid-block transformer block must be on the path")
    }

    func testDeepeningRefusesToDropLayersOrMiscount() throws {
        let f = try tinyFixture()
        var rng = RandomGenerator(seed: 5)
        let deep = try UNet2DConditionModel(deepening: f.model, transformerLayersPerBlock: [2, 2], rng: &rng)
        for layers in [[1, 2], [2], [2, 2, 2]] {
            XCTAssertThrowsError(try UNet2DConditionModel(deepening: deep, transformerLayersPerBlock: layers, rng: &rng), "\(layers)") { error in
                XCTAssertEqual((error as? ConfigError)?.key, "transformer_layers_per_block", "\(error)")
            }
        }
    }
}
