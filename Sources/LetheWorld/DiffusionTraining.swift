// Pretraining the world's own diffusion models (configs/train/image*.yaml, video*.yaml).
//
// The image model's UNet learns to draw in pixel space on a text encoder pretrained from captions
// alone (`text_encoder_from`, frozen with `train_parameters: unet`), with the ε-prediction loss
// (or v-prediction's, `prediction_type`);
// a share of captions is dropped to "" so classifier-free guidance works. The video model starts
// from an image model: its UNet3D is inflated from the image UNet, or (`video_unet: motion`)
// AnimateDiff's motion modules are added to it (temporal layers start as the identity, or come
// from another video model with `temporal_from`), and its text encoder is the
// image model's, frozen, so the two models share a bit-identical encoder — the premise of
// `lethe transfer`. Later stages continue a model (`init_from`).
// Batch i depends only on the seed and i, so a resumed run sees the same data and noise.

import Foundation
import LetheCore
import LetheModels

/// configs/train/image.yaml and configs/train/video.yaml.
public struct DiffusionTrainingRecipe: Recipe, Equatable {
    public static let keys = [
        "kind", "steps", "batch_size", "lr", "final_lr", "warmup_steps", "weight_decay", "ema_decay", "max_grad_norm",
        "caption_dropout", "seed", "checkpoint_every", "tokenizer", "init_from", "text_encoder_from", "train_parameters",
        "snr_gamma", "temporal_lr_scale", "timestep_range", "temporal_from", "video_unet", "motion_num_attention_heads",
        "mixed_noise_alpha", "noisy_end_weight_cap", "motions", "two_object_probability", "pairs_in_reading_order", "prediction_type",
        "timestep_spacing", "text_hidden_size", "text_layers", "text_heads", "text_intermediate_size",
        "block_out_channels", "attention_head_dim", "attention_heads_per_block", "norm_num_groups", "beta_schedule",
        "transformer_layers_per_block", "added_layers_lr_scale", "grounding_loss_weight", "binding_loss_weight", "binding_margin", "binding_timestep_range",
        "motion_loss_weight", "motion_margin", "motion_timestep_range",
    ]

    /// "image" (text encoder + UNet2DConditionModel from scratch) or "video" (a video UNet made
    /// from the image model in `init_from`; its text encoder frozen).
    public var kind: String
    public var steps: Int
    /// Images per step (image) or clips per step (video).
    public var batchSize: Int
    /// AdamW peak learning rate after `warmup_steps`, then a cosine down to `final_lr`.
    public var lr: Float
    public var finalLr: Float
    public var warmupSteps: Int
    public var weightDecay: Float
    /// The moving average of the weights is what gets saved.
    public var emaDecay: Float
    public var maxGradNorm: Float
    /// Share of captions replaced by "" (the unconditional prompt of classifier-free guidance).
    public var captionDropout: Float
    public var seed: UInt64
    public var checkpointEvery: Int
    /// Tokenizer folder (image models; video models take the image model's).
    public var tokenizer: String?
    /// The image model a video model is inflated from, or a video model it continues; for an image
    /// recipe, an image model whose weights start the run (a second stage, e.g. after changing
    /// the attention head layout).
    public var initFrom: String?
    /// A folder with `text_encoder/` and `tokenizer/` (from `lethe train text`) that a fresh image
    /// model starts from; with `train_parameters: unet` it stays frozen.
    public var textEncoderFrom: String?
    /// Image: "all" (default) or "unet" (the text encoder stays frozen, e.g. so a video model
    /// trained beside it keeps the same encoder). Video: "all" or "temporal" (only the temporal
    /// layers); a video model's text encoder is always frozen.
    public var trainParameters: String?
    /// Min-SNR-γ loss weighting (Hang et al. 2023; diffusers' `snr_gamma`): each sample's
    /// ε-loss is weighted by min(SNR(t), γ)/SNR(t), so nearly clean timesteps, which teach little
    /// about shapes, stop dominating the gradient. nil: the plain mean.
    public var snrGamma: Float?
    /// Scales each sample's ε-loss by max(1, 1/SNR(t)) up to this cap
    /// (`NoiseSchedule.noisyEndWeight`): at the noisy end the error then counts in clean-sample
    /// terms, as with v-prediction, instead of shrinking with the SNR; there a clip's motion must
    /// be invented. Combines with `snr_gamma`, which acts at the other end. nil: off.
    public var noisyEndWeightCap: Float?
    /// Video: the temporal layers' learning rate as a multiple of `lr`. They start as the
    /// identity and have everything to learn, while the spatial layers come trained.
    public var temporalLrScale: Float?
    /// Training timesteps drawn from [lo, hi) instead of the whole schedule. A video stage with
    /// frozen spatial layers uses the noisy end, where a clip's layout and motion are decided
    /// and frames must agree; nearly clean frames need no temporal help.
    public var timestepRange: [Int]?
    /// Video: a video model whose temporal layers replace the fresh ones of the inflated image
    /// model, so a better image model can be brought into a trained video model (spatial weights
    /// from `init_from`, temporal ones from here).
    public var temporalFrom: String?
    /// Video: which video UNet an image model becomes. "unet3d" (default): diffusers'
    /// UNet3DConditionModel (ModelScope), inflated; its temporal attention has no frame
    /// positions. "motion": diffusers' UNetMotionModel (AnimateDiff), the image UNet's layers
    /// plus motion modules whose attention sees sinusoidal frame positions (with
    /// `train_parameters: temporal` only the motion modules train).
    public var videoUnet: String?
    /// Video, `video_unet: motion`: heads of each motion module (diffusers' default 8).
    public var motionNumAttentionHeads: Int?
    /// Video: train on PYoCo's mixed noise prior (`MixedFrameNoise`), frames sharing a part
    /// α/√(1+α²) of their noise, and record α in the saved scheduler config so sampling draws
    /// from the same prior. nil: independent frames (and a continued model's α is dropped).
    public var mixedNoiseAlpha: Float?
    /// Video: training clips draw their motion from these names alone (e.g. the four directions,
    /// for a stage that stresses the order of frames); nil: every motion of the world.
    public var motions: [String]?
    /// Share of training images (or clips) with two objects; nil: the world's (0.3). Small
    /// models fail two-object prompts far more often than one-object ones, so a stage can show
    /// them more (it did not help; README).
    public var twoObjectProbability: Float?
    /// Draws every pair with its first-named object in the top or left half
    /// (`WorldConfig.pairsInReadingOrder`); nil: the world's (random halves).
    public var pairsInReadingOrder: Bool?
    /// What the UNet learns to predict: "epsilon" or "v_prediction" (v = √ᾱ ε − √(1−ᾱ) x₀,
    /// Salimans & Ho 2022). At the noisy end an ε-model's clean-sample estimate divides its
    /// error by √ᾱ, so the caption's layout (and a clip's motion) cannot show in the first
    /// sampling steps; a v-model's estimate there is its output. Saved as the scheduler's
    /// `prediction_type`. nil: the start model's (ε for a fresh model).
    public var predictionType: String?
    /// How sampling spreads its steps (`timestep_spacing` of the saved scheduler config):
    /// "trailing" starts at t = 999, where the squared-cosine schedule's SNR is ~0, so the first
    /// step meets the pure noise it is given (Lin et al. 2024). nil: the start model's.
    public var timestepSpacing: String?
    public var textHiddenSize: Int?
    public var textLayers: Int?
    public var textHeads: Int?
    public var textIntermediateSize: Int?
    public var blockOutChannels: [Int]?
    public var attentionHeadDim: Int?
    /// diffusers' attention_head_dim as a list (heads per block); overrides `attention_head_dim`.
    /// A video UNet needs one head width everywhere, i.e. heads proportional to channels.
    public var attentionHeadsPerBlock: [Int]?
    public var normNumGroups: Int?
    /// BasicTransformerBlocks in each block's attentions (diffusers' transformer_layers_per_block;
    /// the mid block takes the last value). With `init_from` the start UNet is deepened: its
    /// weights keep their keys and the added blocks start as the identity
    /// (`UNet2DConditionModel(deepening:)`). Image recipes only: UNet3DConditionModel has one.
    public var transformerLayersPerBlock: [Int]?
    /// The learning rate of the blocks deepening adds, as a multiple of `lr`: they start at zero
    /// output with everything to learn, while the rest comes trained (as `temporal_lr_scale`
    /// for a video model's temporal layers).
    public var addedLayersLrScale: Float?
    /// "linear", "scaled_linear" or "squaredcos_cap_v2".
    public var betaSchedule: String?
    /// Adds TokenCompose's token loss (Wang et al. 2024; `TokenGrounding`) times this weight to
    /// the denoising loss: the cross-attention of each object's words should fall inside that
    /// object. Tried against the models' two-object misses, on the shipped encoder and on the
    /// phrase-trained one: the attention learns where objects are, the objects drawn do not get
    /// better (README). nil: off.
    public var groundingLossWeight: Float?
    /// Adds a hinge asking the UNet to keep each color to its object, times this weight: for
    /// every two-object sample whose caption names two different colors, the loss under the
    /// same caption with the colors exchanged between the objects must exceed the loss under
    /// the right caption by `binding_margin` of it (`relativeMarginHinge`), at timesteps drawn
    /// from `binding_timestep_range`. The shipped models read a pair's colors as a bag of words
    /// (scripts/diagnostics/binding_swap.py); the plain loss gives almost no gradient toward
    /// binding. nil: off.
    public var bindingLossWeight: Float?
    /// The relative margin of the binding hinge; nil: 0.05.
    public var bindingMargin: Float?
    /// Timesteps [lo, hi) of the binding hinge's samples; nil: [300, 900), where the noisy image
    /// shows where each object and color is but not yet its shape, so binding can pay off.
    public var bindingTimestepRange: [Int]?
    /// Adds a hinge asking a video UNet to read the caption's direction, times this weight: for
    /// every clip whose caption names left, right, up or down, the loss under the same caption
    /// with the direction reversed (`PromptEntry.motionReversedPrompt`) must exceed the loss under
    /// the right one by `motion_margin` of it, at timesteps from `motion_timestep_range`. The
    /// caption-swap probe (scripts/diagnostics/caption_swap.py) finds the two losses equal to
    /// within 0.4% in the video models it was run on (video stage 2 and its v retrain). nil: off.
    public var motionLossWeight: Float?
    /// The relative margin of the motion hinge; nil: 0.05.
    public var motionMargin: Float?
    /// Timesteps [lo, hi) of the motion hinge's samples; nil: [700, 1000), where the noisy frames
    /// do not yet show where the object went, so only the caption can say.
    public var motionTimestepRange: [Int]?

    enum CodingKeys: String, CodingKey {
        case kind, steps, batchSize = "batch_size", lr, finalLr = "final_lr", warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay", emaDecay = "ema_decay", maxGradNorm = "max_grad_norm"
        case captionDropout = "caption_dropout", seed, checkpointEvery = "checkpoint_every", tokenizer
        case initFrom = "init_from", textEncoderFrom = "text_encoder_from", trainParameters = "train_parameters"
        case snrGamma = "snr_gamma", noisyEndWeightCap = "noisy_end_weight_cap", temporalLrScale = "temporal_lr_scale"
        case timestepRange = "timestep_range", temporalFrom = "temporal_from", textHiddenSize = "text_hidden_size"
        case videoUnet = "video_unet", motionNumAttentionHeads = "motion_num_attention_heads"
        case mixedNoiseAlpha = "mixed_noise_alpha", motions, twoObjectProbability = "two_object_probability"
        case pairsInReadingOrder = "pairs_in_reading_order"
        case predictionType = "prediction_type", timestepSpacing = "timestep_spacing"
        case textLayers = "text_layers", textHeads = "text_heads", textIntermediateSize = "text_intermediate_size"
        case blockOutChannels = "block_out_channels", attentionHeadDim = "attention_head_dim"
        case attentionHeadsPerBlock = "attention_heads_per_block"
        case normNumGroups = "norm_num_groups", betaSchedule = "beta_schedule"
        case transformerLayersPerBlock = "transformer_layers_per_block", addedLayersLrScale = "added_layers_lr_scale"
        case groundingLossWeight = "grounding_loss_weight", bindingLossWeight = "binding_loss_weight"
        case bindingMargin = "binding_margin", bindingTimestepRange = "binding_timestep_range"
        case motionLossWeight = "motion_loss_weight", motionMargin = "motion_margin", motionTimestepRange = "motion_timestep_range"
    }

    public var isVideo: Bool { kind == "video" }

    public static func load(from url: URL) throws -> DiffusionTrainingRecipe {
        let recipe = try RecipeLoader.load(DiffusionTrainingRecipe.self, from: url)
        try recipe.validate(file: url.path)
        return recipe
    }

    public func validate(file: String) throws {
        func bad(_ key: String, _ why: String) -> RecipeError { RecipeError(file: file, "key '\(key)': \(why)") }
        guard kind == "image" || kind == "video" else { throw bad("kind", "expected image or video, found \(kind)") }
        guard steps > 0 else { throw bad("steps", "expected a positive number, found \(steps)") }
        guard batchSize > 0 else { throw bad("batch_size", "expected a positive number, found \(batchSize)") }
        guard lr > 0, finalLr >= 0 else { throw bad("lr", "expected lr > 0 and final_lr >= 0") }
        guard (0..<1).contains(emaDecay) else { throw bad("ema_decay", "expected a number in [0, 1), found \(emaDecay)") }
        guard (0...1).contains(captionDropout) else { throw bad("caption_dropout", "expected a number in [0, 1]") }
        guard checkpointEvery > 0 else { throw bad("checkpoint_every", "expected a positive number") }
        if isVideo {
            guard initFrom != nil else { throw bad("init_from", "a video recipe needs the image model it starts from") }
            guard ["all", "temporal", nil].contains(trainParameters) else {
                throw bad("train_parameters", "expected all or temporal, found \(trainParameters!)")
            }
        } else {
            guard ["all", "unet", nil].contains(trainParameters) else {
                throw bad("train_parameters", "expected all or unet, found \(trainParameters!)")
            }
            guard trainParameters != "unet" || initFrom != nil || textEncoderFrom != nil else {
                throw bad("train_parameters", "unet alone trains only from a model given in init_from or a text encoder in text_encoder_from")
            }
            guard tokenizer != nil || initFrom != nil || textEncoderFrom != nil else {
                throw bad("tokenizer", "an image recipe needs a tokenizer folder (or init_from, a model to start from, or text_encoder_from)")
            }
            guard initFrom == nil || textEncoderFrom == nil else {
                throw bad("text_encoder_from", "init_from already brings a text encoder; give one of the two")
            }
        }
        if let k = temporalLrScale {
            guard isVideo else { throw bad("temporal_lr_scale", "only a video recipe has temporal layers") }
            guard k > 0 else { throw bad("temporal_lr_scale", "expected a positive number, found \(k)") }
        }
        if temporalFrom != nil && !isVideo { throw bad("temporal_from", "only a video recipe has temporal layers") }
        if let v = videoUnet {
            guard isVideo else { throw bad("video_unet", "only a video recipe makes a video UNet") }
            guard ["unet3d", "motion"].contains(v) else { throw bad("video_unet", "expected unet3d or motion, found \(v)") }
        }
        if let h = motionNumAttentionHeads {
            guard videoUnet == "motion" else { throw bad("motion_num_attention_heads", "only a motion video UNet (video_unet: motion) has motion modules") }
            guard h > 0 else { throw bad("motion_num_attention_heads", "expected a positive number, found \(h)") }
        }
        if let a = mixedNoiseAlpha {
            guard isVideo else { throw bad("mixed_noise_alpha", "only a video recipe has frames to share noise") }
            guard MixedFrameNoise.accepts(alpha: Double(a)) else { throw bad("mixed_noise_alpha", "expected a number of 0 or more, found \(a)") }
        }
        if let m = motions {
            guard isVideo else { throw bad("motions", "only a video recipe has motions") }
            guard !m.isEmpty else { throw bad("motions", "expected a list of motions, found an empty one") }
            if let unknown = m.first(where: { MotionKind(rawValue: $0) == nil }) {
                throw bad("motions", "expected motions among \(MotionKind.allCases.map(\.rawValue).joined(separator: ", ")), found \(unknown)")
            }
        }
        if let p = twoObjectProbability, !(0...1).contains(p) {
            throw bad("two_object_probability", "expected a probability in [0, 1], found \(p)")
        }
        if let g = groundingLossWeight, !(g > 0 && g.isFinite) {
            throw bad("grounding_loss_weight", "expected a positive number, found \(g)")
        }
        if let layers = transformerLayersPerBlock {
            guard !isVideo else { throw bad("transformer_layers_per_block", "only an image recipe sets it (UNet3DConditionModel has one transformer layer per block)") }
            guard !layers.isEmpty, layers.allSatisfy({ $0 > 0 }) else {
                throw bad("transformer_layers_per_block", "expected one positive number per block, found \(layers)")
            }
        }
        if let k = addedLayersLrScale {
            guard transformerLayersPerBlock != nil && initFrom != nil && !isVideo else {
                throw bad("added_layers_lr_scale", "scales the blocks an image recipe adds to init_from's UNet; give transformer_layers_per_block and init_from too")
            }
            guard k > 0 && k.isFinite else { throw bad("added_layers_lr_scale", "expected a positive number, found \(k)") }
        }
        /// A hinge's three keys, `NAME_loss_weight`, `NAME_margin` and `NAME_timestep_range`.
        func checkHinge(_ name: String, weight: Float?, margin: Float?, range: [Int]?) throws {
            if let w = weight, !(w > 0 && w.isFinite) { throw bad("\(name)_loss_weight", "expected a positive number, found \(w)") }
            if let m = margin {
                guard weight != nil else { throw bad("\(name)_margin", "sets the \(name) hinge's margin; give \(name)_loss_weight too") }
                guard m > 0 && m.isFinite else { throw bad("\(name)_margin", "expected a positive number, found \(m)") }
            }
            if let r = range {
                guard weight != nil else { throw bad("\(name)_timestep_range", "sets the \(name) hinge's timesteps; give \(name)_loss_weight too") }
                guard r.count == 2, r[0] >= 0, r[0] < r[1] else {
                    throw bad("\(name)_timestep_range", "expected [lo, hi] with 0 <= lo < hi, found \(r)")
                }
            }
        }
        try checkHinge("binding", weight: bindingLossWeight, margin: bindingMargin, range: bindingTimestepRange)
        try checkHinge("motion", weight: motionLossWeight, margin: motionMargin, range: motionTimestepRange)
        if motionLossWeight != nil && !isVideo {
            throw bad("motion_loss_weight", "only a video recipe sets it (an image caption names no motion)")
        }
        if let r = timestepRange {
            guard r.count == 2, r[0] >= 0, r[0] < r[1] else {
                throw bad("timestep_range", "expected [lo, hi] with 0 <= lo < hi, found \(r)")
            }
        }
        if let g = snrGamma, !(g > 0) { throw bad("snr_gamma", "expected a positive number, found \(g)") }
        if let c = noisyEndWeightCap, !(c >= 1 && c.isFinite) {
            throw bad("noisy_end_weight_cap", "expected a number of 1 or more, found \(c)")
        }
        if let p = predictionType {
            guard p == PredictionType.epsilon.rawValue || p == PredictionType.vPrediction.rawValue else {
                throw bad("prediction_type", "expected epsilon or v_prediction, found \(p)")
            }
            if p == PredictionType.vPrediction.rawValue && noisyEndWeightCap != nil {
                throw bad("noisy_end_weight_cap", "a v_prediction loss already counts the clean sample's error at the noisy end; leave the key out")
            }
        }
        if let s = timestepSpacing, TimestepSpacing(rawValue: s) == nil {
            throw bad("timestep_spacing", "expected one of \(TimestepSpacing.allCases.map(\.rawValue).joined(separator: ", ")), found \(s)")
        }
        if let s = betaSchedule, BetaSchedule(rawValue: s) == nil {
            throw bad("beta_schedule", "expected one of \(BetaSchedule.allCases.map(\.rawValue).joined(separator: ", ")), found \(s)")
        }
    }

    /// Linear warm-up, then a cosine from `lr` to `finalLr`.
    public func learningRate(step i: Int) -> Float {
        WarmupCosineSchedule(peak: lr, final: finalLr, warmupSteps: warmupSteps, totalSteps: steps)(i)
    }

    /// The start model's scheduler config with the recipe's prediction type and sampling spacing.
    func sampling(_ start: SchedulerConfig) -> SchedulerConfig {
        var config = start
        if let p = predictionType { config.predictionType = PredictionType(rawValue: p)! }  // validate() checked it
        if let s = timestepSpacing { config.timestepSpacing = TimestepSpacing(rawValue: s)! }
        return config
    }

    /// Whether any timestep weighting is asked for; without it the loss is the plain mean.
    public var weightsLoss: Bool { snrGamma != nil || noisyEndWeightCap != nil }

    /// The weight of one sample's loss at ᾱ_t for a model predicting `prediction`: min-SNR-γ
    /// times the noisy-end factor, each when asked for (1 when neither is).
    public func lossWeight(alphaCumprod abar: Float, prediction: PredictionType = .epsilon) -> Float {
        var w: Float = 1
        if let gamma = snrGamma { w *= NoiseSchedule.minSNRWeight(alphaCumprod: abar, gamma: gamma, prediction: prediction) }
        if let cap = noisyEndWeightCap { w *= NoiseSchedule.noisyEndWeight(alphaCumprod: abar, cap: cap) }
        return w
    }

    /// Identifies the run in its checkpoint: resuming with other settings is refused. The
    /// default video UNet is written out or left out alike, so adding `video_unet: unet3d` to a
    /// recipe does not strand its checkpoint.
    var fingerprint: String {
        var same = self
        if same.videoUnet == "unet3d" { same.videoUnet = nil }
        return same.sortedJSON
    }
}

/// One pretraining run: builds (or loads) the model, trains it, saves the EMA weights.
public final class DiffusionTraining {
    public let recipe: DiffusionTrainingRecipe
    public let model: DiffusionModel
    public let dataset: WorldDataset
    public var log: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }
    private let schedule: DDPMScheduler
    /// The token grounding loss of the last step (unweighted), when the recipe asks for it.
    public private(set) var lastGroundingLoss: Float?
    /// The binding hinge's mean relative gap of the last step, (swapped − right) / right: how much
    /// worse the UNet does when the colors change objects. nil when the step had no such pair.
    public private(set) var lastBindingGap: Float?
    /// The motion hinge's mean relative gap of the last step, (reversed − right) / right: how much
    /// worse the UNet does when the caption's direction is reversed. nil when the step had no such clip.
    public private(set) var lastMotionGap: Float?
    /// The UNet keys of the transformer blocks `transformer_layers_per_block` added to the start model.
    public private(set) var addedUNetKeys: Set<String> = []

    /// `baseDirectory` resolves the recipe's relative paths (the repository root for committed recipes).
    public init(recipe: DiffusionTrainingRecipe, baseDirectory: URL) throws {
        self.recipe = recipe
        var rng = RandomGenerator(seed: recipe.seed)
        func resolve(_ path: String) -> URL {
            path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
        }
        /// The image model a run starts from, with its UNet2D.
        func imageModel(_ path: String) throws -> (DiffusionModel, UNet2DConditionModel) {
            let image = try DiffusionModel.load(directory: resolve(path))
            guard let unet = image.unet as? UNet2DConditionModel else {
                throw ModelFolderError(path, "init_from must be an image model (UNet2DConditionModel)")
            }
            return (image, unet)
        }
        if recipe.isVideo {
            let start = try DiffusionModel.load(directory: resolve(recipe.initFrom!))
            let unet: any Denoiser
            switch start.unet {
            case let video as UNet3DConditionModel where recipe.videoUnet != "motion": unet = video
            case let video as UNetMotionModel where recipe.videoUnet == "motion":
                if let h = recipe.motionNumAttentionHeads, video.config.motionNumAttentionHeads != .shared(h) {
                    throw ModelFolderError(recipe.initFrom!, "motion_num_attention_heads: the recipe asks for \(h), the model continued has \(video.config.motionNumAttentionHeads); leave the key out to continue it")
                }
                unet = video
            case let image as UNet2DConditionModel:
                if recipe.videoUnet == "motion" {
                    unet = try UNetMotionModel(addingMotionModulesTo: image, motionNumAttentionHeads: .shared(recipe.motionNumAttentionHeads ?? 8),
                                               motionMaxSeqLength: 32, rng: &rng)
                } else {
                    unet = try UNet3DConditionModel(inflating: image, rng: &rng)
                }
            default:
                throw ModelFolderError(recipe.initFrom!, "init_from must be an image model or a video model of the recipe's video_unet (\(recipe.videoUnet ?? "unet3d"))")
            }
            if let from = recipe.temporalFrom {
                guard start.unet is UNet2DConditionModel else {
                    throw ModelFolderError(recipe.initFrom!, "with temporal_from, init_from must be an image model (its spatial weights are kept)")
                }
                let video = try DiffusionModel.load(directory: resolve(from)).unet
                guard type(of: video) == type(of: unet) else {
                    throw ModelFolderError(from, "temporal_from must be a video model with the same video UNet (\(type(of: unet)))")
                }
                // Head counts do not change tensor shapes, so a mismatch would load silently.
                if let a = video as? UNetMotionModel, let b = unet as? UNetMotionModel {
                    let (x, y) = (a.config, b.config)
                    guard x.motionNumAttentionHeads == y.motionNumAttentionHeads, x.useMotionMidBlock == y.useMotionMidBlock,
                          x.motionMaxSeqLength == y.motionMaxSeqLength,
                          x.temporalTransformerLayersPerBlock == y.temporalTransformerLayersPerBlock else {
                        throw ModelFolderError(from, "temporal_from's motion modules are laid out differently (motion_num_attention_heads, use_motion_mid_block, motion_max_seq_length or temporal_transformer_layers_per_block) from the ones this recipe builds")
                    }
                }
                var weights = unet.stateDict()
                for (key, tensor) in video.stateDict() where UNetParameterGroup.temporal.contains(key) { weights[key] = tensor }
                try unet.load(stateDict: weights, source: resolve(from).path)
            }
            start.textEncoder.setTrainable(false)
            var scheduler = recipe.sampling(start.schedulerConfig)
            scheduler.mixedFrameNoise = recipe.mixedNoiseAlpha.map(MixedFrameNoise.init(alpha:))
            // A video model continued samples as it did; one inflated from an image model does not
            // inherit the image model's guidance.
            model = DiffusionModel(tokenizer: start.tokenizer, textEncoder: start.textEncoder, unet: unet,
                                   schedulerConfig: scheduler,
                                   generationConfig: start.unet is UNet2DConditionModel ? GenerationConfig() : start.generationConfig)
        } else if let start = recipe.initFrom {
            // Same weights, possibly a new head layout: the tensors keep their shapes, so the
            // state dict of the start model loads into the reconfigured UNet.
            let (image, imageUNet) = try imageModel(start)
            var unetConfig = imageUNet.config
            if let h = recipe.attentionHeadDim { unetConfig.attentionHeadDim = .shared(h) }
            if let h = recipe.attentionHeadsPerBlock { unetConfig.attentionHeadDim = .perBlock(h) }
            try unetConfig.validate()
            var unet = try UNet2DConditionModel(config: unetConfig, rng: &rng)
            try unet.load(stateDict: imageUNet.stateDict(), source: start)
            if let layers = recipe.transformerLayersPerBlock {
                let kept = Set(unet.stateDict().keys)
                do {
                    unet = try UNet2DConditionModel(deepening: unet, transformerLayersPerBlock: layers, rng: &rng)
                } catch let error as ConfigError {
                    throw ModelFolderError(start, "transformer_layers_per_block: \(error.message)")
                }
                addedUNetKeys = Set(unet.stateDict().keys).subtracting(kept)
            }
            model = DiffusionModel(tokenizer: image.tokenizer, textEncoder: image.textEncoder, unet: unet,
                                   schedulerConfig: recipe.sampling(image.schedulerConfig), generationConfig: image.generationConfig)
        } else {
            let tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel
            if let from = recipe.textEncoderFrom {
                tokenizer = try CLIPTokenizer(directory: resolve(from).appendingPathComponent("tokenizer"))
                textEncoder = try CLIPTextModel.load(directory: resolve(from).appendingPathComponent("text_encoder"))
            } else {
                tokenizer = try CLIPTokenizer(directory: resolve(recipe.tokenizer!))
                let hidden = recipe.textHiddenSize ?? 128
                let text = try worldTextEncoderConfig(tokenizer: tokenizer, hiddenSize: hidden, layers: recipe.textLayers ?? 3,
                                                      heads: recipe.textHeads ?? 4, intermediateSize: recipe.textIntermediateSize ?? 4 * hidden)
                textEncoder = CLIPTextModel(config: text, rng: &rng)
            }
            var unetConfig = UNet2DConfig.clipWorld(crossAttentionDim: textEncoder.config.hiddenSize)
            if let c = recipe.blockOutChannels { unetConfig.blockOutChannels = c }
            if let h = recipe.attentionHeadDim { unetConfig.attentionHeadDim = .shared(h) }
            if let h = recipe.attentionHeadsPerBlock { unetConfig.attentionHeadDim = .perBlock(h) }
            if let g = recipe.normNumGroups { unetConfig.normNumGroups = g }
            if let l = recipe.transformerLayersPerBlock { unetConfig.transformerLayersPerBlock = .perBlock(l) }
            var scheduler = SchedulerConfig()
            scheduler.betaSchedule = BetaSchedule(rawValue: recipe.betaSchedule ?? "squaredcos_cap_v2")!
            model = DiffusionModel(tokenizer: tokenizer, textEncoder: textEncoder,
                                   unet: try UNet2DConditionModel(config: unetConfig, rng: &rng),
                                   schedulerConfig: recipe.sampling(scheduler))
        }
        var world = WorldConfig.v1
        if let p = recipe.twoObjectProbability { world.twoObjectProbability = p }
        if let r = recipe.pairsInReadingOrder { world.pairsInReadingOrder = r }
        var dataset = WorldDataset.v1(seed: recipe.seed, config: world)
        dataset.motions = recipe.motions?.compactMap(MotionKind.init)  // validate() checked the names
        self.dataset = dataset
        schedule = try DDPMScheduler(config: model.schedulerConfig)
        if let start = recipe.initFrom, recipe.noisyEndWeightCap != nil, model.schedulerConfig.predictionType != .epsilon {
            throw ModelFolderError(start, "noisy_end_weight_cap weights an ε-loss, and this model predicts \(model.schedulerConfig.predictionType.rawValue); leave the key out")
        }
    }

    /// The tensors the optimizer moves, with state-dict keys prefixed by component.
    public var trainableParameters: [(key: String, tensor: Tensor)] {
        var out: [(key: String, tensor: Tensor)] = []
        if !recipe.isVideo && recipe.trainParameters != "unet" {
            out += model.textEncoder.namedParameters().map { ("text_encoder.\($0.key)", $0.tensor) }
        }
        // "temporal" is a video recipe's choice (validate refuses it elsewhere); an image UNet has no temporal layers.
        let unetParameters = model.unet.namedParameters().filter {
            recipe.trainParameters != "temporal" || UNetParameterGroup.temporal.contains($0.key)
        }
        out += unetParameters.map { ("unet.\($0.key)", $0.tensor) }
        return out
    }

    /// Trains (resuming from `checkpoint` if asked) and saves the EMA weights as a diffusers folder at `output`.
    @discardableResult
    public func run(output: URL, checkpoint: URL, resume: Bool, dtype: SafeTensors.WriteDType = .f32) throws -> TrainingResult {
        let (run, ema) = trainingRun(checkpoint: checkpoint, resume: resume)
        let optimizer = run.optimizer, tensors = run.parameters.map(\.tensor)
        let count = tensors.reduce(0) { $0 + $1.count }
        log("\(recipe.kind) model: training \(count) parameters, batch \(recipe.batchSize), \(recipe.steps) steps")
        var windows = ["grounding loss": [Float](), "binding gap": [], "motion gap": []]
        let result = try run.run { i, rng in
            optimizer.learningRate = recipe.learningRate(step: i)
            let loss = try self.loss(step: i, rng: &rng)
            // The step line's loss is the sum; each term alone shows whether it is being learned.
            for (name, value) in [("grounding loss", self.lastGroundingLoss), ("binding gap", self.lastBindingGap),
                                  ("motion gap", self.lastMotionGap)] {
                guard let value else { continue }
                windows[name, default: []].append(value)
                if windows[name]!.count == 25 {
                    self.log(String(format: "train %@: %@ %.4f (mean of the last 25 steps with one, to step %d)", recipe.kind,
                                    name, windows[name]!.reduce(0, +) / 25, i + 1))
                    windows[name] = []
                }
            }
            loss.backward()
            _ = clipGradientNorm(tensors, maxNorm: recipe.maxGradNorm)
            return loss.item
        }
        if result.interrupted { return result }
        ema?.copyToParameters()
        try model.save(to: output, dtype: dtype)
        try writeTrainingRecord(losses: result.losses, seconds: result.seconds, resumedFrom: result.resumedFrom, exportedFrom: nil,
                                to: output.appendingPathComponent("training.json"))
        log("\(recipe.kind) model: saved \(output.path) (\(formatDuration(result.seconds)) of training this run)")
        return result
    }

    /// Writes the model folder from `checkpoint`'s EMA weights (its weights, for a recipe without
    /// EMA) at the step it holds, without training: a run stopped before its last step still gives
    /// a model to look at or to start the next run from. The checkpoint is left as it is, so the
    /// run can go on with `--resume`. Returns that step.
    @discardableResult
    public func export(checkpoint: URL, output: URL, dtype: SafeTensors.WriteDType = .f32) throws -> Int {
        let (run, ema) = trainingRun(checkpoint: checkpoint, resume: true)
        let (step, losses) = try run.restoreCheckpoint()
        ema?.copyToParameters()
        try model.save(to: output, dtype: dtype)
        try writeTrainingRecord(losses: losses, seconds: nil, resumedFrom: nil, exportedFrom: checkpoint,
                                to: output.appendingPathComponent("training.json"))
        log("\(recipe.kind) model: saved \(output.path) from \(checkpoint.path) at step \(step) of \(recipe.steps)")
        return step
    }

    /// The optimizer, EMA and training loop of this recipe's trainable parameters, on `checkpoint`.
    private func trainingRun(checkpoint: URL, resume: Bool) -> (TrainingRun, ExponentialMovingAverage?) {
        let parameters = trainableParameters
        let trainable = Set(parameters.map { ObjectIdentifier($0.tensor) })
        for (_, p) in model.textEncoder.namedParameters() { p.requiresGrad = trainable.contains(ObjectIdentifier(p)) }
        for (_, p) in model.unet.namedParameters() { p.requiresGrad = trainable.contains(ObjectIdentifier(p)) }
        let tensors = parameters.map(\.tensor)
        let optimizer = AdamW(parameters: tensors, learningRate: recipe.lr, betas: (0.9, 0.999), weightDecay: recipe.weightDecay)
        /// `k` for the UNet parameters whose key `selected` picks, 1 for the rest.
        func lrScales(_ k: Float, where selected: (String) -> Bool) -> [Float] {
            let picked = Set(model.unet.namedParameters().filter { selected($0.key) }.map { ObjectIdentifier($0.tensor) })
            return tensors.map { picked.contains(ObjectIdentifier($0)) ? k : 1 }
        }
        // validate() lets a video recipe scale only its temporal layers and an image recipe only its added ones.
        if let k = recipe.temporalLrScale { optimizer.learningRateScales = lrScales(k, where: UNetParameterGroup.temporal.contains) }
        if let k = recipe.addedLayersLrScale { optimizer.learningRateScales = lrScales(k, where: addedUNetKeys.contains) }
        let ema = recipe.emaDecay > 0 ? ExponentialMovingAverage(parameters: tensors, decay: recipe.emaDecay) : nil
        let options = TrainingOptions(steps: recipe.steps, seed: recipe.seed, checkpoint: checkpoint,
                                      checkpointEvery: recipe.checkpointEvery, resume: resume, label: "train \(recipe.kind)")
        let run = TrainingRun(parameters: parameters, optimizer: optimizer, ema: ema, options: options,
                              metadata: ["lethe.recipe": recipe.fingerprint])
        run.log = log
        return (run, ema)
    }

    /// training.json beside the weights: the recipe, every step's loss, and the time it took; for
    /// an export, the checkpoint it came from (`steps` then says how far the run had got).
    private func writeTrainingRecord(losses: [Float], seconds: Double?, resumedFrom: Int?, exportedFrom: URL?,
                                     to url: URL) throws {
        struct Record: Encodable {
            let recipe: DiffusionTrainingRecipe
            let steps: Int
            let secondsThisRun: Double?
            let resumedFrom: Int?
            let exportedFromCheckpoint: String?
            let losses: [Float]
            enum CodingKeys: String, CodingKey {
                case recipe, steps, secondsThisRun = "seconds_this_run", resumedFrom = "resumed_from"
                case exportedFromCheckpoint = "exported_from_checkpoint", losses
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(Record(recipe: recipe, steps: losses.count, secondsThisRun: seconds,
                                             resumedFrom: resumedFrom, exportedFromCheckpoint: exportedFrom?.lastPathComponent,
                                             losses: losses))
        try writeAtomically(to: url) { try data.write(to: $0) }
    }

    /// The loss of training batch `step`: the error of the predicted ε (or v), plus the grounding,
    /// binding and motion terms when the recipe asks for them.
    public func loss(step: Int, rng: inout RandomGenerator) throws -> Tensor {
        let batch = dataset.batch(step, size: recipe.batchSize, mode: recipe.isVideo ? .clip : .image,
                                  coverage: recipe.groundingLossWeight != nil)
        let captions = batch.captions.map { rng.nextFloat() < recipe.captionDropout ? "" : $0 }
        let context = try encode(captions)
        let x0 = batch.pixels
        let n = recipe.batchSize
        let noise = model.drawNoise(x0.shape, rng: &rng)
        let timesteps = drawTimesteps(n, from: recipe.timestepRange ?? [0, schedule.alphasCumprod.count], rng: &rng)
        let kind = model.schedulerConfig.predictionType
        // Only this call's maps are graded; the hinges' UNet calls below are not recorded.
        let recorder = recipe.groundingLossWeight != nil ? AttentionMapRecorder.attach(to: model.unet) : nil
        let prediction = model.unet.predict(sample: schedule.addNoise(original: x0, noise: noise, timesteps: timesteps),
                                            timesteps: timesteps.map(Float.init), encoderHiddenStates: context)
        if recorder != nil { AttentionMapRecorder.detach(from: model.unet) }
        let target = self.target(x0, noise, timesteps)
        var total = recipe.weightsLoss
            ? prediction.weightedMSELoss(target, sampleWeights: timesteps.map {
                recipe.lossWeight(alphaCumprod: schedule.alphasCumprod[$0], prediction: kind)
            })
            : prediction.mseLoss(target)
        if let weight = recipe.groundingLossWeight, let recorder, let coverage = batch.coverage {
            let grounding = TokenGrounding(prompts: batch.prompts, captioned: captions.map { !$0.isEmpty },
                                           tokenizer: model.tokenizer, coverage: coverage)
            if let loss = grounding.loss(maps: recorder.maps) {
                lastGroundingLoss = loss.item
                total = total + loss * weight
            }
        }
        // The binding hinge, then the motion hinge; each draws its own timesteps.
        let hinges: [(weight: Float?, negative: KeyPath<PromptEntry, String?>, range: [Int], margin: Float,
                      gap: ReferenceWritableKeyPath<DiffusionTraining, Float?>)] = [
            (recipe.bindingLossWeight, \.colorSwappedPrompt, recipe.bindingTimestepRange ?? [300, 900], recipe.bindingMargin ?? 0.05,
             \.lastBindingGap),
            (recipe.motionLossWeight, \.motionReversedPrompt, recipe.motionTimestepRange ?? [700, 1000], recipe.motionMargin ?? 0.05,
             \.lastMotionGap),
        ]
        for h in hinges {
            guard let weight = h.weight else { continue }
            self[keyPath: h.gap] = nil
            if let (hinge, gap) = try swapHinge(batch, captions: captions, negative: h.negative, x0: x0, noise: noise,
                                                timestepRange: h.range, margin: h.margin, rng: &rng) {
                self[keyPath: h.gap] = gap
                total = total + hinge * weight
            }
        }
        return total
    }

    /// A hinge of a batch that asks the UNet to read one part of its captions (`binding_loss_weight`,
    /// `motion_loss_weight`). Each sample whose caption has a `negative` (and was not dropped) is
    /// noised again, with its own noise, at a timestep from `timestepRange`, and predicted under its
    /// caption and under the negative, in one UNet call. Returns the hinge and the mean relative
    /// gap (negative − right) / right; nil when the batch has no such sample.
    private func swapHinge(_ batch: WorldBatch, captions: [String], negative: KeyPath<PromptEntry, String?>, x0: Tensor,
                           noise: Tensor, timestepRange: [Int], margin: Float,
                           rng: inout RandomGenerator) throws -> (hinge: Tensor, gap: Float)? {
        let pairs = batch.prompts.indices.filter { !captions[$0].isEmpty && batch.prompts[$0][keyPath: negative] != nil }
        guard !pairs.isEmpty else { return nil }
        let timesteps = drawTimesteps(pairs.count, from: timestepRange, rng: &rng)
        let clean = x0.rows(pairs), eps = noise.rows(pairs)
        let noisy = schedule.addNoise(original: clean, noise: eps, timesteps: timesteps)
        let target = self.target(clean, eps, timesteps)
        let context = try encode(pairs.map { captions[$0] } + pairs.map { batch.prompts[$0][keyPath: negative]! })
        let prediction = model.unet.predict(sample: Tensor.concatenate([noisy, noisy], axis: 0),
                                            timesteps: (timesteps + timesteps).map(Float.init), encoderHiddenStates: context)
        let errors = prediction.perSampleMSE(Tensor.concatenate([target, target], axis: 0))
        let k = pairs.count
        let right = errors.slice(axis: 0, range: 0..<k), wrong = errors.slice(axis: 0, range: k..<(2 * k))
        let scale = (0..<k).map { max(right[flat: $0], 1e-8) }
        let gap = (0..<k).map { (wrong[flat: $0] - right[flat: $0]) / scale[$0] }.reduce(0, +) / Float(k)
        return (relativeMarginHinge(right: right, wrong: wrong, scale: scale, margin: margin), gap)
    }

    /// The text encoder's states for `captions`; gradients reach it only when the recipe trains it.
    private func encode(_ captions: [String]) throws -> Tensor {
        let ids = model.tokenizer(captions)
        if recipe.isVideo || recipe.trainParameters == "unet" {
            return try Autograd.inference { try model.textEncoder(ids).lastHiddenState }
        }
        return try model.textEncoder(ids).lastHiddenState
    }

    /// `count` training timesteps drawn uniformly from [lo, hi) of `range`, clamped to the schedule.
    private func drawTimesteps(_ count: Int, from range: [Int], rng: inout RandomGenerator) -> [Int] {
        let steps = schedule.alphasCumprod.count
        let lo = min(range[0], steps - 1), hi = min(range[1], steps)
        return (0..<count).map { _ in lo + rng.nextInt(max(hi - lo, 1)) }
    }

    /// What the UNet learns to predict for these samples: ε, v or x₀.
    private func target(_ x0: Tensor, _ noise: Tensor, _ timesteps: [Int]) -> Tensor {
        switch model.schedulerConfig.predictionType {
        case .epsilon: noise
        case .vPrediction: schedule.getVelocity(sample: x0, noise: noise, timesteps: timesteps)
        case .sample: x0
        }
    }
}
