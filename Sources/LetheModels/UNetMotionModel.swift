// diffusers' UNetMotionModel (models/unets/unet_motion_model.py): AnimateDiff's video denoiser, an
// image UNet (UNet2DConditionModel's layers under the same keys) with a motion module after every
// resnet / spatial transformer. The motion modules are the only layers that look across frames,
// and they know each frame's position (sinusoidal embeddings), unlike UNet3DConditionModel's
// temporal attention. Parameter keys and config.json keys are diffusers', so a diffusers `unet/`
// folder (as AnimateDiffPipeline saves it) loads as it is and a saved one loads back into
// diffusers with `from_pretrained`.
//
// Samples are [N, C, F, H, W]. Inside, frames are folded into the batch axis ([N·F, C, H, W]).
// diffusers' own forward takes encoder_hidden_states already repeated per frame ([N·F, L, D],
// which AnimateDiffPipeline does with repeat_interleave); here one context per clip ([N, L, D])
// serves all of its frames without the copy, and per-frame contexts [N·F, L, D] work as well.

import Foundation
import LetheCore

public final class UNetMotionModel: Module {
    public let config: UNetMotionConfig
    public let convIn: Conv2d
    public let timeProj: Timesteps
    public let timeEmbedding: TimestepEmbedding
    public let downBlocks: [any UNetMotionDownBlock]
    public let midBlock: any UNetMotionMidBlock
    public let upBlocks: [any UNetMotionUpBlock]
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    /// diffusers hard-codes the 3×3 conv_in / conv_out.
    public static let convKernel = 3

    /// A randomly initialised model with PyTorch's default initialisation (diffusers leaves the
    /// motion modules' proj_out random too; `init(addingMotionModulesTo:)` zeroes it).
    public init(config: UNetMotionConfig, rng: inout RandomGenerator) throws {
        try config.validate()
        self.config = config
        let channels = config.blockOutChannels
        let n = config.blockCount
        let act = try Activation(diffusersName: config.actFn, source: config.source, key: "act_fn")
        let timeEmbedDim = config.timeEmbedDim

        convIn = Conv2d(config.inChannels, channels[0], kernelSize: Self.convKernel, padding: Self.convKernel / 2, rng: &rng)
        timeProj = Timesteps(numChannels: channels[0], flipSinToCos: true, downscaleFreqShift: 0)
        timeEmbedding = TimestepEmbedding(inChannels: channels[0], timeEmbedDim: timeEmbedDim, act: act, rng: &rng)

        let heads = config.numAttentionHeads.resolved(count: n)
        let crossDims = config.crossAttentionDim.resolved(count: n)
        let layers = config.layersPerBlock.resolved(count: n)
        let transformerLayers = config.transformerLayersPerBlock.resolved(count: n)
        let motionHeads = config.motionNumAttentionHeads.resolved(count: n)
        let motionLayers = config.temporalTransformerLayersPerBlock.resolved(count: n)
        func settings(_ i: Int, transformerLayers t: Int? = nil) -> UNetBlockSettings {
            UNetBlockSettings(tembChannels: timeEmbedDim, resnetEps: Float(config.normEps), resnetGroups: config.normNumGroups,
                              activation: act, timeEmbeddingNorm: .default, numAttentionHeads: heads[i],
                              crossAttentionDim: crossDims[i], transformerLayers: t ?? transformerLayers[i],
                              useLinearProjection: config.useLinearProjection, onlyCrossAttention: false)
        }
        func motion(_ i: Int, transformerLayers t: Int? = nil) -> MotionModuleSettings {
            MotionModuleSettings(numAttentionHeads: motionHeads[i], transformerLayers: t ?? motionLayers[i],
                                 normNumGroups: config.normNumGroups, maxSequenceLength: config.motionMaxSeqLength)
        }

        var downs: [any UNetMotionDownBlock] = []
        var outputChannel = channels[0]
        for (i, type) in config.downBlockTypes.enumerated() {
            let inputChannel = outputChannel
            outputChannel = channels[i]
            let addDownsample = i < n - 1
            if type == "CrossAttnDownBlockMotion" {
                downs.append(CrossAttnDownBlockMotion(inChannels: inputChannel, outChannels: outputChannel, numLayers: layers[i],
                                                      addDownsample: addDownsample, downsamplePadding: config.downsamplePadding,
                                                      settings: settings(i), motion: motion(i), rng: &rng))
            } else {
                downs.append(DownBlockMotion(inChannels: inputChannel, outChannels: outputChannel, numLayers: layers[i],
                                             addDownsample: addDownsample, downsamplePadding: config.downsamplePadding,
                                             settings: settings(i), motion: motion(i), rng: &rng))
            }
        }
        downBlocks = downs

        let midSettings = settings(n - 1, transformerLayers: config.resolvedTransformerLayersPerMidBlock)
        if config.useMotionMidBlock {
            midBlock = UNetMidBlockCrossAttnMotion(inChannels: channels[n - 1], numLayers: config.midBlockLayers,
                                                   outputScaleFactor: Float(config.midBlockScaleFactor), settings: midSettings,
                                                   motion: motion(n - 1, transformerLayers: config.temporalTransformerLayersPerMidBlock),
                                                   rng: &rng)
        } else {
            midBlock = UNetMidBlock2DCrossAttn(inChannels: channels[n - 1], numLayers: config.midBlockLayers,
                                               outputScaleFactor: Float(config.midBlockScaleFactor), settings: midSettings, rng: &rng)
        }

        var ups: [any UNetMotionUpBlock] = []
        let reversedChannels = Array(channels.reversed())
        outputChannel = reversedChannels[0]
        for (i, type) in config.upBlockTypes.enumerated() {
            let prevOutputChannel = outputChannel
            outputChannel = reversedChannels[i]
            let inputChannel = reversedChannels[min(i + 1, n - 1)]
            let addUpsample = i < n - 1
            let j = n - 1 - i  // the down block this up block mirrors
            if type == "CrossAttnUpBlockMotion" {
                ups.append(CrossAttnUpBlockMotion(inChannels: inputChannel, prevOutputChannels: prevOutputChannel,
                                                  outChannels: outputChannel, numLayers: layers[j] + 1, addUpsample: addUpsample,
                                                  settings: settings(j), motion: motion(j), rng: &rng))
            } else {
                ups.append(UpBlockMotion(inChannels: inputChannel, prevOutputChannels: prevOutputChannel,
                                         outChannels: outputChannel, numLayers: layers[j] + 1, addUpsample: addUpsample,
                                         settings: settings(j), motion: motion(j), rng: &rng))
            }
        }
        upBlocks = ups

        convNormOut = GroupNorm(groups: config.normNumGroups, channels: channels[0], eps: Float(config.normEps))
        convOut = Conv2d(channels[0], config.outChannels, kernelSize: Self.convKernel, padding: Self.convKernel / 2, rng: &rng)
        super.init()
        child("conv_in", convIn)
        child("time_embedding", timeEmbedding)
        children("down_blocks", downBlocks.map { $0 as Module })
        child("mid_block", midBlock as Module)
        children("up_blocks", upBlocks.map { $0 as Module })
        child("conv_norm_out", convNormOut)
        child("conv_out", convOut)
    }

    /// Every motion module, down path first, then the mid block's, then the up path's.
    public var motionModules: [AnimateDiffTransformer3D] {
        downBlocks.flatMap(\.motionModules) + midBlock.motionModules + upBlocks.flatMap(\.motionModules)
    }

    /// Predicts the noise (or whatever the checkpoint was trained to predict) of each frame.
    /// - Parameters:
    ///   - sample: [N, in_channels, F, H, W] with F ≤ motion_max_seq_length.
    ///   - timesteps: one per clip, or one for the whole batch.
    ///   - encoderHiddenStates: [N, L, cross_attention_dim] (one context per clip, e.g. a text
    ///     encoder's last hidden state) or [N·F, L, cross_attention_dim] (one per frame, diffusers' layout).
    /// - Returns: [N, out_channels, F, H, W].
    public func callAsFunction(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        precondition(sample.rank == 5 && sample.shape[1] == config.inChannels,
                     "UNetMotionModel: sample must be [N, \(config.inChannels), F, H, W], got \(sample.shape)")
        let (batch, channels, frames, height, width) = (sample.shape[0], sample.shape[1], sample.shape[2], sample.shape[3], sample.shape[4])
        let folded = sample.permuted([0, 2, 1, 3, 4]).reshaped([batch * frames, channels, height, width])
        let out = callAsFunction(foldedSample: folded, frames: frames, timesteps: timesteps, encoderHiddenStates: encoderHiddenStates)
        return out.reshaped([batch, frames, config.outChannels, height, width]).permuted([0, 2, 1, 3, 4])
    }

    /// The same prediction on frames already folded into the batch axis: `foldedSample`
    /// [N·F, in_channels, H, W] with each clip's F frames adjacent → [N·F, out_channels, H, W].
    public func callAsFunction(foldedSample: Tensor, frames: Int, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        precondition(foldedSample.rank == 4 && foldedSample.shape[1] == config.inChannels && frames > 0
                        && foldedSample.shape[0] % frames == 0,
                     "UNetMotionModel: folded sample must be [N·\(frames), \(config.inChannels), H, W], got \(foldedSample.shape)")
        precondition(frames <= config.motionMaxSeqLength,
                     "UNetMotionModel: \(frames) frames exceed motion_max_seq_length \(config.motionMaxSeqLength)")
        let batch = foldedSample.shape[0] / frames
        precondition(timesteps.count == 1 || timesteps.count == batch,
                     "UNetMotionModel: \(timesteps.count) timesteps for a batch of \(batch) clips (expected 1 or \(batch))")
        precondition(encoderHiddenStates.rank == 3
                        && (encoderHiddenStates.shape[0] == batch || encoderHiddenStates.shape[0] == batch * frames),
                     "UNetMotionModel: encoder_hidden_states must be [\(batch), L, D] or [\(batch * frames), L, D], got \(encoderHiddenStates.shape)")
        let context = encoderHiddenStates
        // One embedding per clip; the resnets apply row n to all of clip n's frames (diffusers
        // repeats it F times instead).
        let emb = timeEmbedding(timeProj(timesteps.count == batch ? timesteps : Array(repeating: timesteps[0], count: batch)))

        let x = frameFoldedUNetWalk(convIn(foldedSample), down: downBlocks,
                                    mid: { self.midBlock($0, temb: emb, context: context, frames: frames) }, up: upBlocks,
                                    temb: emb, context: context, frames: frames, upsamplerCount: config.upsamplerCount)
        // diffusers' conv_act is SiLU whatever act_fn says.
        return convOut(convNormOut(x).silu())
    }

    // MARK: - Parameter groups (the rest, and the files: DiffusersUNet)

    /// Whether `key` belongs to a motion module: the layers AnimateDiff adds to an image UNet,
    /// and the only ones that look across frames.
    public static func isTemporalKey(_ key: String) -> Bool { key.contains(".motion_modules.") }
}
