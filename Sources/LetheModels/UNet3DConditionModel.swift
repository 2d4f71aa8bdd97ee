// diffusers' UNet3DConditionModel (models/unets/unet_3d_condition.py): the text-conditioned video
// denoiser of ModelScope text-to-video and ZeroScope. Parameter keys and config.json keys are
// diffusers', so a diffusers `unet/` folder loads as it is and a saved one loads back into
// diffusers with `from_pretrained`.
//
// Samples are [N, C, F, H, W]. Inside, frames are folded into the batch axis ([N·F, C, H, W]):
// the image layers (convolutions, resnets, spatial transformers) run on N·F images in large
// GEMMs, with one time embedding and one text context per clip serving all of its frames, and
// only the temporal layers (transformer_in, temp_convs, temp_attentions) look across frames.

import Foundation
import LetheCore

public final class UNet3DConditionModel: Module {
    public let config: UNet3DConfig
    public let convIn: Conv2d
    public let timeProj: Timesteps
    public let timeEmbedding: TimestepEmbedding
    public let transformerIn: TransformerTemporalModel
    public let downBlocks: [any UNet3DDownBlock]
    public let midBlock: UNetMidBlock3DCrossAttn
    public let upBlocks: [any UNet3DUpBlock]
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    /// diffusers hard-codes these rather than reading them from the config.
    public static let convKernel = 3
    public static let transformerInHeads = 8

    /// A randomly initialised model: diffusers' layers, with PyTorch's default initialisation and
    /// diffusers' zero last convolution in every TemporalConvLayer.
    public init(config: UNet3DConfig, rng: inout RandomGenerator) throws {
        try config.validate()
        self.config = config
        let channels = config.blockOutChannels
        let n = config.blockCount
        let act = try Activation(diffusersName: config.actFn, source: config.source, key: "act_fn")
        let timeEmbedDim = config.timeEmbedDim

        convIn = Conv2d(config.inChannels, channels[0], kernelSize: Self.convKernel, padding: Self.convKernel / 2, rng: &rng)
        timeProj = Timesteps(numChannels: channels[0], flipSinToCos: true, downscaleFreqShift: 0)
        timeEmbedding = TimestepEmbedding(inChannels: channels[0], timeEmbedDim: timeEmbedDim, act: act, rng: &rng)
        transformerIn = TransformerTemporalModel(numAttentionHeads: Self.transformerInHeads, attentionHeadDim: config.attentionHeadDim,
                                                 inChannels: channels[0], numLayers: 1, normNumGroups: config.normNumGroups, rng: &rng)
        let settings = UNet3DBlockSettings(tembChannels: timeEmbedDim, resnetEps: Float(config.normEps),
                                           resnetGroups: config.normNumGroups, activation: act,
                                           attentionHeadWidth: config.attentionHeadDim, crossAttentionDim: config.crossAttentionDim)

        var downs: [any UNet3DDownBlock] = []
        var outputChannel = channels[0]
        for (i, type) in config.downBlockTypes.enumerated() {
            let inputChannel = outputChannel
            outputChannel = channels[i]
            let addDownsample = i < n - 1
            if type == "CrossAttnDownBlock3D" {
                downs.append(CrossAttnDownBlock3D(inChannels: inputChannel, outChannels: outputChannel, numLayers: config.layersPerBlock,
                                                  addDownsample: addDownsample, downsamplePadding: config.downsamplePadding,
                                                  settings: settings, rng: &rng))
            } else {
                downs.append(DownBlock3D(inChannels: inputChannel, outChannels: outputChannel, numLayers: config.layersPerBlock,
                                         addDownsample: addDownsample, downsamplePadding: config.downsamplePadding,
                                         settings: settings, rng: &rng))
            }
        }
        downBlocks = downs

        midBlock = UNetMidBlock3DCrossAttn(inChannels: channels[n - 1], outputScaleFactor: Float(config.midBlockScaleFactor),
                                           settings: settings, rng: &rng)

        var ups: [any UNet3DUpBlock] = []
        let reversedChannels = Array(channels.reversed())
        outputChannel = reversedChannels[0]
        for (i, type) in config.upBlockTypes.enumerated() {
            let prevOutputChannel = outputChannel
            outputChannel = reversedChannels[i]
            let inputChannel = reversedChannels[min(i + 1, n - 1)]
            let addUpsample = i < n - 1
            if type == "CrossAttnUpBlock3D" {
                ups.append(CrossAttnUpBlock3D(inChannels: inputChannel, prevOutputChannels: prevOutputChannel, outChannels: outputChannel,
                                              numLayers: config.layersPerBlock + 1, addUpsample: addUpsample, settings: settings, rng: &rng))
            } else {
                ups.append(UpBlock3D(inChannels: inputChannel, prevOutputChannels: prevOutputChannel, outChannels: outputChannel,
                                     numLayers: config.layersPerBlock + 1, addUpsample: addUpsample, settings: settings, rng: &rng))
            }
        }
        upBlocks = ups

        convNormOut = GroupNorm(groups: config.normNumGroups, channels: channels[0], eps: Float(config.normEps))
        convOut = Conv2d(channels[0], config.outChannels, kernelSize: Self.convKernel, padding: Self.convKernel / 2, rng: &rng)
        super.init()
        child("conv_in", convIn)
        child("time_embedding", timeEmbedding)
        child("transformer_in", transformerIn)
        children("down_blocks", downBlocks.map { $0 as Module })
        child("mid_block", midBlock)
        children("up_blocks", upBlocks.map { $0 as Module })
        child("conv_norm_out", convNormOut)
        child("conv_out", convOut)
    }

    /// Predicts the noise (or whatever the checkpoint was trained to predict) of each frame.
    /// - Parameters:
    ///   - sample: [N, in_channels, F, H, W].
    ///   - timesteps: one per clip, or one for the whole batch.
    ///   - encoderHiddenStates: [N, L, cross_attention_dim], e.g. a text encoder's last hidden state.
    /// - Returns: [N, out_channels, F, H, W].
    public func callAsFunction(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        precondition(sample.rank == 5 && sample.shape[1] == config.inChannels,
                     "UNet3DConditionModel: sample must be [N, \(config.inChannels), F, H, W], got \(sample.shape)")
        let (batch, channels, frames, height, width) = (sample.shape[0], sample.shape[1], sample.shape[2], sample.shape[3], sample.shape[4])
        let folded = sample.permuted([0, 2, 1, 3, 4]).reshaped([batch * frames, channels, height, width])
        let out = callAsFunction(foldedSample: folded, frames: frames, timesteps: timesteps, encoderHiddenStates: encoderHiddenStates)
        return out.reshaped([batch, frames, config.outChannels, height, width]).permuted([0, 2, 1, 3, 4])
    }

    /// The same prediction on frames already folded into the batch axis: `foldedSample`
    /// [N·F, in_channels, H, W] with each clip's F frames adjacent → [N·F, out_channels, H, W].
    /// Saves the two permutes of the [N, C, F, H, W] entry point for callers that keep clips folded.
    public func callAsFunction(foldedSample: Tensor, frames: Int, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        precondition(foldedSample.rank == 4 && foldedSample.shape[1] == config.inChannels && frames > 0
                        && foldedSample.shape[0] % frames == 0,
                     "UNet3DConditionModel: folded sample must be [N·\(frames), \(config.inChannels), H, W], got \(foldedSample.shape)")
        let batch = foldedSample.shape[0] / frames
        precondition(timesteps.count == 1 || timesteps.count == batch,
                     "UNet3DConditionModel: \(timesteps.count) timesteps for a batch of \(batch) clips (expected 1 or \(batch))")
        precondition(encoderHiddenStates.rank == 3 && encoderHiddenStates.shape[0] == batch,
                     "UNet3DConditionModel: encoder_hidden_states must be [\(batch), L, D], got \(encoderHiddenStates.shape)")
        let context = encoderHiddenStates
        // One embedding per clip; the resnets apply row n to all of clip n's frames (diffusers
        // repeats it F times instead).
        let emb = timeEmbedding(timeProj(timesteps.count == batch ? timesteps : Array(repeating: timesteps[0], count: batch)))

        let x = frameFoldedUNetWalk(transformerIn(convIn(foldedSample), frames: frames), down: downBlocks,
                                    mid: { self.midBlock($0, temb: emb, context: context, frames: frames) }, up: upBlocks,
                                    temb: emb, context: context, frames: frames, upsamplerCount: config.upsamplerCount)
        // diffusers' conv_act is SiLU whatever act_fn says.
        return convOut(convNormOut(x).silu())
    }

    // MARK: - Parameter groups (the rest, and the files: DiffusersUNet)

    /// Whether `key` belongs to a layer that looks across frames (transformer_in, temp_convs,
    /// temp_attentions): the layers a video UNet adds to an image UNet.
    public static func isTemporalKey(_ key: String) -> Bool {
        key.hasPrefix("transformer_in.") || key.contains(".temp_convs.") || key.contains(".temp_attentions.")
    }
}
