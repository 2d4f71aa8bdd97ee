// What diffusers' three UNets (UNet2DConditionModel, UNet3DConditionModel, UNetMotionModel) have
// in common besides predicting noise: a `unet/` folder of config.json plus
// diffusion_pytorch_model.safetensors, and parameter groups selected by state-dict key. One
// implementation here serves all three.

import Foundation
import LetheCore

/// A UNet config read from and written to diffusers' config.json.
public protocol DiffusersUNetConfig {
    init(contentsOf url: URL) throws
    func write(to url: URL) throws
}

extension UNet2DConfig: DiffusersUNetConfig {}
extension UNet3DConfig: DiffusersUNetConfig {}
extension UNetMotionConfig: DiffusersUNetConfig {}

public protocol DiffusersUNet: Module {
    associatedtype Config: DiffusersUNetConfig
    var config: Config { get }
    init(config: Config, rng: inout RandomGenerator) throws
}

extension DiffusersUNet {
    public static var configName: String { "config.json" }
    public static var weightsName: String { "diffusion_pytorch_model.safetensors" }

    /// Loads a diffusers `unet/` folder: config.json and diffusion_pytorch_model.safetensors
    /// (float32, float16 or bfloat16 weights; buffers such as AnimateDiff's position tables too).
    public static func load(directory: URL) throws -> Self {
        let config = try Config(contentsOf: directory.appendingPathComponent(configName))
        let weights = directory.appendingPathComponent(weightsName)
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw UNetLoadError.missingWeights(directory: directory.path)
        }
        var rng = RandomGenerator(seed: 0)
        let model = try Self(config: config, rng: &rng)
        try model.load(stateDict: SafeTensors.load(weights), source: weights.path)
        return model
    }

    /// Writes config.json and diffusion_pytorch_model.safetensors into `directory`, each
    /// atomically, as diffusers' save_pretrained lays them out.
    public func save(to directory: URL, dtype: SafeTensors.WriteDType = .f32) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try config.write(to: directory.appendingPathComponent(Self.configName))
        try SafeTensors.write(stateDict(), metadata: ["format": "pt"], dtype: dtype, to: directory.appendingPathComponent(Self.weightsName))
    }

    /// Parameters of `group` with their diffusers keys, in model order.
    public func namedParameters(in group: UNetParameterGroup) -> [(key: String, tensor: Tensor)] {
        namedParameters().filter { group.contains($0.key) }
    }

    /// Makes exactly the parameters of `group` trainable and freezes the rest (`.temporal` on a
    /// motion UNet is diffusers' freeze_unet2d_params). Buffers never train.
    public func setTrainable(only group: UNetParameterGroup) {
        for (key, p) in namedParameters() {
            p.requiresGrad = group.contains(key)
            if !p.requiresGrad { p.grad = nil }
        }
    }
}

extension DiffusersUNet where Self: Denoiser {
    /// A model of the same config with fresh weights (to load a frozen copy into).
    public func sameConfigCopy() throws -> any Denoiser {
        var rng = RandomGenerator(seed: 0)
        return try Self(config: config, rng: &rng)
    }
}

extension UNet2DConditionModel: DiffusersUNet {}
extension UNet3DConditionModel: DiffusersUNet {}
extension UNetMotionModel: DiffusersUNet {}
