// The cross-attention maps a grounding loss reads: the same probabilities the fused attention
// uses, averaged over heads, with gradients, and only when a recorder is attached.
import Foundation
import XCTest
@testable import LetheCore
@testable import LetheModels

final class AttentionMapRecorderTests: XCTestCase {
    /// softmax(q_h·k_hᵀ/√d) averaged over heads, in Double, from the projections' outputs.
    func referenceMaps(_ attention: Attention, _ x: Tensor, _ context: Tensor) -> [Double] {
        let q = Autograd.inference { attention.toQ(x) }, k = Autograd.inference { attention.toK(context) }
        let (n, lq, lk, heads, d) = (x.shape[0], x.shape[1], context.shape[1], attention.heads, attention.dimHead)
        var out = [Double](repeating: 0, count: n * lq * lk)
        for b in 0..<n {
            for h in 0..<heads {
                for i in 0..<lq {
                    var scores = (0..<lk).map { j in
                        (0..<d).reduce(0.0) { acc, c in
                            acc + Double(q[flat: (b * lq + i) * heads * d + h * d + c]) * Double(k[flat: (b * lk + j) * heads * d + h * d + c])
                        } / Double(d).squareRoot()
                    }
                    let top = scores.max()!
                    scores = scores.map { Foundation.exp($0 - top) }
                    let sum = scores.reduce(0, +)
                    for j in 0..<lk { out[(b * lq + i) * lk + j] += scores[j] / sum / Double(heads) }
                }
            }
        }
        return out
    }

    func testRecordedMapsAreTheHeadAveragedAttentionProbabilities() {
        var rng = RandomGenerator(seed: 12)
        let attention = Attention(queryDim: 8, crossAttentionDim: 6, heads: 2, dimHead: 4, rng: &rng)
        let x = Tensor.randn([2, 5, 8], rng: &rng), context = Tensor.randn([2, 3, 6], rng: &rng)
        let plain = Autograd.inference { attention(x, context: context) }
        let recorder = AttentionMapRecorder.attach(to: attention)
        let out = Autograd.inference { attention(x, context: context) }
        XCTAssertEqual(out.scalars, plain.scalars, "recording changes nothing in the output")
        XCTAssertEqual(recorder.maps.count, 1)
        let map = recorder.maps[0]
        XCTAssertEqual(map.shape, [2, 5, 3])
        let reference = referenceMaps(attention, x, context)
        for i in 0..<map.count { XCTAssertEqual(Double(map[flat: i]), reference[i], accuracy: 1e-5) }
        AttentionMapRecorder.detach(from: attention)
        _ = Autograd.inference { attention(x, context: context) }
        XCTAssertEqual(recorder.maps.count, 1, "a detached module records nothing")
    }

    func testFramesSharingAContextGiveOneMapPerItemOverAllTheirPixels() {
        var rng = RandomGenerator(seed: 13)
        let attention = Attention(queryDim: 8, crossAttentionDim: 6, heads: 2, dimHead: 4, rng: &rng)
        // Two items of three frames of 4 pixels each: queries [6, 4, 8], contexts [2, 3, 6].
        let x = Tensor.randn([6, 4, 8], rng: &rng), context = Tensor.randn([2, 3, 6], rng: &rng)
        let recorder = AttentionMapRecorder.attach(to: attention)
        _ = Autograd.inference { attention(x, context: context) }
        XCTAssertEqual(recorder.maps[0].shape, [2, 12, 3])
        let reference = referenceMaps(attention, x.reshaped([2, 12, 8]), context)
        for i in 0..<reference.count { XCTAssertEqual(Double(recorder.maps[0][flat: i]), reference[i], accuracy: 1e-5) }
    }

    func testOnlyCrossAttentionIsRecordedAndGradientsReachTheQueries() throws {
        var rng = RandomGenerator(seed: 14)
        let block = BasicTransformerBlock(dim: 8, numAttentionHeads: 2, attentionHeadDim: 4, crossAttentionDim: 6, rng: &rng)
        let x = Tensor.randn([1, 4, 8], rng: &rng), context = Tensor.randn([1, 3, 6], rng: &rng)
        let recorder = AttentionMapRecorder.attach(to: block)
        _ = block(x, context: context)
        XCTAssertEqual(recorder.maps.count, 1, "attn1 is self-attention and is not recorded")
        // A loss on the map alone moves to_q and to_k of the cross-attention.
        let weights = Tensor(shape: [1, 3, 1], data: [0, 1, 0])
        tokenGroundingLoss(maps: recorder.maps[0], masks: Tensor(shape: [1, 4, 1], data: [1, 1, 0, 0]), weights: weights).backward()
        let gq = try XCTUnwrap(block.attn2.toQ.weight.grad), gk = try XCTUnwrap(block.attn2.toK.weight.grad)
        XCTAssertGreaterThan(gq.scalars.map(abs).max()!, 0)
        XCTAssertGreaterThan(gk.scalars.map(abs).max()!, 0)
        XCTAssertNil(block.attn2.toV.weight.grad, "the values do not shape the map")
    }

    func testAUNetRecordsOneMapPerCrossAttentionTransformer() throws {
        let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/unet2d/tiny")
        let model = try UNet2DConditionModel.load(directory: folder)
        let io = try SafeTensors.load(folder.appendingPathComponent("io.safetensors"))
        let recorder = AttentionMapRecorder.attach(to: model)
        let out = Autograd.inference { model(sample: io["sample"]!, timesteps: io["timesteps"]!.scalars, encoderHiddenStates: io["encoder_hidden_states"]!) }
        XCTAssertEqual(recorder.maps.count, 4, "down, mid and two up transformers")
        let (n, tokens) = (io["sample"]!.shape[0], io["encoder_hidden_states"]!.shape[1])
        for map in recorder.maps {
            XCTAssertEqual(map.shape[0], n)
            XCTAssertEqual(map.shape[2], tokens)
            for row in 0..<(map.count / tokens) {
                let sum = (0..<tokens).reduce(Float(0)) { $0 + map[flat: row * tokens + $1] }
                XCTAssertEqual(sum, 1, accuracy: 1e-5)
            }
        }
        XCTAssertEqual(out.scalars, Autograd.inference {
            AttentionMapRecorder.detach(from: model)
            return model(sample: io["sample"]!, timesteps: io["timesteps"]!.scalars, encoderHiddenStates: io["encoder_hidden_states"]!)
        }.scalars)
    }
}
