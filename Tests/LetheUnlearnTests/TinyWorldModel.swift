// Tiny models that read the world's tokenizer (configs/world/tokenizer): an image model and a
// video model sharing one text encoder, saved as diffusers folders once per test process.
import Foundation
import LetheCore
import LetheModels
import LetheUnlearn
import XCTest

enum TinyWorld {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tokenizerDirectory = repoRoot.appendingPathComponent("configs/world/tokenizer")

    static func tokenizer() throws -> CLIPTokenizer { try CLIPTokenizer(directory: tokenizerDirectory) }

    static func textConfig(hidden: Int, tokenizer: CLIPTokenizer) -> CLIPTextConfig {
        var c = CLIPTextConfig()
        c.vocabSize = tokenizer.vocabularySize
        c.hiddenSize = hidden
        c.intermediateSize = 2 * hidden
        c.projectionDim = hidden
        c.numHiddenLayers = 2
        c.numAttentionHeads = 2
        c.maxPositionEmbeddings = tokenizer.modelMaxLength
        c.bosTokenId = tokenizer.bosTokenId
        c.eosTokenId = tokenizer.eosTokenId
        c.padTokenId = tokenizer.padTokenId
        return c
    }

    static let scheduler = SchedulerConfig(betaStart: 0.00085, betaEnd: 0.012, betaSchedule: .scaledLinear,
                                           clipSample: false, setAlphaToOne: false, stepsOffset: 1)

    /// Every UNet weight redrawn: a zero-initialised output layer would stop all gradients.
    static func randomize(_ module: Module, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        for p in module.parameters { p.assign(Tensor.randn(p.shape, rng: &rng, std: 0.2)) }
    }

    static func makeModel(video: Bool, hidden: Int = 8, seed: UInt64 = 1) throws -> DiffusionModel {
        let tok = try tokenizer()
        var rng = RandomGenerator(seed: seed)
        let encoder = CLIPTextModel(config: textConfig(hidden: hidden, tokenizer: tok), rng: &rng)
        let unet: any Denoiser
        if video {
            var c = UNet3DConfig()
            c.sampleSize = [8]
            c.inChannels = 3
            c.outChannels = 3
            c.downBlockTypes = ["CrossAttnDownBlock3D", "DownBlock3D"]
            c.upBlockTypes = ["UpBlock3D", "CrossAttnUpBlock3D"]
            c.blockOutChannels = [8, 16]
            c.layersPerBlock = 1
            c.normNumGroups = 4
            c.crossAttentionDim = hidden
            c.attentionHeadDim = 4
            unet = try UNet3DConditionModel(config: c, rng: &rng)
        } else {
            var c = UNet2DConfig()
            c.sampleSize = [8]
            c.inChannels = 3
            c.outChannels = 3
            c.downBlockTypes = ["CrossAttnDownBlock2D", "DownBlock2D"]
            c.upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D"]
            c.blockOutChannels = [8, 16]
            c.layersPerBlock = .shared(1)
            c.normNumGroups = 4
            c.crossAttentionDim = .shared(hidden)
            c.attentionHeadDim = .shared(4)
            unet = try UNet2DConditionModel(config: c, rng: &rng)
        }
        randomize(unet, seed: seed &+ 100)
        return DiffusionModel(tokenizer: tok, textEncoder: encoder, unet: unet, schedulerConfig: scheduler)
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var folders: [String: URL] = [:]

    /// A saved model folder (made once per process); copy it before changing anything in it.
    static func folder(video: Bool, hidden: Int = 8, encoderSeed: UInt64 = 1) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        let key = "\(video)-\(hidden)-\(encoderSeed)"
        if let url = folders[key] { return url }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-unlearn-\(key)-\(UUID().uuidString)")
        try makeModel(video: video, hidden: hidden, seed: encoderSeed).save(to: url)
        folders[key] = url
        return url
    }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-unlearn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A recipe small enough for debug-build tests (a UNet call on this model takes ~0.2 s there).
    static func recipe(_ method: ErasureMethodKind, steps: Int = 3) -> ErasureRecipe {
        var r = ErasureRecipe.defaults(method)
        r.steps = steps
        r.ddimSteps = 3
        r.generationSteps = 2
        r.images = 2
        r.frames = 2
        r.batchSize = 1
        r.preservePerStep = 1
        r.lr = 1e-2
        r.emaDecay = 0.5
        r.checkpointEvery = 1
        return r
    }

    static func values(_ params: [(key: String, tensor: Tensor)]) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: params.map { ($0.key, $0.tensor.scalars) })
    }
}
