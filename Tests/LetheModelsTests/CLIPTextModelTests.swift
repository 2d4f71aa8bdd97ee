// CLIPTextModel against transformers: fixtures from scripts/fixtures/clip_text_fixtures.py.
import Foundation
import XCTest
@testable import LetheCore
@testable import LetheModels

private let clipCases = ["tiny_quick_gelu", "gelu_4heads", "real_vocab"]

private func clipFixture(_ name: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures/clip_text/\(name)")
}

private struct CLIPFixtureInputs: Decodable {
    let input_ids: [[Int]]
    let attention_mask: [[Int]]
}

private func clipInputs(_ name: String) throws -> CLIPFixtureInputs {
    try JSONDecoder().decode(CLIPFixtureInputs.self, from: Data(contentsOf: clipFixture(name).appendingPathComponent("inputs.json")))
}

private func clipOutputs(_ name: String) throws -> [String: Tensor] {
    try SafeTensors.load(clipFixture(name).appendingPathComponent("outputs.safetensors"))
}

private func clipTempDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// ‖a − b‖ / ‖b‖ over the whole tensor, plus an element-wise bound scaled by the reference's size.
private func assertCLIPClose(_ a: Tensor, _ b: Tensor, _ what: String, tolerance: Double = 1e-4,
                             file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(what): shape", file: file, line: line)
    guard a.shape == b.shape else { return }
    var diff2 = 0.0, ref2 = 0.0, worst = 0.0, scale = 0.0
    for i in 0..<a.count {
        let x = Double(a[flat: i]), y = Double(b[flat: i])
        diff2 += (x - y) * (x - y)
        ref2 += y * y
        worst = max(worst, abs(x - y))
        scale = max(scale, abs(y))
    }
    let rel = diff2.squareRoot() / max(ref2.squareRoot(), 1e-12)
    XCTAssertLessThanOrEqual(rel, tolerance, "\(what): relative error \(rel)", file: file, line: line)
    XCTAssertLessThanOrEqual(worst, 10 * tolerance * max(scale, 1), "\(what): worst element differs by \(worst)", file: file, line: line)
    XCTAssertGreaterThan(ref2, 0, "\(what): reference is all zero", file: file, line: line)
}

/// Central differences of Σ w·f() against autograd for each tensor in `wrt` (loss summed in Double).
private func assertCLIPGradientsMatch(_ wrt: [Tensor], eps: Float = 1e-2, tolerance: Double = 1e-2,
                                      file: StaticString = #filePath, line: UInt = #line, _ f: () -> Tensor) {
    for t in wrt { t.grad = nil }
    let y = f()
    var rng = RandomGenerator(seed: 7)
    let w = Tensor.randn(y.shape, rng: &rng)
    y.backward(w)
    func loss() -> Double {
        let out = Autograd.inference { f() }
        var acc = 0.0
        for i in 0..<out.count { acc += Double(out[flat: i]) * Double(w[flat: i]) }
        return acc
    }
    for (n, t) in wrt.enumerated() {
        guard let analytic = t.grad else { XCTFail("tensor \(n) got no gradient", file: file, line: line); continue }
        var diff2 = 0.0, ref2 = 0.0
        for i in 0..<t.count {
            let saved = t[flat: i]
            t[flat: i] = saved + eps
            let up = loss()
            t[flat: i] = saved - eps
            let down = loss()
            t[flat: i] = saved
            let numeric = (up - down) / (2 * Double(eps))
            diff2 += (Double(analytic[flat: i]) - numeric) * (Double(analytic[flat: i]) - numeric)
            ref2 += numeric * numeric
        }
        let rel = diff2.squareRoot() / max(ref2.squareRoot(), 1e-8)
        XCTAssertLessThan(rel, tolerance, "tensor \(n) \(t.shape): relative gradient error \(rel)", file: file, line: line)
        XCTAssertGreaterThan(ref2, 0, "tensor \(n): numeric gradient is all zero", file: file, line: line)
    }
}

private func tinyCLIPConfig() -> CLIPTextConfig {
    var c = CLIPTextConfig()
    c.vocabSize = 40
    c.hiddenSize = 8
    c.intermediateSize = 16
    c.numHiddenLayers = 2
    c.numAttentionHeads = 2
    c.maxPositionEmbeddings = 6
    c.hiddenAct = "gelu"
    c.eosTokenId = 39
    return c
}

final class CLIPTextModelTests: XCTestCase {
    func testOutputsMatchTransformers() throws {
        for name in clipCases {
            let model = try CLIPTextModel.load(directory: clipFixture(name))
            let inputs = try clipInputs(name)
            let ref = try clipOutputs(name)
            try Autograd.inference {
                let plain = try model(inputs.input_ids)
                assertCLIPClose(plain.lastHiddenState, ref["last_hidden_state"]!, "\(name) last_hidden_state")
                assertCLIPClose(plain.poolerOutput, ref["pooler_output"]!, "\(name) pooler_output")
                let masked = try model(inputs.input_ids, attentionMask: inputs.attention_mask)
                assertCLIPClose(masked.lastHiddenState, ref["last_hidden_state_masked"]!, "\(name) masked last_hidden_state")
                assertCLIPClose(masked.poolerOutput, ref["pooler_output_masked"]!, "\(name) masked pooler_output")
            }
        }
    }

    func testConfigsReadAsWritten() throws {
        let legacy = try CLIPTextModel.load(directory: clipFixture("tiny_quick_gelu")).config
        XCTAssertEqual(legacy.activation, .quickGELU)
        XCTAssertEqual(legacy.eosTokenId, 2)
        let gelu = try CLIPTextModel.load(directory: clipFixture("gelu_4heads")).config
        XCTAssertEqual(gelu.activation, .gelu)
        XCTAssertEqual(gelu.numHiddenLayers, 3)
        XCTAssertEqual(gelu.layerNormEps, 1e-6)
        let real = try CLIPTextModel.load(directory: clipFixture("real_vocab")).config
        XCTAssertEqual(real.activation, .geluTanh)
        XCTAssertEqual(real.vocabSize, 49408)
        XCTAssertEqual(real.extra["transformers_version"], "5.24.0", "unknown keys are kept")
    }

    func testDefaultsAreTransformers() throws {
        let c = try CLIPTextConfig(json: JSONConfig(values: [:], source: "empty.json"))
        XCTAssertEqual([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.maxPositionEmbeddings],
                       [49408, 512, 2048, 12, 8, 77])
        XCTAssertEqual(c.hiddenAct, "quick_gelu")
        XCTAssertEqual(c.layerNormEps, 1e-5)
        XCTAssertEqual(c.projectionDim, 512)
        XCTAssertEqual([c.padTokenId, c.bosTokenId, c.eosTokenId], [1, 49406, 49407])
        let written = c.json()
        XCTAssertEqual(written["model_type"], "clip_text_model")
        XCTAssertEqual(written["architectures"], ["CLIPTextModel"])
        XCTAssertEqual(try CLIPTextConfig(json: written), c)
        let nulls = try CLIPTextConfig(json: JSONConfig(values: ["eos_token_id": nil, "projection_dim": nil], source: "n.json"))
        XCTAssertNil(nulls.eosTokenId)
        XCTAssertNil(nulls.projectionDim)
    }

    func testGradientMatchesTorch() throws {
        let model = try CLIPTextModel.load(directory: clipFixture("tiny_quick_gelu"))
        let ref = try clipOutputs("tiny_quick_gelu")
        let key = "text_model.encoder.layers.0.mlp.fc1.weight"
        XCTAssertEqual(model.trainOnly(where: { $0 == key }), [key])
        let out = try model(try clipInputs("tiny_quick_gelu").input_ids)
        out.lastHiddenState.backward(ref["grad_weights"]!)
        let weight = model.stateDict()[key]!
        assertCLIPClose(weight.grad!, ref["grad.encoder.layers.0.mlp.fc1.weight"]!, "d/d \(key)", tolerance: 1e-4)
        XCTAssertNil(model.stateDict()["text_model.encoder.layers.1.mlp.fc1.weight"]!.grad, "frozen weights get no gradient")
    }

    func testGradientsMatchFiniteDifferences() throws {
        var rng = RandomGenerator(seed: 3)
        let model = CLIPTextModel(config: tinyCLIPConfig(), rng: &rng)
        let fc1 = model.textModel.encoder.layers[0].mlp.fc1.weight
        let fc2Bias = model.textModel.encoder.layers[1].mlp.fc2.bias!
        model.trainOnly(where: { $0.hasSuffix("layers.0.mlp.fc1.weight") || $0.hasSuffix("layers.1.mlp.fc2.bias") })
        let ids = [[0, 5, 17, 39, 39], [0, 22, 39, 3, 3]]
        assertCLIPGradientsMatch([fc1, fc2Bias]) { try! model(ids).lastHiddenState }
        assertCLIPGradientsMatch([fc1]) { try! model(ids, attentionMask: [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]).lastHiddenState }
        assertCLIPGradientsMatch([fc1]) { try! model(ids).poolerOutput }

        // Erasure attacks optimise token embeddings through a frozen encoder.
        model.trainOnly(where: { _ in false })
        let soft = Tensor.randn([2, 5, 8], rng: &rng, std: 0.5)
        soft.requiresGrad = true
        assertCLIPGradientsMatch([soft]) { try! model(ids, inputsEmbeds: soft).lastHiddenState }
    }

    func testPoolingPosition() {
        var c = tinyCLIPConfig()
        var rng = RandomGenerator(seed: 1)
        c.eosTokenId = 2
        let legacy = CLIPTextModel(config: c, rng: &rng)
        XCTAssertEqual(legacy.poolingPosition([0, 7, 39, 4, 39]), 2, "largest id, first of ties")
        c.eosTokenId = 4
        let modern = CLIPTextModel(config: c, rng: &rng)
        XCTAssertEqual(modern.poolingPosition([0, 7, 4, 4, 39]), 2, "first eos")
        XCTAssertEqual(modern.poolingPosition([0, 7, 5]), 0, "no eos pools at 0 like argmax of zeros")
        c.eosTokenId = nil
        XCTAssertEqual(CLIPTextModel(config: c, rng: &rng).poolingPosition([3, 4]), 0)
    }

    func testStateDictKeysAreTransformers() {
        var rng = RandomGenerator(seed: 1)
        let model = CLIPTextModel(config: tinyCLIPConfig(), rng: &rng)
        let keys = model.namedParameters().map(\.key)
        XCTAssertEqual(keys.first, "text_model.embeddings.token_embedding.weight")
        XCTAssertEqual(keys.last, "text_model.final_layer_norm.bias")
        XCTAssertEqual(keys.count, 2 + 2 * 16 + 2)
        for key in ["text_model.embeddings.position_embedding.weight", "text_model.encoder.layers.1.self_attn.q_proj.bias",
                    "text_model.encoder.layers.0.self_attn.out_proj.weight", "text_model.encoder.layers.1.layer_norm2.weight",
                    "text_model.encoder.layers.0.mlp.fc2.weight", "text_model.encoder.layers.0.layer_norm1.bias"] {
            XCTAssertTrue(keys.contains(key), key)
        }
        let chosen = model.trainOnly(where: model.fewShotErasureParameters)
        XCTAssertEqual(chosen.count, 2 * 4 + 8, "every MLP plus the last self-attention")
        XCTAssertTrue(chosen.allSatisfy { $0.contains(".mlp.") || $0.contains("layers.1.self_attn.") })
        XCTAssertEqual(model.trainableParameters.count, chosen.count)
    }

    func testSaveLoadRoundTrip() throws {
        let source = try CLIPTextModel.load(directory: clipFixture("real_vocab"))
        let dir = clipTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try source.save(to: dir)
        if let keep = ProcessInfo.processInfo.environment["LETHE_CLIP_SAVE_DIR"] {
            // For `clip_text_fixtures.py --check-lethe-folder $LETHE_CLIP_SAVE_DIR --reference .../real_vocab`.
            try source.save(to: URL(fileURLWithPath: keep))
        }
        let written = try SafeTensors.load(dir.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(Set(written.keys), Set(source.stateDict().keys))
        let config = try JSONConfig(contentsOf: dir.appendingPathComponent("config.json"))
        XCTAssertEqual(config["dtype"], "float32", "weights are written as float32")
        XCTAssertEqual(config["transformers_version"], "5.24.0")
        // transformers ≥ 5 validates float fields strictly: 1 instead of 1.0 fails from_pretrained.
        let text = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        for line in ["\"initializer_factor\": 1.0,", "\"attention_dropout\": 0.0,", "\"layer_norm_eps\": 1e-05,",
                     "\"architectures\": [\n    \"CLIPTextModel\"\n  ],"] {
            XCTAssertTrue(text.contains(line), "config.json should contain \(line):\n\(text)")
        }
        let again = try CLIPTextModel.load(directory: dir)
        XCTAssertEqual(again.config, source.config.withDtype("float32"))
        for (key, t) in source.stateDict() { XCTAssertEqual(again.stateDict()[key]!.scalars, t.scalars, key) }
        let ids = try clipInputs("real_vocab").input_ids
        try Autograd.inference {
            XCTAssertEqual(try again(ids).lastHiddenState.scalars, try source(ids).lastHiddenState.scalars)
        }
    }

    func testShardedIndexAndPositionIds() throws {
        let source = try CLIPTextModel.load(directory: clipFixture("tiny_quick_gelu"))
        let dir = clipTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: clipFixture("tiny_quick_gelu").appendingPathComponent("config.json"),
                                         to: dir.appendingPathComponent("config.json"))
        var first: [String: Tensor] = [:], second: [String: Tensor] = [:]
        var map: [String: JSONValue] = [:]
        for (key, t) in source.stateDict() {
            let inFirst = key.contains("layers.0") || key.contains("embeddings")
            if inFirst { first[key] = t } else { second[key] = t }
            map[key] = .string(inFirst ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors")
        }
        // Checkpoints from transformers < 4.31 carry the position_ids buffer.
        first["text_model.embeddings.position_ids"] = Tensor(shape: [1, 16], data: (0..<16).map(Float.init))
        map["text_model.embeddings.position_ids"] = "model-00001-of-00002.safetensors"
        try SafeTensors.write(first, metadata: ["format": "pt"], dtype: .f32, to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafeTensors.write(second, metadata: ["format": "pt"], dtype: .f32, to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        try JSONConfig(values: ["metadata": .object(["total_size": 0]), "weight_map": .object(map)], source: "index")
            .write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        let sharded = try CLIPTextModel.load(directory: dir)
        for (key, t) in source.stateDict() { XCTAssertEqual(sharded.stateDict()[key]!.scalars, t.scalars, key) }
    }

    func testLoadingErrorsNameTheFile() throws {
        let fixture = clipFixture("tiny_quick_gelu")
        let full = try SafeTensors.load(fixture.appendingPathComponent("model.safetensors"))
        func folder(config: String? = nil, tensors: [String: Tensor]?) throws -> URL {
            let dir = clipTempDirectory()
            let configURL = dir.appendingPathComponent("config.json")
            if let config { try config.write(to: configURL, atomically: true, encoding: .utf8) }
            else { try FileManager.default.copyItem(at: fixture.appendingPathComponent("config.json"), to: configURL) }
            if let tensors {
                try SafeTensors.write(tensors, metadata: [:], dtype: .f32, to: dir.appendingPathComponent("model.safetensors"))
            }
            return dir
        }
        func expectError(_ dir: URL, _ fragments: [String], line: UInt = #line) {
            defer { try? FileManager.default.removeItem(at: dir) }
            XCTAssertThrowsError(try CLIPTextModel.load(directory: dir), line: line) { error in
                let text = "\(error)"
                for f in fragments { XCTAssertTrue(text.contains(f), "\"\(text)\" should mention \(f)", line: line) }
            }
        }
        var missing = full
        missing["encoder.layers.1.mlp.fc2.bias"] = nil
        var d = try folder(tensors: missing)
        expectError(d, [d.appendingPathComponent("model.safetensors").path, "text_model.encoder.layers.1.mlp.fc2.bias"])

        var wrongShape = full
        wrongShape["final_layer_norm.weight"] = Tensor.zeros([31])
        d = try folder(tensors: wrongShape)
        expectError(d, [d.appendingPathComponent("model.safetensors").path, "final_layer_norm.weight", "[31]"])

        var extra = full
        extra["text_projection.weight"] = Tensor.zeros([32, 32])
        d = try folder(tensors: extra)
        expectError(d, ["model.safetensors", "text_projection.weight"])

        d = try folder(config: #"{"hidden_size": "big", "model_type": "clip_text_model"}"#, tensors: full)
        expectError(d, [d.appendingPathComponent("config.json").path, "hidden_size", "expected an integer"])

        d = try folder(config: #"{"hidden_size": 32, "num_attention_heads": 3}"#, tensors: full)
        expectError(d, ["config.json", "num_attention_heads", "not a multiple"])

        d = try folder(config: #"{"hidden_act": "swish"}"#, tensors: full)
        expectError(d, ["config.json", "hidden_act", "quick_gelu"])

        d = try folder(config: #"{"model_type": "clip"}"#, tensors: full)
        expectError(d, ["config.json", "model_type", "text_config"])

        d = try folder(tensors: nil)
        expectError(d, [d.path, "model.safetensors"])
    }

    func testBadInputsThrow() throws {
        var rng = RandomGenerator(seed: 1)
        let model = CLIPTextModel(config: tinyCLIPConfig(), rng: &rng)
        let cases: [([[Int]], [[Int]]?, String)] = [
            ([], nil, "no token ids"),
            ([[1, 2], [1]], nil, "row 1 has 1 tokens"),
            ([[1, 2, 3, 4, 5, 6, 7]], nil, "max_position_embeddings 6"),
            ([[1, 40]], nil, "token id 40"),
            ([[1, -1]], nil, "token id -1"),
            ([[1, 2]], [[1]], "attention mask"),
            ([[1, 2]], [[1, 2]], "0 or 1"),
        ]
        for (ids, mask, fragment) in cases {
            XCTAssertThrowsError(try model(ids, attentionMask: mask)) { XCTAssertTrue("\($0)".contains(fragment), "\($0)") }
        }
        XCTAssertThrowsError(try model([[1, 2]], inputsEmbeds: Tensor.zeros([1, 2, 4]))) { XCTAssertTrue("\($0)".contains("inputsEmbeds")) }
    }

    func testFullyMaskedRowStaysFinite() throws {
        var rng = RandomGenerator(seed: 5)
        let model = CLIPTextModel(config: tinyCLIPConfig(), rng: &rng)
        let out = try model([[3, 3, 0, 9, 39]], attentionMask: [[0, 0, 1, 1, 1]])
        XCTAssertTrue(out.lastHiddenState.scalars.allSatisfy(\.isFinite), "left padding must not produce NaN")
    }
}

private extension CLIPTextConfig {
    func withDtype(_ dtype: String) -> CLIPTextConfig {
        var c = self
        var json = c.extra
        json["dtype"] = .string(dtype)
        c.extra = json
        return c
    }
}
