// diffusers' UNet2DConditionModel (models/unets/unet_2d_condition.py): the text-conditioned image
// denoiser. Parameter keys and config.json keys are diffusers', so a diffusers `unet/` folder
// loads as it is and a saved one loads back into diffusers with `from_pretrained`.

import Foundation
import LetheCore

/// Which parameters an erasure method trains (selected by diffusers key).
public enum UNetParameterGroup: Sendable {
    /// Everything.
    case all
    /// The cross-attention layers, "….attn2.…" (ESD-x): to_q, to_k, to_v, to_out.
    case crossAttention
    /// Only the projections of the text context, "….attn2.to_k/to_v…" (UCE, TIME-style edits).
    case crossAttentionKeyValue
    /// Everything except the cross-attention layers (ESD-u).
    case nonCrossAttention
    /// The layers a video UNet adds to an image UNet, the only ones that look across frames:
    /// UNet3DConditionModel's transformer_in, temp_convs and temp_attentions, UNetMotionModel's
    /// motion_modules. An image UNet has none.
    case temporal

    public func contains(_ key: String) -> Bool {
        switch self {
        case .all: return true
        // The temporal layers' attn2 (UNet3D's transformer_in and temp_attentions, AnimateDiff's
        // motion modules) is a second self-attention across frames, not cross-attention.
        case .crossAttention: return key.contains(".attn2.") && !UNetParameterGroup.temporal.contains(key)
        case .crossAttentionKeyValue:
            return (key.contains(".attn2.to_k.") || key.contains(".attn2.to_v.")) && !UNetParameterGroup.temporal.contains(key)
        case .nonCrossAttention: return !UNetParameterGroup.crossAttention.contains(key)
        case .temporal: return UNet3DConditionModel.isTemporalKey(key) || UNetMotionModel.isTemporalKey(key)
        }
    }
}

public enum UNetLoadError: Error, CustomStringConvertible {
    case missingWeights(directory: String)

    public var description: String {
        switch self {
        case let .missingWeights(directory):
            return "\(directory): no diffusion_pytorch_model.safetensors (Lethe reads safetensors weights only; "
                + "convert a .bin checkpoint with diffusers' save_pretrained(safe_serialization=True))"
        }
    }
}

public final class UNet2DConditionModel: Module {
    public let config: UNet2DConfig
    public let convIn: Conv2d
    public let timeProj: Timesteps
    public let timeEmbedding: TimestepEmbedding
    public let timeEmbedAct: Activation?
    public let downBlocks: [any UNetDownBlock]
    public let midBlock: (any UNetMidBlock)?
    public let upBlocks: [any UNetUpBlock]
    public let convNormOut: GroupNorm
    public let convAct: Activation
    public let convOut: Conv2d

    /// A randomly initialised model (diffusers' layer initialisations aside, the same layers).
    public init(config: UNet2DConfig, rng: inout RandomGenerator) throws {
        try config.validate()
        self.config = config
        let src = config.source
        let n = config.blockCount
        let channels = config.blockOutChannels
        let act = try Activation(diffusersName: config.actFn, source: src, key: "act_fn")
        let timeEmbedDim = config.timeEmbedDim

        convIn = Conv2d(config.inChannels, channels[0], kernelSize: config.convInKernel,
                        padding: (config.convInKernel - 1) / 2, rng: &rng)
        timeProj = Timesteps(numChannels: channels[0], flipSinToCos: config.flipSinToCos,
                             downscaleFreqShift: Float(config.freqShift))
        timeEmbedding = TimestepEmbedding(
            inChannels: channels[0], timeEmbedDim: timeEmbedDim, act: act,
            postAct: try config.timestepPostAct.map { try Activation(diffusersName: $0, source: src, key: "timestep_post_act") },
            rng: &rng)
        timeEmbedAct = try config.timeEmbeddingActFn.map { try Activation(diffusersName: $0, source: src, key: "time_embedding_act_fn") }

        // diffusers' naming issue: attention_head_dim is the number of heads.
        let heads = config.attentionHeadDim.resolved(count: n)
        let crossDims = config.crossAttentionDim.resolved(count: n)
        let layers = config.layersPerBlock.resolved(count: n)
        let transformerLayers = config.transformerLayersPerBlock.resolved(count: n)
        let onlyCross = config.onlyCrossAttention.resolved(count: n)
        let timeNorm = TimeEmbeddingNorm(rawValue: config.resnetTimeScaleShift)!
        func settings(_ i: Int, onlyCrossAttention: Bool) -> UNetBlockSettings {
            UNetBlockSettings(tembChannels: timeEmbedDim, resnetEps: Float(config.normEps), resnetGroups: config.normNumGroups,
                              activation: act, timeEmbeddingNorm: timeNorm, numAttentionHeads: heads[i],
                              crossAttentionDim: crossDims[i], transformerLayers: transformerLayers[i],
                              useLinearProjection: config.useLinearProjection, onlyCrossAttention: onlyCrossAttention)
        }

        var downs: [any UNetDownBlock] = []
        var outputChannel = channels[0]
        for (i, type) in config.downBlockTypes.enumerated() {
            let inputChannel = outputChannel
            outputChannel = channels[i]
            let isFinal = i == n - 1
            let s = settings(i, onlyCrossAttention: onlyCross[i])
            switch UNet2DConfig.strippingResPrefix(type) {
            case "CrossAttnDownBlock2D":
                downs.append(CrossAttnDownBlock2D(inChannels: inputChannel, outChannels: outputChannel, numLayers: layers[i],
                                                  addDownsample: !isFinal, downsamplePadding: config.downsamplePadding,
                                                  settings: s, rng: &rng))
            default:
                downs.append(DownBlock2D(inChannels: inputChannel, outChannels: outputChannel, numLayers: layers[i],
                                         addDownsample: !isFinal, downsamplePadding: config.downsamplePadding,
                                         settings: s, rng: &rng))
            }
        }
        downBlocks = downs

        let midSettings = settings(n - 1, onlyCrossAttention: false)
        switch config.midBlockType {
        case "UNetMidBlock2DCrossAttn"?:
            midBlock = UNetMidBlock2DCrossAttn(inChannels: channels[n - 1], outputScaleFactor: Float(config.midBlockScaleFactor),
                                               settings: midSettings, rng: &rng)
        case "UNetMidBlock2D"?:
            midBlock = UNetMidBlock2D(inChannels: channels[n - 1], outputScaleFactor: Float(config.midBlockScaleFactor),
                                      settings: midSettings, rng: &rng)
        default:
            midBlock = nil
        }

        var ups: [any UNetUpBlock] = []
        let reversedChannels = Array(channels.reversed())
        outputChannel = reversedChannels[0]
        for (i, type) in config.upBlockTypes.enumerated() {
            let isFinal = i == n - 1
            let prevOutputChannel = outputChannel
            outputChannel = reversedChannels[i]
            let inputChannel = reversedChannels[min(i + 1, n - 1)]
            let j = n - 1 - i  // the down block this up block mirrors
            let s = settings(j, onlyCrossAttention: onlyCross[j])
            switch UNet2DConfig.strippingResPrefix(type) {
            case "CrossAttnUpBlock2D":
                ups.append(CrossAttnUpBlock2D(inChannels: inputChannel, prevOutputChannels: prevOutputChannel,
                                              outChannels: outputChannel, numLayers: layers[j] + 1, addUpsample: !isFinal,
                                              settings: s, rng: &rng))
            default:
                ups.append(UpBlock2D(inChannels: inputChannel, prevOutputChannels: prevOutputChannel,
                                     outChannels: outputChannel, numLayers: layers[j] + 1, addUpsample: !isFinal,
                                     settings: s, rng: &rng))
            }
        }
        upBlocks = ups

        convNormOut = GroupNorm(groups: config.normNumGroups, channels: channels[0], eps: Float(config.normEps))
        convAct = act
        convOut = Conv2d(channels[0], config.outChannels, kernelSize: config.convOutKernel,
                         padding: (config.convOutKernel - 1) / 2, rng: &rng)
        super.init()
        child("conv_in", convIn)
        child("time_embedding", timeEmbedding)
        children("down_blocks", downBlocks.map { $0 as Module })
        if let midBlock { child("mid_block", midBlock as Module) }
        children("up_blocks", upBlocks.map { $0 as Module })
        child("conv_norm_out", convNormOut)
        child("conv_out", convOut)
    }

    /// How many times the up path doubles the resolution.
    public var upsamplerCount: Int { max(config.blockCount - 1, 0) }

    /// Predicts the noise (or whatever the checkpoint was trained to predict).
    /// - Parameters:
    ///   - sample: [N, in_channels, H, W].
    ///   - timesteps: one per batch item, or one for the whole batch.
    ///   - encoderHiddenStates: [N, L, cross_attention_dim], e.g. a text encoder's last hidden state.
    /// - Returns: [N, out_channels, H, W].
    public func callAsFunction(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) -> Tensor {
        precondition(sample.rank == 4 && sample.shape[1] == config.inChannels,
                     "UNet2DConditionModel: sample must be [N, \(config.inChannels), H, W], got \(sample.shape)")
        let batch = sample.shape[0]
        precondition(timesteps.count == 1 || timesteps.count == batch,
                     "UNet2DConditionModel: \(timesteps.count) timesteps for a batch of \(batch) (expected 1 or \(batch))")
        precondition(encoderHiddenStates.rank == 3 && encoderHiddenStates.shape[0] == batch,
                     "UNet2DConditionModel: encoder_hidden_states must be [\(batch), L, D], got \(encoderHiddenStates.shape)")

        let centered = config.centerInputSample ? 2 * sample - 1 : sample
        let perItem = timesteps.count == batch ? timesteps : Array(repeating: timesteps[0], count: batch)
        var emb = timeEmbedding(timeProj(perItem))
        if let timeEmbedAct { emb = timeEmbedAct(emb) }
        let context = encoderHiddenStates

        let x = unetWalk(convIn(centered), downCount: downBlocks.count, down: { self.downBlocks[$0]($1, temb: emb, context: context) },
                     mid: { x in self.midBlock.map { $0(x, temb: emb, context: context) } ?? x },
                     upResnetCounts: upBlocks.map(\.resnetCount),
                     up: { self.upBlocks[$0]($1, skips: $2, temb: emb, context: context, upsampleSize: $3) },
                     upsamplerCount: upsamplerCount)
        return convOut(convAct(convNormOut(x)))
    }

    // Files and parameter groups: DiffusersUNet.
}
