// transformers' CLIPTextConfig: the config.json of a `text_encoder/` folder. Keys and defaults are
// transformers' (openai/clip-vit-base-patch32 sizes), so a real Stable Diffusion text encoder's
// config reads as is; keys Lethe does not use are kept and written back.

import Foundation
import LetheCore

/// The MLP non-linearity named by `hidden_act`.
public enum CLIPActivation: Equatable, Sendable {
    /// x·σ(1.702x), the original CLIP's approximation ("quick_gelu").
    case quickGELU
    /// The exact, erf-based GELU ("gelu").
    case gelu
    /// The tanh approximation ("gelu_new" in transformers, "gelu_pytorch_tanh" in newer configs).
    case geluTanh

    /// Accepted `hidden_act` names.
    public static let names: [String: CLIPActivation] = [
        "quick_gelu": .quickGELU, "gelu": .gelu, "gelu_new": .geluTanh, "gelu_pytorch_tanh": .geluTanh,
    ]
}

public struct CLIPTextConfig: Equatable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var projectionDim: Int? = 512
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    /// The name as written in config.json ("gelu_new" and "gelu_pytorch_tanh" compute the same).
    public var hiddenAct = "quick_gelu"
    public var layerNormEps = 1e-5
    public var attentionDropout = 0.0
    public var initializerRange = 0.02
    public var initializerFactor = 1.0
    public var padTokenId: Int? = 1
    public var bosTokenId: Int? = 49406
    /// Where pooling looks: 2 means the pre-2023 convention (pool at the largest id), any other
    /// value the first position holding it.
    public var eosTokenId: Int? = 49407
    /// Every key of the file it was read from, so unknown keys survive a write.
    public var extra = JSONConfig()

    public init() {}

    public var activation: CLIPActivation { CLIPActivation.names[hiddenAct] ?? .quickGELU }
    public var headDim: Int { hiddenSize / numAttentionHeads }

    public init(contentsOf url: URL) throws {
        try self.init(json: JSONConfig(contentsOf: url))
    }

    public init(json c: JSONConfig) throws {
        if let type = try c.optionalString("model_type"), type != "clip_text_model" {
            let hint = type == "clip" ? " (a full CLIP config: use its text_config as the text encoder's config.json)" : ""
            throw ConfigError(source: c.source, key: "model_type", "expected \"clip_text_model\", found \"\(type)\"\(hint)")
        }
        vocabSize = try c.int("vocab_size", default: vocabSize)
        hiddenSize = try c.int("hidden_size", default: hiddenSize)
        intermediateSize = try c.int("intermediate_size", default: intermediateSize)
        projectionDim = try Self.nullableInt(c, "projection_dim", default: projectionDim)
        numHiddenLayers = try c.int("num_hidden_layers", default: numHiddenLayers)
        numAttentionHeads = try c.int("num_attention_heads", default: numAttentionHeads)
        maxPositionEmbeddings = try c.int("max_position_embeddings", default: maxPositionEmbeddings)
        hiddenAct = try c.string("hidden_act", default: hiddenAct)
        layerNormEps = try c.double("layer_norm_eps", default: layerNormEps)
        attentionDropout = try c.double("attention_dropout", default: attentionDropout)
        initializerRange = try c.double("initializer_range", default: initializerRange)
        initializerFactor = try c.double("initializer_factor", default: initializerFactor)
        padTokenId = try Self.nullableInt(c, "pad_token_id", default: padTokenId)
        bosTokenId = try Self.nullableInt(c, "bos_token_id", default: bosTokenId)
        eosTokenId = try Self.nullableInt(c, "eos_token_id", default: eosTokenId)
        extra = c
        try validate(source: c.source)
    }

    /// An explicit null is kept as nil (transformers does the same); a missing key takes the default.
    private static func nullableInt(_ c: JSONConfig, _ key: String, default d: Int?) throws -> Int? {
        switch c[key] {
        case nil: return d
        case .null?: return nil
        default: return try c.int(key)
        }
    }

    /// Sizes that would make the model impossible to build; checked on read so a bad file fails
    /// with its name instead of a precondition deep in a layer.
    public func validate(source: String = "CLIPTextConfig") throws {
        func positive(_ key: String, _ v: Int) throws {
            if v <= 0 { throw ConfigError(source: source, key: key, "must be positive, found \(v)") }
        }
        try positive("vocab_size", vocabSize)
        try positive("hidden_size", hiddenSize)
        try positive("intermediate_size", intermediateSize)
        try positive("num_attention_heads", numAttentionHeads)
        try positive("max_position_embeddings", maxPositionEmbeddings)
        if numHiddenLayers < 0 {
            throw ConfigError(source: source, key: "num_hidden_layers", "must not be negative, found \(numHiddenLayers)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw ConfigError(source: source, key: "num_attention_heads",
                              "hidden_size \(hiddenSize) is not a multiple of \(numAttentionHeads) heads")
        }
        if CLIPActivation.names[hiddenAct] == nil {
            throw ConfigError(source: source, key: "hidden_act",
                              "unsupported activation \"\(hiddenAct)\"; expected one of \(CLIPActivation.names.keys.sorted().joined(separator: ", "))")
        }
        if !(layerNormEps > 0) {
            throw ConfigError(source: source, key: "layer_norm_eps", "must be positive, found \(layerNormEps)")
        }
    }

    /// The config as transformers writes it, with the keys this struct does not model kept.
    public func json() -> JSONConfig {
        var c = extra
        c["model_type"] = "clip_text_model"
        if !c.has("architectures") { c["architectures"] = ["CLIPTextModel"] }
        c["vocab_size"] = .int(vocabSize)
        c["hidden_size"] = .int(hiddenSize)
        c["intermediate_size"] = .int(intermediateSize)
        c["projection_dim"] = projectionDim.map(JSONValue.int) ?? .null
        c["num_hidden_layers"] = .int(numHiddenLayers)
        c["num_attention_heads"] = .int(numAttentionHeads)
        c["max_position_embeddings"] = .int(maxPositionEmbeddings)
        c["hidden_act"] = .string(hiddenAct)
        c["layer_norm_eps"] = .double(layerNormEps)
        c["attention_dropout"] = .double(attentionDropout)
        c["initializer_range"] = .double(initializerRange)
        c["initializer_factor"] = .double(initializerFactor)
        c["pad_token_id"] = padTokenId.map(JSONValue.int) ?? .null
        c["bos_token_id"] = bosTokenId.map(JSONValue.int) ?? .null
        c["eos_token_id"] = eosTokenId.map(JSONValue.int) ?? .null
        return c
    }

    /// Writes config.json the way transformers does (Python's `json.dumps(indent=2, sort_keys=True)`).
    public func write(to url: URL) throws {
        try writeAtomically(Data((pythonJSON(.object(json().values)) + "\n").utf8), to: url)
    }

    public static func == (a: CLIPTextConfig, b: CLIPTextConfig) -> Bool {
        a.json().values == b.json().values
    }
}

/// JSON text as Python's json module writes it. Foundation's encoder prints a whole Double as "1",
/// which transformers ≥ 5 rejects for float fields ("initializer_factor expected float, got int");
/// Swift's shortest round-trip description keeps "1.0" and "1e-05".
func pythonJSON(_ value: JSONValue, indent: String = "") -> String {
    let inner = indent + "  "
    switch value {
    case .null: return "null"
    case let .bool(b): return b ? "true" : "false"
    case let .int(i): return String(i)
    case let .double(d):
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
        return d.description
    case let .string(s): return jsonStringLiteral(s)
    case let .array(a):
        if a.isEmpty { return "[]" }
        return "[\n" + a.map { inner + pythonJSON($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
    case let .object(o):
        if o.isEmpty { return "{}" }
        let items = o.keys.sorted().map { inner + jsonStringLiteral($0) + ": " + pythonJSON(o[$0]!, indent: inner) }
        return "{\n" + items.joined(separator: ",\n") + "\n" + indent + "}"
    }
}
