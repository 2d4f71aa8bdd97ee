// transformers' CLIPTextModel: the text encoder of Stable Diffusion 1.x, LaVie and AnimateDiff,
// and the part of the pipeline Lethe fine-tunes to erase a concept.
//
// Pre-LN transformer: token + position embeddings, N × (x + attn(ln1(x)); x + mlp(ln2(x))) with
// causal self-attention, then a final LayerNorm. Parameters sit under transformers' keys with the
// "text_model." prefix that every released checkpoint (and transformers 4.x) uses; folders
// written by transformers ≥ 5, which drops the prefix, load too.

import Foundation
import LetheCore

/// Errors in a caller's token ids or mask; thrown instead of trapping deep inside a kernel.
public struct CLIPTextInputError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "CLIPTextModel input: \(message)" }
}

/// What transformers' CLIPTextModel returns (`BaseModelOutputWithPooling`).
public struct CLIPTextModelOutput {
    /// [B, L, hidden_size], after the final LayerNorm: the conditioning a UNet cross-attends to.
    public let lastHiddenState: Tensor
    /// [B, hidden_size]: the last hidden state at each row's end-of-text token.
    public let poolerOutput: Tensor
}

public final class CLIPTextEmbeddings: Module {
    public let tokenEmbedding: Embedding
    public let positionEmbedding: Embedding

    init(_ config: CLIPTextConfig, rng: inout RandomGenerator) {
        let std = Float(0.02 * config.initializerFactor)
        tokenEmbedding = Embedding(config.vocabSize, config.hiddenSize, std: std, rng: &rng)
        positionEmbedding = Embedding(config.maxPositionEmbeddings, config.hiddenSize, std: std, rng: &rng)
        super.init()
        child("token_embedding", tokenEmbedding)
        child("position_embedding", positionEmbedding)
    }

    /// ids: B·L token ids, row-major; `inputsEmbeds` [B, L, D] replaces the token lookup (a soft
    /// prompt being optimised), positions are added either way. Returns [B, L, D].
    func callAsFunction(_ ids: [Int], batch: Int, length: Int, inputsEmbeds: Tensor?) -> Tensor {
        let tokens = inputsEmbeds ?? tokenEmbedding(ids, shape: [batch, length])
        let positions = positionEmbedding.weight.slice(axis: 0, range: 0..<length)
        return tokens + positions
    }
}

public final class CLIPAttention: Module {
    public let kProj: Linear, vProj: Linear, qProj: Linear, outProj: Linear
    public let heads: Int
    let scale: Float

    init(_ config: CLIPTextConfig, rng: inout RandomGenerator) {
        let d = config.hiddenSize
        heads = config.numAttentionHeads
        scale = 1 / Float(config.headDim).squareRoot()
        // Registered in transformers' order (k, v, q, out) so parameter listings line up.
        kProj = Linear(d, d, rng: &rng)
        vProj = Linear(d, d, rng: &rng)
        qProj = Linear(d, d, rng: &rng)
        outProj = Linear(d, d, rng: &rng)
        super.init()
        child("k_proj", kProj)
        child("v_proj", vProj)
        child("q_proj", qProj)
        child("out_proj", outProj)
        let factor = config.initializerFactor
        let inStd = pow(Double(d), -0.5) * pow(Double(2 * max(config.numHiddenLayers, 1)), -0.5) * factor
        for proj in [qProj, kProj, vProj] { normalInit(proj, std: inStd, rng: &rng) }
        normalInit(outProj, std: pow(Double(d), -0.5) * factor, rng: &rng)
    }

    /// x [B, L, D] → [B, L, D]. `maskBias` [B, 1, L, L] (0 or a huge negative) carries causality
    /// and padding together; without it the fused causal kernel runs.
    func callAsFunction(_ x: Tensor, maskBias: Tensor?) -> Tensor {
        let q = qProj(x), k = kProj(x), v = vProj(x)
        guard let maskBias else {
            return outProj(scaledDotProductAttention(query: q, key: k, value: v, heads: heads, causal: true, scale: scale))
        }
        let b = x.shape[0], l = x.shape[1], d = x.shape[2]
        func split(_ t: Tensor) -> Tensor { t.reshaped([b, l, heads, d / heads]).permuted([0, 2, 1, 3]) }
        let scores = split(q).matmul(split(k), transposeB: true) * scale + maskBias
        let attended = scores.softmax(axis: -1).matmul(split(v))
        return outProj(attended.permuted([0, 2, 1, 3]).reshaped([b, l, d]))
    }
}

public final class CLIPMLP: Module {
    public let fc1: Linear, fc2: Linear
    public let activation: CLIPActivation

    init(_ config: CLIPTextConfig, rng: inout RandomGenerator) {
        activation = config.activation
        fc1 = Linear(config.hiddenSize, config.intermediateSize, rng: &rng)
        fc2 = Linear(config.intermediateSize, config.hiddenSize, rng: &rng)
        super.init()
        child("fc1", fc1)
        child("fc2", fc2)
        let d = Double(config.hiddenSize), factor = config.initializerFactor
        normalInit(fc1, std: pow(2 * d, -0.5) * factor, rng: &rng)
        normalInit(fc2, std: pow(d, -0.5) * pow(Double(2 * max(config.numHiddenLayers, 1)), -0.5) * factor, rng: &rng)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = fc1(x)
        switch activation {
        case .quickGELU: return fc2(h.quickGELU())
        case .gelu: return fc2(h.gelu(approximate: .none))
        case .geluTanh: return fc2(h.gelu(approximate: .tanh))
        }
    }
}

public final class CLIPEncoderLayer: Module {
    public let selfAttn: CLIPAttention
    public let layerNorm1: LayerNorm
    public let mlp: CLIPMLP
    public let layerNorm2: LayerNorm

    init(_ config: CLIPTextConfig, rng: inout RandomGenerator) {
        let eps = Float(config.layerNormEps)
        selfAttn = CLIPAttention(config, rng: &rng)
        layerNorm1 = LayerNorm(config.hiddenSize, eps: eps)
        mlp = CLIPMLP(config, rng: &rng)
        layerNorm2 = LayerNorm(config.hiddenSize, eps: eps)
        super.init()
        child("self_attn", selfAttn)
        child("layer_norm1", layerNorm1)
        child("mlp", mlp)
        child("layer_norm2", layerNorm2)
    }

    func callAsFunction(_ x: Tensor, maskBias: Tensor?) -> Tensor {
        let h = x + selfAttn(layerNorm1(x), maskBias: maskBias)
        return h + mlp(layerNorm2(h))
    }
}

public final class CLIPEncoder: Module {
    public let layers: [CLIPEncoderLayer]

    init(_ config: CLIPTextConfig, rng: inout RandomGenerator) {
        var built: [CLIPEncoderLayer] = []
        for _ in 0..<config.numHiddenLayers { built.append(CLIPEncoderLayer(config, rng: &rng)) }
        layers = built
        super.init()
        children("layers", built)
    }

    func callAsFunction(_ x: Tensor, maskBias: Tensor?) -> Tensor {
        layers.reduce(x) { h, layer in layer(h, maskBias: maskBias) }
    }
}

/// The module under "text_model." (transformers 4.x's CLIPTextTransformer).
public final class CLIPTextTransformer: Module {
    public let embeddings: CLIPTextEmbeddings
    public let encoder: CLIPEncoder
    public let finalLayerNorm: LayerNorm

    init(_ config: CLIPTextConfig, rng: inout RandomGenerator) {
        embeddings = CLIPTextEmbeddings(config, rng: &rng)
        encoder = CLIPEncoder(config, rng: &rng)
        finalLayerNorm = LayerNorm(config.hiddenSize, eps: Float(config.layerNormEps))
        super.init()
        child("embeddings", embeddings)
        child("encoder", encoder)
        child("final_layer_norm", finalLayerNorm)
    }
}

public final class CLIPTextModel: Module {
    public static let configName = "config.json"
    public static let weightsName = "model.safetensors"
    public static let indexName = "model.safetensors.index.json"

    public let config: CLIPTextConfig
    public let textModel: CLIPTextTransformer

    /// A randomly initialised model, with transformers' initialisation (normal weights scaled by
    /// depth and width, zero biases, unit LayerNorms). The config must be valid (`validate()`).
    public init(config: CLIPTextConfig, rng: inout RandomGenerator) {
        precondition((try? config.validate()) != nil, "CLIPTextModel: invalid config; call config.validate() first")
        self.config = config
        textModel = CLIPTextTransformer(config, rng: &rng)
        super.init()
        child("text_model", textModel)
    }

    // MARK: Forward

    /// Encodes a batch of token rows (all of one length ≤ max_position_embeddings).
    /// - attentionMask: 1 for real tokens, 0 for padding, shaped like `inputIds`; padding keys
    ///   are hidden in addition to the causal mask, as transformers does. Stable Diffusion passes
    ///   none. A query row with no visible key (left padding) spreads its attention evenly over
    ///   all positions, like transformers' eager attention.
    /// - inputsEmbeds: [B, L, hidden_size] used instead of the token embeddings (soft prompts);
    ///   `inputIds` still decide where pooling looks.
    public func callAsFunction(_ inputIds: [[Int]], attentionMask: [[Int]]? = nil,
                               inputsEmbeds: Tensor? = nil) throws -> CLIPTextModelOutput {
        let (batch, length) = try checkInputs(inputIds, attentionMask: attentionMask, inputsEmbeds: inputsEmbeds)
        let flatIds = inputIds.flatMap { $0 }
        // A mask without padding changes nothing: keep the fused causal kernel then.
        let maskBias = attentionMask.flatMap { mask in mask.contains { $0.contains(0) } ? Self.maskBias(mask, length: length) : nil }
        let t = textModel
        let embedded = t.embeddings(flatIds, batch: batch, length: length, inputsEmbeds: inputsEmbeds)
        let hidden = t.finalLayerNorm(t.encoder(embedded, maskBias: maskBias))
        let pooled = hidden.selectingPositions(inputIds.map(poolingPosition))
        return CLIPTextModelOutput(lastHiddenState: hidden, poolerOutput: pooled)
    }

    /// The position transformers pools at: the largest id when eos_token_id is the legacy 2
    /// (CLIP's end-of-text token had the largest id), otherwise the first eos token; 0 when
    /// a row has none (argmax of an all-false row). Ties go to the first, like torch.argmax.
    public func poolingPosition(_ row: [Int]) -> Int {
        if config.eosTokenId == 2 {
            var best = 0
            for (i, id) in row.enumerated() where id > row[best] { best = i }
            return best
        }
        guard let eos = config.eosTokenId else { return 0 }
        return row.firstIndex(of: eos) ?? 0
    }

    private func checkInputs(_ ids: [[Int]], attentionMask: [[Int]]?, inputsEmbeds: Tensor?) throws -> (Int, Int) {
        guard let length = ids.first?.count, length > 0 else { throw CLIPTextInputError(message: "no token ids") }
        if let bad = ids.firstIndex(where: { $0.count != length }) {
            throw CLIPTextInputError(message: "row \(bad) has \(ids[bad].count) tokens, row 0 has \(length); pad rows to one length")
        }
        if length > config.maxPositionEmbeddings {
            throw CLIPTextInputError(message: "\(length) tokens, more than max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        for (r, row) in ids.enumerated() {
            if let bad = row.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw CLIPTextInputError(message: "row \(r): token id \(bad) outside the vocabulary 0..<\(config.vocabSize)")
            }
        }
        if let mask = attentionMask {
            guard mask.count == ids.count, mask.allSatisfy({ $0.count == length }) else {
                throw CLIPTextInputError(message: "attention mask is not shaped like the ids [\(ids.count), \(length)]")
            }
            if mask.contains(where: { $0.contains { $0 != 0 && $0 != 1 } }) {
                throw CLIPTextInputError(message: "attention mask values must be 0 or 1")
            }
        }
        if let e = inputsEmbeds, e.shape != [ids.count, length, config.hiddenSize] {
            throw CLIPTextInputError(message: "inputsEmbeds has shape \(e.shape), expected \([ids.count, length, config.hiddenSize])")
        }
        return (ids.count, length)
    }

    /// [B, 1, L, L]: 0 where query i may see key j (j ≤ i and j is not padding), else the most
    /// negative float (transformers' eager mask value, which keeps fully hidden rows finite).
    static func maskBias(_ mask: [[Int]], length l: Int) -> Tensor {
        let bias = Tensor(repeating: -Float.greatestFiniteMagnitude, shape: [mask.count, 1, l, l])
        let p = bias.pointer
        for (b, row) in mask.enumerated() {
            for i in 0..<l {
                for j in 0...i where row[j] != 0 { p[(b * l + i) * l + j] = 0 }
            }
        }
        return bias
    }

    // MARK: Freezing

    /// Makes exactly the parameters whose state-dict key ("text_model.encoder.layers.3.mlp.fc1.weight")
    /// satisfies `predicate` trainable and freezes the rest. Returns the trainable keys.
    @discardableResult
    public func trainOnly(where predicate: (String) -> Bool) -> [String] {
        var chosen: [String] = []
        for (key, p) in namedParameters() {
            p.requiresGrad = predicate(key)
            if p.requiresGrad { chosen.append(key) } else { p.grad = nil }
        }
        return chosen
    }

    /// Few-shot erasing's subset (Fuchi & Takagi): the MLPs of every layer plus the last layer's
    /// self-attention.
    public var fewShotErasureParameters: (String) -> Bool {
        let lastAttention = "text_model.encoder.layers.\(config.numHiddenLayers - 1).self_attn."
        return { key in
            (key.hasPrefix("text_model.encoder.layers.") && key.contains(".mlp.")) || key.hasPrefix(lastAttention)
        }
    }

    // MARK: Loading and saving

    /// Reads a transformers text-encoder folder: config.json plus model.safetensors (or the
    /// shards listed in model.safetensors.index.json). Keys with or without the "text_model."
    /// prefix are accepted; the position_ids buffer older checkpoints carry is ignored.
    public static func load(directory: URL) throws -> CLIPTextModel {
        let config = try CLIPTextConfig(contentsOf: directory.appendingPathComponent(configName))
        var rng = RandomGenerator(seed: 0)
        let model = CLIPTextModel(config: config, rng: &rng)
        let (tensors, source) = try readWeights(directory)
        let hasPrefix = tensors.keys.contains { $0.hasPrefix("text_model.") }
        var stateDict: [String: Tensor] = [:]
        for (key, t) in tensors { stateDict[hasPrefix ? key : "text_model." + key] = t }
        try model.load(stateDict: stateDict, source: source, ignoringUnexpected: { $0 == "text_model.embeddings.position_ids" })
        return model
    }

    private static func readWeights(_ directory: URL) throws -> ([String: Tensor], String) {
        let fm = FileManager.default
        let single = directory.appendingPathComponent(weightsName)
        if fm.fileExists(atPath: single.path) { return (try SafeTensors.load(single), single.path) }
        let index = directory.appendingPathComponent(indexName)
        guard fm.fileExists(atPath: index.path) else {
            throw ConfigError(source: directory.path, "no \(weightsName) or \(indexName) (only safetensors weights are read)")
        }
        let json = try JSONConfig(contentsOf: index)
        guard case let .object(map)? = json["weight_map"] else {
            throw ConfigError(source: index.path, key: "weight_map", "expected an object mapping parameter names to files")
        }
        var byFile: [String: Set<String>] = [:]
        for (key, value) in map {
            guard case let .string(file) = value, !file.contains("/") else {
                throw ConfigError(source: index.path, key: "weight_map", "\(key): expected a file name in this folder, found \(value)")
            }
            byFile[file, default: []].insert(key)
        }
        var merged: [String: Tensor] = [:]
        for (file, keys) in byFile.sorted(by: { $0.key < $1.key }) {
            let url = directory.appendingPathComponent(file)
            let shard = try SafeTensors.load(url)
            for key in keys {
                guard let t = shard[key] else {
                    throw ConfigError(source: url.path, "\(key) is listed in \(indexName) but missing from this shard")
                }
                merged[key] = t
            }
        }
        return (merged, index.path)
    }

    /// Writes config.json and model.safetensors (float32, "text_model."-prefixed keys, which
    /// transformers 4.x and 5.x both read), each file atomically.
    public func save(to directory: URL, dtype: SafeTensors.WriteDType = .f32) throws {
        let weights = directory.appendingPathComponent(Self.weightsName)
        try writeAtomically(to: weights) { tmp in
            try SafeTensors.write(stateDict(), metadata: ["format": "pt"], dtype: dtype, to: tmp)
        }
        // The config names the dtype the weights were written in, whatever the source stored.
        let name: JSONValue = dtype == .f16 ? "float16" : "float32"
        var written = config
        for key in ["torch_dtype", "dtype"] where written.extra.has(key) { written.extra[key] = name }
        if !written.extra.has("torch_dtype") && !written.extra.has("dtype") { written.extra["torch_dtype"] = name }
        try written.write(to: directory.appendingPathComponent(Self.configName))
    }
}

/// Re-draws a fresh Linear with transformers' CLIP initialisation: N(0, std²) weights, zero bias.
private func normalInit(_ layer: Linear, std: Double, rng: inout RandomGenerator) {
    layer.weight.assign(Tensor.randn(layer.weight.shape, rng: &rng, std: Float(std)))
    if let b = layer.bias { b.pointer.update(repeating: 0, count: b.count) }
}

extension Tensor {
    /// x [B, L, D] → [B, D] with row b taken at position `positions[b]` (pooling at the eos token).
    func selectingPositions(_ positions: [Int]) -> Tensor {
        precondition(rank == 3 && positions.count == shape[0], "selectingPositions: \(shape) with \(positions.count) positions")
        let b = shape[0], l = shape[1], d = shape[2]
        precondition(positions.allSatisfy { (0..<l).contains($0) }, "selectingPositions: position outside 0..<\(l)")
        let out = Tensor(uninitializedShape: [b, d])
        for (i, p) in positions.enumerated() {
            (out.pointer + i * d).update(from: pointer + (i * l + p) * d, count: d)
        }
        let inShape = shape
        return Autograd.record(out, "selectPositions", inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            for (i, p) in positions.enumerated() {
                (gx.pointer + (i * l + p) * d).update(from: g.pointer + i * d, count: d)
            }
            return [gx]
        }
    }
}
