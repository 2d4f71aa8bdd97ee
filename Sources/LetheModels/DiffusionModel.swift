// A diffusers model folder: model_index.json naming the components, and one sub-folder each
// (tokenizer/, text_encoder/, unet/, scheduler/). Lethe reads the four it runs and carries any
// others (a real checkpoint's vae/, safety_checker/, ...) through unchanged when it saves, with
// the folder's generation_config.json (GenerationConfig) if it has one.

import Foundation
import LetheCore

public struct ModelFolderError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

public final class DiffusionModel {
    public static let indexName = "model_index.json"
    public static let components = ["tokenizer", "text_encoder", "unet", "scheduler"]

    public var tokenizer: CLIPTokenizer
    public var textEncoder: CLIPTextModel
    public let unet: any Denoiser
    public var schedulerConfig: SchedulerConfig
    /// The sampling settings the folder recommends (generation_config.json; empty when it has none).
    public var generationConfig: GenerationConfig
    /// model_index.json as read (or as made for a new model), kept so a saved copy names the
    /// same classes and libraries.
    public var index: JSONConfig
    /// Where the model was loaded from; other components are copied from here on save.
    public let sourceDirectory: URL?

    public init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, unet: any Denoiser,
                schedulerConfig: SchedulerConfig, generationConfig: GenerationConfig = GenerationConfig(),
                index: JSONConfig? = nil, sourceDirectory: URL? = nil) {
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
        self.unet = unet
        self.schedulerConfig = schedulerConfig
        self.generationConfig = generationConfig
        self.index = index ?? DiffusionModel.defaultIndex(for: unet)
        self.sourceDirectory = sourceDirectory
    }

    public var isVideo: Bool { unet.isVideo }

    /// Noise of `shape` as this model was trained on it: clips ([N, C, F, H, W]) from the mixed
    /// frame prior its scheduler config names (`mixed_noise_alpha`), anything else independent.
    /// Every sampler and trainer draws through here, so a model is never fed the wrong prior.
    public func drawNoise(_ shape: [Int], rng: inout RandomGenerator) -> Tensor {
        if shape.count == 5, let prior = schedulerConfig.mixedFrameNoise { return prior.sample(shape, rng: &rng) }
        return Tensor.randn(shape, rng: &rng)
    }

    /// A model_index.json for a folder Lethe made itself.
    public static func defaultIndex(video: Bool) -> JSONConfig {
        JSONConfig(values: [
            "_class_name": .string(video ? "TextToVideoSDPipeline" : "StableDiffusionPipeline"),
            "_diffusers_version": "0.42.1",
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "unet": ["diffusers", .string(video ? "UNet3DConditionModel" : "UNet2DConditionModel")],
            "scheduler": ["diffusers", "DDIMScheduler"],
        ], source: indexName)
    }

    /// The model_index.json diffusers writes for a pipeline around `unet`: AnimateDiffPipeline
    /// (with its optional components null) for a UNetMotionModel, otherwise as `defaultIndex(video:)`.
    public static func defaultIndex(for unet: any Denoiser) -> JSONConfig {
        guard unet is UNetMotionModel else { return defaultIndex(video: unet.isVideo) }
        var index = defaultIndex(video: true)
        index["_class_name"] = "AnimateDiffPipeline"
        index["unet"] = ["diffusers", "UNetMotionModel"]
        for name in ["motion_adapter", "feature_extractor", "image_encoder"] { index[name] = [.null, .null] }
        return index
    }

    /// The (library, class) a model_index.json names for a component.
    static func componentClass(_ index: JSONConfig, _ name: String) throws -> String? {
        guard let entry = index[name], entry != .null else { return nil }
        guard case let .array(pair) = entry, pair.count == 2, case .string = pair[0], case let .string(cls) = pair[1] else {
            throw ConfigError(source: index.source, key: name, "expected [library, class], found \(entry)")
        }
        return cls
    }

    public static func load(directory: URL) throws -> DiffusionModel {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw ModelFolderError(directory.path, "no such model folder")
        }
        let indexURL = directory.appendingPathComponent(indexName)
        let index = try JSONConfig(contentsOf: indexURL)
        for name in components where try componentClass(index, name) == nil {
            throw ModelFolderError(indexURL.path, "names no \(name) component; Lethe needs tokenizer, text_encoder, unet and scheduler")
        }
        let unetClass = try componentClass(index, "unet")!
        let unetDir = directory.appendingPathComponent("unet")
        let unet: any Denoiser
        switch unetClass {
        case "UNet2DConditionModel": unet = try UNet2DConditionModel.load(directory: unetDir)
        case "UNet3DConditionModel": unet = try UNet3DConditionModel.load(directory: unetDir)
        case "UNetMotionModel": unet = try UNetMotionModel.load(directory: unetDir)
        default:
            throw ModelFolderError(indexURL.path, "unet is a \(unetClass); Lethe runs UNet2DConditionModel, UNet3DConditionModel and UNetMotionModel")
        }
        let textEncoder = try CLIPTextModel.load(directory: directory.appendingPathComponent("text_encoder"))
        guard textEncoder.config.hiddenSize == unet.crossAttentionDim else {
            throw ModelFolderError(directory.path, "text_encoder hidden_size \(textEncoder.config.hiddenSize) does not match unet cross_attention_dim \(unet.crossAttentionDim)")
        }
        return DiffusionModel(
            tokenizer: try CLIPTokenizer(directory: directory.appendingPathComponent("tokenizer")),
            textEncoder: textEncoder, unet: unet,
            schedulerConfig: try SchedulerConfig(contentsOf: directory.appendingPathComponent("scheduler")),
            generationConfig: try GenerationConfig(directory: directory),
            index: index, sourceDirectory: directory)
    }

    /// Writes the whole folder: the four components Lethe runs, generation_config.json (when the
    /// model has one), any other component folders of the source copied unchanged, and
    /// model_index.json last. Written into a temporary folder
    /// beside `directory` and moved into place, so a failed save leaves no half-written model.
    /// `dtype` is the weights' storage type (float16 halves the files; Lethe computes in float32 either way).
    public func save(to directory: URL, dtype: SafeTensors.WriteDType = .f32) throws {
        try writeDirectoryAtomically(to: directory) { staging in
            let fm = FileManager.default
            try tokenizer.save(to: staging.appendingPathComponent("tokenizer"))
            try textEncoder.save(to: staging.appendingPathComponent("text_encoder"), dtype: dtype)
            try unet.save(to: staging.appendingPathComponent("unet"), dtype: dtype)
            let scheduler = try DDIMScheduler(config: schedulerConfig)
            try scheduler.saveConfig(to: staging.appendingPathComponent("scheduler"))
            try generationConfig.write(to: staging)
            if let source = sourceDirectory {
                for name in try fm.contentsOfDirectory(atPath: source.path) where !Self.components.contains(name) && name != Self.indexName {
                    var isDir: ObjCBool = false
                    let from = source.appendingPathComponent(name)
                    if fm.fileExists(atPath: from.path, isDirectory: &isDir), isDir.boolValue, !name.hasPrefix(".") {
                        try fm.copyItem(at: from, to: staging.appendingPathComponent(name))
                    }
                }
            }
            try index.write(to: staging.appendingPathComponent(Self.indexName))
        }
    }
}
