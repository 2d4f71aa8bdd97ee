// The shared loop end to end: which weights change, what is written, and resume.
import Foundation
import LetheCore
import LetheModels
import LetheUnlearn
import XCTest

final class ErasureTrainingTests: XCTestCase {
    func concepts(_ names: [String]) throws -> [ErasureConcept] {
        try names.map { try ErasureConcept.resolve($0, allowFreeText: false) }
    }

    func silent(_ concepts: [ErasureConcept], _ recipe: ErasureRecipe, checkpoint: URL? = nil, resume: Bool = false) -> ErasureRequest {
        ErasureRequest(concepts: concepts, recipe: recipe, checkpoint: checkpoint, resume: resume, progressInterval: 1000, log: { _ in })
    }

    func testTextEncoderErasureChangesOnlyTheChosenEncoderWeights() throws {
        let model = try TinyWorld.makeModel(video: false)
        let unetBefore = TinyWorld.values(model.unet.namedParameters())
        let encoderBefore = TinyWorld.values(model.textEncoder.namedParameters())
        let recipe = TinyWorld.recipe(.fewshot, steps: 2)
        let result = try ErasureTraining.run(model: model, request: silent(try concepts(["circle", "blue"]), recipe))
        XCTAssertEqual(result.losses.count, 2)
        XCTAssertTrue(result.losses.allSatisfy(\.isFinite))
        XCTAssertEqual(TinyWorld.values(model.unet.namedParameters()), unetBefore, "the UNet must stay bit-identical")
        let chosen = model.textEncoder.fewShotErasureParameters
        var changed = 0
        for (key, tensor) in model.textEncoder.namedParameters() {
            if chosen(key) {
                if tensor.scalars != encoderBefore[key]! { changed += 1 }
            } else {
                XCTAssertEqual(tensor.scalars, encoderBefore[key]!, "\(key) is outside the trained subset")
            }
        }
        XCTAssertGreaterThan(changed, 0)
        XCTAssertEqual(result.trainedParameterCount,
                       model.textEncoder.namedParameters().filter { chosen($0.key) }.reduce(0) { $0 + $1.tensor.count })
        XCTAssertNotNil(result.peakMemoryBytes)
    }

    func testUNetParameterSetsTrainOnlyTheirGroup() throws {
        for (set, group) in [(ParameterSet.unetCrossAttention, UNetParameterGroup.crossAttention),
                             (.unetNonCrossAttention, .nonCrossAttention)] {
            let model = try TinyWorld.makeModel(video: false)
            let unetBefore = TinyWorld.values(model.unet.namedParameters())
            let encoderBefore = TinyWorld.values(model.textEncoder.namedParameters())
            var recipe = TinyWorld.recipe(.esd, steps: 2)
            recipe.params = set
            recipe.lr = 1e-3
            _ = try ErasureTraining.run(model: model, request: silent(try concepts(["square"]), recipe))
            XCTAssertEqual(TinyWorld.values(model.textEncoder.namedParameters()), encoderBefore)
            var changed = 0
            for (key, tensor) in model.unet.namedParameters() {
                if group.contains(key) {
                    if tensor.scalars != unetBefore[key]! { changed += 1 }
                } else {
                    XCTAssertEqual(tensor.scalars, unetBefore[key]!, "\(set.rawValue): \(key) must not train")
                }
            }
            XCTAssertGreaterThan(changed, 0, set.rawValue)
        }
    }

    func testOutputCopiesTheUntrainedUNetAndReportsTheRun() throws {
        let source = try TinyWorld.folder(video: false)
        let model = try DiffusionModel.load(directory: source)
        let recipe = TinyWorld.recipe(.anchor, steps: 2)
        let result = try ErasureTraining.run(model: model, request: silent(try concepts(["heart"]), recipe))
        let out = try TinyWorld.scratch().appendingPathComponent("erased")
        try ErasureOutput.write(model: model, source: source, result: result, recipe: recipe, to: out)
        let weights = "unet/diffusion_pytorch_model.safetensors"
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(weights)), try Data(contentsOf: source.appendingPathComponent(weights)))
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("unet/config.json")),
                       try Data(contentsOf: source.appendingPathComponent("unet/config.json")))
        XCTAssertNotEqual(try Data(contentsOf: out.appendingPathComponent("text_encoder/model.safetensors")),
                          try Data(contentsOf: source.appendingPathComponent("text_encoder/model.safetensors")))
        let reloaded = try DiffusionModel.load(directory: out)
        XCTAssertEqual(reloaded.textEncoder.namedParameters().map(\.tensor.scalars), model.textEncoder.namedParameters().map(\.tensor.scalars))
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("erase.json"))) as? [String: Any])
        XCTAssertEqual(report["method"] as? String, "anchor")
        XCTAssertEqual(report["parameter_set"] as? String, "text-encoder")
        XCTAssertEqual((report["losses"] as? [Double])?.count, 2)
        XCTAssertEqual(report["trained_parameter_count"] as? Int, result.trainedParameterCount)
        XCTAssertNotNil(report["peak_memory_bytes"] as? Int)
        XCTAssertNotNil(report["seconds"] as? Double)
        XCTAssertEqual((report["recipe"] as? [String: Any])?["anchor"] as? String, "a shape")
        XCTAssertEqual(((report["concepts"] as? [[String: Any]])?.first)?["name"] as? String, "heart")
        // Never over an existing folder.
        XCTAssertThrowsError(try ErasureOutput.write(model: model, source: source, result: result, recipe: recipe, to: out))
    }

    /// Two steps, then one more with --resume, equal three steps in one go: weights, EMA
    /// (SDD's result) and losses; a checkpoint made with other settings is refused.
    func checkResume(_ method: ErasureMethodKind, concept: String, checkRefusal: Bool) throws {
        var recipe = TinyWorld.recipe(method, steps: 3)
        recipe.images = 1
        let whole = try TinyWorld.makeModel(video: false)
        let straight = try ErasureTraining.run(model: whole, request: silent(try concepts([concept]), recipe))

        let checkpoint = try TinyWorld.scratch().appendingPathComponent("run.checkpoint.safetensors")
        var firstPart = recipe
        firstPart.steps = 2
        _ = try ErasureTraining.run(model: try TinyWorld.makeModel(video: false),
                                    request: silent(try concepts([concept]), firstPart, checkpoint: checkpoint))
        let resumedModel = try TinyWorld.makeModel(video: false)
        let resumed = try ErasureTraining.run(model: resumedModel,
                                              request: silent(try concepts([concept]), recipe, checkpoint: checkpoint, resume: true))
        XCTAssertEqual(resumed.resumedFrom, 2)
        XCTAssertEqual(resumed.losses, straight.losses)
        XCTAssertEqual(resumedModel.textEncoder.namedParameters().map(\.tensor.scalars),
                       whole.textEncoder.namedParameters().map(\.tensor.scalars))

        guard checkRefusal else { return }
        var other = recipe
        other.lr *= 2
        XCTAssertThrowsError(try ErasureTraining.run(model: try TinyWorld.makeModel(video: false),
                                                     request: silent(try concepts([concept]), other, checkpoint: checkpoint, resume: true))) {
            XCTAssertTrue(String(describing: $0).contains("recipe"), "\($0)")
        }
    }

    func testResumeEqualsUninterruptedRunSDD() throws { try checkResume(.sdd, concept: "cross", checkRefusal: true) }

    func testResumeEqualsUninterruptedRunAnchor() throws { try checkResume(.anchor, concept: "dotted", checkRefusal: false) }
}
