// Times Lethe's kernels and models at fixed shapes; scripts/bench runs the PyTorch peer on the
// same shapes in the same run and prints the ratios. Prints one JSON object {name: seconds}
// (median of repeated runs, after warm-up).

import CBLAS
import Foundation
import LetheCore
import LetheModels

func medianTime(repeats: Int, warmup: Int = 2, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

OpenBLASKernels.relaunchWithKernelsForThisCPUIfNeeded()
FileHandle.standardError.write(Data("lethe-bench: OpenBLAS kernels \(OpenBLASKernels.detectedCore)\n".utf8))

var rng = RandomGenerator(seed: 0)

var benches: [(String, () -> Double)] = [
    ("gemm_1024", {
        let a = Tensor.randn([1024, 1024], rng: &rng), b = Tensor.randn([1024, 1024], rng: &rng)
        return medianTime(repeats: 20) { _ = Autograd.inference { a.matmul(b) } }
    }),
    ("gemm_1024_raw_cblas", {
        let a = Tensor.randn([1024, 1024], rng: &rng), b = Tensor.randn([1024, 1024], rng: &rng)
        let c = Tensor(uninitializedShape: [1024, 1024])
        return medianTime(repeats: 20) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1, a.pointer, 1024, b.pointer, 1024, 0, c.pointer, 1024)
        }
    }),
    ("conv2d_fwd_bwd", {
        let x = Tensor.randn([32, 64, 32, 32], rng: &rng), w = Tensor.randn([64, 64, 3, 3], rng: &rng)
        let b = Tensor.randn([64], rng: &rng), g = Tensor.randn([32, 64, 32, 32], rng: &rng)
        for t in [x, w, b] { t.requiresGrad = true }
        return medianTime(repeats: 10) {
            x.grad = nil; w.grad = nil; b.grad = nil
            x.conv2d(weight: w, bias: b, padding: 1).backward(g)
        }
    }),
    ("attention_fwd_bwd", {
        let shape = [32, 256, 4 * 32]
        let q = Tensor.randn(shape, rng: &rng), k = Tensor.randn(shape, rng: &rng), v = Tensor.randn(shape, rng: &rng)
        let g = Tensor.randn(shape, rng: &rng)
        for t in [q, k, v] { t.requiresGrad = true }
        return medianTime(repeats: 10) {
            q.grad = nil; k.grad = nil; v.grad = nil
            scaledDotProductAttention(query: q, key: k, value: v, heads: 4).backward(g)
        }
    }),
]

/// The clip world's UNet at the benchmark shape: batch 32, 3×32×32, 16×128 text context.
func unetBenchInputs() -> (UNet2DConditionModel, Tensor, [Float], Tensor) {
    let model = try! UNet2DConditionModel(config: .clipWorld(), rng: &rng)
    let x = Tensor.randn([32, 3, 32, 32], rng: &rng), c = Tensor.randn([32, 16, 128], rng: &rng)
    return (model, x, (0..<32).map { Float($0 * 31) }, c)
}

benches += [
    ("unet2d_train_step", {
        let (model, x, t, c) = unetBenchInputs()
        let opt = AdamW(parameters: model.parameters, learningRate: 1e-4)
        return medianTime(repeats: 5) {
            opt.zeroGrad()
            model(sample: x, timesteps: t, encoderHiddenStates: c).mseLoss(x).backward()
            opt.step()
        }
    }),
    ("unet2d_sample_forward", {
        let (model, x, t, c) = unetBenchInputs()
        return medianTime(repeats: 5) { _ = Autograd.inference { model(sample: x, timesteps: t, encoderHiddenStates: c) } }
    }),
]

/// The clip world's video models at their training shape (configs/train/video.yaml: batch 3,
/// 8 frames of 3×32×32, every parameter trained): the image UNet of configs/train/image.yaml
/// (heads of 8 channels, 8 groups) inflated to UNet3DConditionModel, or given AnimateDiff motion
/// modules (UNetMotionModel, diffusers' default 8 motion heads). One forward, MSE, backward.
/// Opt-in (`scripts/bench video` names both).
func videoStep(motion: Bool) -> Double {
    var image = UNet2DConfig.clipWorld()
    image.attentionHeadDim = .perBlock([4, 8, 8])
    image.normNumGroups = 8
    let unet2d = try! UNet2DConditionModel(config: image, rng: &rng)
    let model: any Denoiser = motion ? try! UNetMotionModel(addingMotionModulesTo: unet2d, rng: &rng)
                                     : try! UNet3DConditionModel(inflating: unet2d, rng: &rng)
    // Fresh temporal output layers are zero; random ones make the backward pass realistic.
    for (key, p) in model.namedParameters() where key.contains("proj_out") || key.contains("conv4.3") {
        p.assign(Tensor.randn(p.shape, rng: &rng, std: 0.02))
    }
    let x = Tensor.randn([3, 3, 8, 32, 32], rng: &rng), c = Tensor.randn([3, 16, 128], rng: &rng)
    let t: [Float] = [10, 500, 990]
    return medianTime(repeats: 3, warmup: 1) {
        for p in model.parameters { p.grad = nil }
        model.predict(sample: x, timesteps: t, encoderHiddenStates: c).mseLoss(x).backward()
    }
}

/// Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KB).
func peakMemoryMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Real size: Stable Diffusion 1.5's UNet and CLIP ViT-L/14's text encoder configurations with
/// random weights: one text encoding and one UNet forward at 64×64×4 latents (batch 1).
/// Not in the default set (it needs ~4 GB and a minute); run `scripts/bench realsize`.
func realSize() -> [String: Double] {
    var text = CLIPTextConfig()
    text.hiddenSize = 768
    text.intermediateSize = 3072
    text.numAttentionHeads = 12
    text.numHiddenLayers = 12
    text.projectionDim = 768
    var unetConfig = UNet2DConfig()
    unetConfig.sampleSize = [64]
    unetConfig.crossAttentionDim = .shared(768)
    var t0 = DispatchTime.now().uptimeNanoseconds
    func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { t0 = now }
        return Double(now - t0) / 1e9
    }
    let encoder = CLIPTextModel(config: text, rng: &rng)
    let unet = try! UNet2DConditionModel(config: unetConfig, rng: &rng)
    let build = lap()
    let ids = [[49406] + Array(repeating: 320, count: 10) + Array(repeating: 49407, count: 66)]
    let hidden = Autograd.inference { try! encoder(ids).lastHiddenState }
    let encode = lap()
    let latents = Tensor.randn([1, 4, 64, 64], rng: &rng)
    let out = Autograd.inference { unet(sample: latents, timesteps: [500], encoderHiddenStates: hidden) }
    let forward = lap()
    precondition(out.shape == [1, 4, 64, 64] && out.scalars.allSatisfy(\.isFinite))
    return ["realsize_text_encoder_params": Double(encoder.parameterCount), "realsize_unet_params": Double(unet.parameterCount),
            "realsize_build_s": build, "realsize_text_encode_s": encode, "realsize_unet_forward_s": forward,
            "realsize_peak_memory_mb": peakMemoryMB()]
}

let wanted = Set(CommandLine.arguments.dropFirst())
var results: [String: Double] = [:]
// The erasure entries need a trained model folder (see Erasure.swift); `erase` names all three.
// The whole runs go first, while this process is small (see ErasureBench.measure).
let erasure = wanted.contains("erase")
do {
    let whole = (erase: erasure || wanted.contains("erase_total"), transfer: erasure || wanted.contains("transfer_total"))
    if whole.erase || whole.transfer {
        FileHandle.standardError.write("bench: erase_total, transfer_total…\n".data(using: .utf8)!)
        results.merge(try ErasureBench.wholeRuns(erase: whole.erase, transfer: whole.transfer)) { a, _ in a }
    }
    if erasure || wanted.contains("erase_step") {
        FileHandle.standardError.write("bench: erase_step…\n".data(using: .utf8)!)
        results.merge(try ErasureBench.step()) { a, _ in a }
    }
} catch {
    FileHandle.standardError.write("bench: \(error)\n".data(using: .utf8)!)
    exit(1)
}
if wanted.contains("realsize") {
    FileHandle.standardError.write("bench: realsize…\n".data(using: .utf8)!)
    results.merge(realSize()) { a, _ in a }
}
for (name, motion) in [("video_unet3d_step", false), ("video_motion_step", true)] where wanted.contains("video") || wanted.contains(name) {
    FileHandle.standardError.write("bench: \(name)…\n".data(using: .utf8)!)
    results[name] = videoStep(motion: motion)
}
for (name, run) in benches where wanted.isEmpty || wanted.contains(name) {
    FileHandle.standardError.write("bench: \(name)…\n".data(using: .utf8)!)
    results[name] = run()
}
let json = try! JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
print(String(data: json, encoding: .utf8)!)
