// Puts a (usually erased) text encoder into another model that was built on the same encoder —
// an image model's erased CLIP into a video model (Liu & Tan). It only makes sense when the
// target reads text the same way and its UNet cross-attends to vectors of the encoder's width,
// so every property that must agree is checked first, and a mismatch is refused naming the
// property and both values: SD 1.x's 768-wide CLIP cannot go into ModelScope's 1024-wide UNet.
// Nothing is written unless every check passes.

import Foundation
import LetheCore
import LetheModels

/// A property on which the encoder and the target disagree.
public struct TransferMismatch: Error, CustomStringConvertible {
    public let property: String
    public let sourceValue: String
    public let targetValue: String
    public let source: String
    public let target: String

    public var description: String {
        "cannot transfer: \(property) differs: the encoder has \(sourceValue) (\(source)), the target has \(targetValue) (\(target))"
    }
}

public struct EncoderTransfer {
    public static let reportName = "transfer.json"

    /// The text_encoder/ folder being transferred.
    public let encoderDirectory: URL
    /// Its tokenizer, when the source is (or sits in) a model folder that has one.
    public let tokenizerDirectory: URL?
    public let targetModel: URL
    /// The values checked, by property name.
    public let checked: [String: Any]

    /// Resolves `encoder` (a model folder or its text_encoder/ folder) and checks it against the
    /// model folder `target`.
    public static func plan(encoder: URL, into target: URL) throws -> EncoderTransfer {
        let fm = FileManager.default
        func exists(_ url: URL) -> Bool { fm.fileExists(atPath: url.path) }
        let encoderDirectory: URL, tokenizerDirectory: URL?
        if exists(encoder.appendingPathComponent("text_encoder/config.json")) {
            encoderDirectory = encoder.appendingPathComponent("text_encoder")
            let tok = encoder.appendingPathComponent("tokenizer")
            tokenizerDirectory = exists(tok) ? tok : nil
        } else if exists(encoder.appendingPathComponent(CLIPTextModel.configName)) {
            encoderDirectory = encoder
            let parent = encoder.deletingLastPathComponent()
            let tok = parent.appendingPathComponent("tokenizer")
            tokenizerDirectory = exists(parent.appendingPathComponent(DiffusionModel.indexName)) && exists(tok) ? tok : nil
        } else {
            throw ErasureError("\(encoder.path): neither a model folder with text_encoder/ nor a text encoder folder with config.json")
        }
        guard exists(target.appendingPathComponent(DiffusionModel.indexName)) else {
            throw ErasureError("\(target.path): not a model folder (no \(DiffusionModel.indexName))")
        }
        for part in ["text_encoder/config.json", "unet/config.json", "tokenizer"] where !exists(target.appendingPathComponent(part)) {
            throw ErasureError("\(target.path): the target model has no \(part)")
        }

        let sourceConfigURL = encoderDirectory.appendingPathComponent(CLIPTextModel.configName)
        let targetConfigURL = target.appendingPathComponent("text_encoder").appendingPathComponent(CLIPTextModel.configName)
        let sourceConfig = try CLIPTextConfig(contentsOf: sourceConfigURL)
        let targetConfig = try CLIPTextConfig(contentsOf: targetConfigURL)
        var checked: [String: Any] = [:]
        func require<T: Equatable>(_ property: String, _ a: T, _ b: T, source: URL, target: URL, show: (T) -> String = { "\($0)" }) throws {
            guard a == b else {
                throw TransferMismatch(property: property, sourceValue: show(a), targetValue: show(b), source: source.path, target: target.path)
            }
        }

        if let tokenizerDirectory {
            let targetTokenizer = target.appendingPathComponent("tokenizer")
            let a = try CLIPTokenizer(directory: tokenizerDirectory), b = try CLIPTokenizer(directory: targetTokenizer)
            try require("tokenizer vocabulary size", a.vocabulary.count, b.vocabulary.count, source: tokenizerDirectory, target: targetTokenizer)
            if a.vocabulary != b.vocabulary {
                let token = a.vocabulary.keys.sorted().first { a.vocabulary[$0] != b.vocabulary[$0] }!
                try require("tokenizer id of \"\(token)\"", a.vocabulary[token].map(String.init) ?? "none",
                            b.vocabulary[token].map(String.init) ?? "none", source: tokenizerDirectory, target: targetTokenizer)
            }
            try require("tokenizer merge count", a.merges.count, b.merges.count, source: tokenizerDirectory, target: targetTokenizer)
            if let rank = a.merges.indices.first(where: { a.merges[$0] != b.merges[$0] }) {
                try require("tokenizer merge \(rank)", "\(a.merges[rank].0) \(a.merges[rank].1)", "\(b.merges[rank].0) \(b.merges[rank].1)",
                            source: tokenizerDirectory, target: targetTokenizer)
            }
            try require("tokenizer model_max_length", a.modelMaxLength, b.modelMaxLength, source: tokenizerDirectory, target: targetTokenizer)
            try require("tokenizer special token ids (bos, eos, pad)", [a.bosTokenId, a.eosTokenId, a.padTokenId],
                        [b.bosTokenId, b.eosTokenId, b.padTokenId], source: tokenizerDirectory, target: targetTokenizer)
            checked["tokenizer"] = "identical"
        } else {
            checked["tokenizer"] = "not checked (the source has no tokenizer; the target's is kept)"
        }
        try require("hidden_size", sourceConfig.hiddenSize, targetConfig.hiddenSize, source: sourceConfigURL, target: targetConfigURL)
        try require("max_position_embeddings", sourceConfig.maxPositionEmbeddings, targetConfig.maxPositionEmbeddings,
                    source: sourceConfigURL, target: targetConfigURL)
        try require("vocab_size", sourceConfig.vocabSize, targetConfig.vocabSize, source: sourceConfigURL, target: targetConfigURL)
        let unetConfigURL = target.appendingPathComponent("unet/config.json")
        let crossAttentionDims = try Self.crossAttentionDims(unetConfigURL)
        for dim in Set(crossAttentionDims).sorted() {
            try require("hidden_size vs the target UNet's cross_attention_dim", sourceConfig.hiddenSize, dim,
                        source: sourceConfigURL, target: unetConfigURL)
        }
        checked["hidden_size"] = sourceConfig.hiddenSize
        checked["max_position_embeddings"] = sourceConfig.maxPositionEmbeddings
        checked["vocab_size"] = sourceConfig.vocabSize
        checked["cross_attention_dim"] = crossAttentionDims[0]
        // The weights must actually load under their config before anything is written.
        _ = try CLIPTextModel.load(directory: encoderDirectory)
        return EncoderTransfer(encoderDirectory: encoderDirectory, tokenizerDirectory: tokenizerDirectory,
                               targetModel: target, checked: checked)
    }

    /// The cross-attention widths of a UNet config (one per block for a 2-D or motion UNet, one for a 3-D one).
    static func crossAttentionDims(_ url: URL) throws -> [Int] {
        let json = try JSONConfig(contentsOf: url)
        switch json["_class_name"] {
        case .string("UNet3DConditionModel")?: return [try UNet3DConfig(json: json).crossAttentionDim]
        case .string("UNetMotionModel")?:
            let config = try UNetMotionConfig(json: json)
            return config.crossAttentionDim.resolved(count: config.blockCount)
        default: break
        }
        let config = try UNet2DConfig(json: json)
        return config.crossAttentionDim.resolved(count: config.blockCount)
    }

    /// Writes the target model with the new text_encoder/ (and tokenizer/) into `destination`,
    /// plus transfer.json; returns the report.
    @discardableResult
    public func write(to destination: URL) throws -> [String: Any] {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: destination.path) else {
            throw ErasureError("\(destination.path) already exists; choose another --out or remove it")
        }
        let replaced: Set<String> = tokenizerDirectory == nil ? ["text_encoder"] : ["text_encoder", "tokenizer"]
        let replacedWeights = try Self.checksums(targetModel.appendingPathComponent("text_encoder"))
        var report: [String: Any] = [:]
        try ErasureOutput.stage(beside: destination) { staging in
            for name in try fm.contentsOfDirectory(atPath: targetModel.path) where !replaced.contains(name) && !name.hasPrefix(".")
                && !ErasureOutput.provenanceReports.contains(name) {
                try fm.copyItem(at: targetModel.appendingPathComponent(name), to: staging.appendingPathComponent(name))
            }
            try Self.copyFiles(of: encoderDirectory, to: staging.appendingPathComponent("text_encoder"))
            if let tokenizerDirectory { try Self.copyFiles(of: tokenizerDirectory, to: staging.appendingPathComponent("tokenizer")) }
            report = [
                "source_encoder": encoderDirectory.path,
                "source_tokenizer": tokenizerDirectory?.path ?? NSNull(),
                "target_model": targetModel.path,
                "checked": checked,
                "encoder_weights": try Self.checksums(staging.appendingPathComponent("text_encoder")),
                "replaced_encoder_weights": replacedWeights,
            ]
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try data.write(to: staging.appendingPathComponent(Self.reportName))
        }
        return report
    }

    /// Regular, visible files of `folder` copied into a new `destination` folder.
    static func copyFiles(of folder: URL, to destination: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: destination, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: folder.path).sorted() where !name.hasPrefix(".") {
            var isDir: ObjCBool = false
            let from = folder.appendingPathComponent(name)
            if fm.fileExists(atPath: from.path, isDirectory: &isDir), !isDir.boolValue {
                try fm.copyItem(at: from, to: destination.appendingPathComponent(name))
            }
        }
    }

    /// SHA-256 of every .safetensors file in `folder`, by file name.
    static func checksums(_ folder: URL) throws -> [[String: String]] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().filter { $0.hasSuffix(".safetensors") }.map {
            ["file": $0, "sha256": try SHA256.hex(fileAt: folder.appendingPathComponent($0))]
        }
    }
}
