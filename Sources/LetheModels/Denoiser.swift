// What a pipeline needs from a noise-prediction network, so one sampling loop serves the image
// UNet (samples [N, C, H, W]) and the video UNet (samples [N, C, F, H, W]).

import Foundation
import LetheCore

public protocol Denoiser: Module {
    var inChannels: Int { get }
    /// Height and width of the samples the model was trained on.
    var sampleSize: (height: Int, width: Int) { get }
    var crossAttentionDim: Int { get }
    /// True when samples carry a frame axis.
    var isVideo: Bool { get }
    /// ε (or v) prediction for `sample` at one timestep per batch item, conditioned on text
    /// embeddings [N, L, crossAttentionDim].
    func predict(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor
    /// Writes `config.json` and the weights into `directory` (a diffusers `unet/` folder).
    func save(to directory: URL, dtype: SafeTensors.WriteDType) throws
    /// A model of the same config with fresh (untrained) weights, e.g. to load a frozen copy into.
    func sameConfigCopy() throws -> any Denoiser
    /// The most frames a clip may have (AnimateDiff's position table); nil: no limit.
    var maxFrames: Int? { get }
}

extension Denoiser {
    public var maxFrames: Int? { nil }

    /// Why a clip of `frames` frames cannot go through this UNet (AnimateDiff's position table
    /// is `maxFrames` long), or nil when it can.
    public func framesBeyondLimit(_ frames: Int) -> String? {
        guard let limit = maxFrames, frames > limit else { return nil }
        return "\(frames) frames exceed the motion UNet's motion_max_seq_length \(limit) (its frame-position table is that long)"
    }
}

/// diffusers' sample_size: one value (square), [height, width], or absent (its default 64).
func resolvedSampleSize(_ s: [Int]?) -> (height: Int, width: Int) {
    guard let s, let first = s.first else { return (64, 64) }
    return (first, s.count > 1 ? s[1] : first)
}

extension UNet2DConditionModel: Denoiser {
    public var inChannels: Int { config.inChannels }
    public var sampleSize: (height: Int, width: Int) { resolvedSampleSize(config.sampleSize) }
    /// The text width every cross-attention layer expects (diffusers allows one per block; a
    /// CLIP encoder can only feed a model where they are all equal, so the first stands for all).
    public var crossAttentionDim: Int { config.crossAttentionDim.resolved(count: config.blockOutChannels.count)[0] }
    public var isVideo: Bool { false }
    public func predict(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        self(sample: sample, timesteps: timesteps, encoderHiddenStates: encoderHiddenStates)
    }
}

extension UNet3DConditionModel: Denoiser {
    public var inChannels: Int { config.inChannels }
    public var sampleSize: (height: Int, width: Int) { resolvedSampleSize(config.sampleSize) }
    public var crossAttentionDim: Int { config.crossAttentionDim }
    public var isVideo: Bool { true }
    public func predict(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        self(sample: sample, timesteps: timesteps, encoderHiddenStates: encoderHiddenStates)
    }
}

extension UNetMotionModel: Denoiser {
    public var maxFrames: Int? { config.motionMaxSeqLength }
    public var inChannels: Int { config.inChannels }
    public var sampleSize: (height: Int, width: Int) { resolvedSampleSize(config.sampleSize) }
    /// The first block's (a CLIP encoder can only feed a model whose blocks all take one width).
    public var crossAttentionDim: Int { config.crossAttentionDim.resolved(count: config.blockCount)[0] }
    public var isVideo: Bool { true }
    public func predict(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        self(sample: sample, timesteps: timesteps, encoderHiddenStates: encoderHiddenStates)
    }
}
