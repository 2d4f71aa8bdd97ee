// What every noise scheduler offers a pipeline or a training loop, after diffusers'
// SchedulerMixin and apple/ml-stable-diffusion's Scheduler protocol: the shared parts — forward
// noising, the v-prediction target, config files — live once in a protocol extension.

import Foundation
import LetheCore

/// The result of one reverse step: x_{t−1} and the model's estimate of x₀ (diffusers'
/// `prev_sample` and `pred_original_sample`).
public struct SchedulerStepOutput {
    public let prevSample: Tensor
    public let predOriginalSample: Tensor
}

public protocol Scheduler {
    /// diffusers' `_class_name`.
    static var className: String { get }
    /// The keys diffusers' class registers in its config, written to `scheduler_config.json`.
    static var configKeys: [String] { get }

    var config: SchedulerConfig { get }
    /// ᾱ_t for t in 0..<numTrainTimesteps, float32 exactly as diffusers computes them.
    var alphasCumprod: [Float] { get }
    /// Descending timesteps of the current inference schedule.
    var timesteps: [Int] { get }
    var numInferenceSteps: Int? { get }

    init(config: SchedulerConfig) throws
    mutating func setTimesteps(_ numInferenceSteps: Int) throws

    /// One reverse step from `sample` at `timestep`; any noise it needs is drawn from `generator`.
    func step(modelOutput: Tensor, timestep: Int, sample: Tensor,
              generator: inout RandomGenerator) -> SchedulerStepOutput
}

extension Scheduler {
    /// The standard deviation of the initial noise (1 for DDPM and DDIM; sigma schedulers differ).
    public var initNoiseSigma: Float { 1 }
    public var numTrainTimesteps: Int { config.numTrainTimesteps }

    /// DDPM and DDIM feed the sample to the model unscaled; kept so sampling loops stay generic.
    public func scaleModelInput(_ sample: Tensor, timestep: Int) -> Tensor { sample }

    /// Builds this scheduler from another's config, as diffusers' `from_config` does: a pipeline
    /// trained with DDPM samples with DDIM from the same noise schedule.
    public init(from other: some Scheduler) throws { try self.init(config: other.config) }

    /// Reads `scheduler_config.json`, or a `scheduler/` folder holding it.
    public init(contentsOf url: URL) throws {
        let config = try SchedulerConfig(contentsOf: url)
        do {
            try self.init(config: config)
        } catch let error as ConfigError {
            throw ConfigError(source: url.path, key: error.key, error.message)
        }
    }

    /// The config as diffusers' `save_config` would write it for this class.
    public var configJSON: JSONConfig { config.json(className: Self.className, classKeys: Self.configKeys) }

    /// Writes `scheduler_config.json` into `directory`, atomically.
    public func saveConfig(to directory: URL) throws {
        try configJSON.write(to: directory.appendingPathComponent(SchedulerConfig.fileName))
    }

    /// Uniform training timesteps in 0..<numTrainTimesteps, one per batch item.
    public func randomTimesteps(count: Int, generator: inout RandomGenerator) -> [Int] {
        (0..<count).map { _ in generator.nextInt(numTrainTimesteps) }
    }

    /// The forward process q(x_t | x₀): √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, with one timestep per batch item
    /// (or one for all). Recorded by autograd for both inputs.
    public func addNoise(original: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        let (a, b) = coefficients(timesteps, batch: original.shape.first ?? 1) { ($0.squareRoot(), (1 - $0).squareRoot()) }
        return batchedCombination(original, a, noise, b, name: "add_noise")
    }

    /// The v-prediction target √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (Salimans & Ho 2022), diffusers' `get_velocity`.
    public func getVelocity(sample: Tensor, noise: Tensor, timesteps: [Int]) -> Tensor {
        let (a, b) = coefficients(timesteps, batch: sample.shape.first ?? 1) { ($0.squareRoot(), -(1 - $0).squareRoot()) }
        return batchedCombination(noise, a, sample, b, name: "get_velocity")
    }

    /// Per-batch-item coefficients from ᾱ at each timestep (float32 arithmetic like torch).
    private func coefficients(_ timesteps: [Int], batch: Int,
                              _ f: (Float) -> (Float, Float)) -> ([Float], [Float]) {
        precondition(timesteps.count == 1 || timesteps.count == batch,
                     "\(timesteps.count) timesteps for a batch of \(batch)")
        let pairs = timesteps.map { t -> (Float, Float) in
            precondition(alphasCumprod.indices.contains(t), "timestep \(t) outside 0..<\(alphasCumprod.count)")
            return f(alphasCumprod[t])
        }
        let expanded = timesteps.count == 1 ? Array(repeating: pairs[0], count: batch) : pairs
        return (expanded.map(\.0), expanded.map(\.1))
    }
}

/// out[n, ...] = a[n]·x[n, ...] + b[n]·y[n, ...] for per-batch-item scalars, recorded as one node.
func batchedCombination(_ x: Tensor, _ a: [Float], _ y: Tensor, _ b: [Float], name: String) -> Tensor {
    precondition(x.shape == y.shape, "\(name): \(x.shape) vs \(y.shape)")
    precondition(a.count == (x.shape.first ?? 1) && b.count == a.count, "\(name): \(a.count) coefficients for shape \(x.shape)")
    let out = Tensor(uninitializedShape: x.shape)
    let xp = x.pointer, yp = y.pointer, op = out.pointer
    forEachBatchSpan(count: x.count, batch: a.count) { n, span in
        let ka = a[n], kb = b[n]
        for i in span { op[i] = ka * xp[i] + kb * yp[i] }
    }
    return Autograd.record(out, name, inputs: [x, y]) { g in
        [x.requiresGrad ? batchedScale(g, a) : nil, y.requiresGrad ? batchedScale(g, b) : nil]
    }
}

/// out[n, ...] = k[n]·g[n, ...].
private func batchedScale(_ g: Tensor, _ k: [Float]) -> Tensor {
    let out = Tensor(uninitializedShape: g.shape)
    let gp = g.pointer, op = out.pointer
    forEachBatchSpan(count: g.count, batch: k.count) { n, span in
        let kn = k[n]
        for i in span { op[i] = kn * gp[i] }
    }
    return out
}

/// Splits 0..<count over the cores and hands `body` each piece cut at batch-item boundaries,
/// with the batch index of that piece.
func forEachBatchSpan(count: Int, batch: Int, _ body: (Int, Range<Int>) -> Void) {
    guard batch > 0, count > 0 else { return }
    let inner = count / batch
    parallelFor(count) { range in
        var i = range.lowerBound
        while i < range.upperBound {
            let n = i / inner
            let end = min(range.upperBound, (n + 1) * inner)
            body(n, i..<end)
            i = end
        }
    }
}

// MARK: - Pieces shared by DDPM's and DDIM's step

/// x₀ predicted from the model output at ᾱ_t, per `prediction_type` (float32 like diffusers).
func predictOriginalSample(modelOutput: Tensor, sample: Tensor, alphaProd: Float,
                           predictionType: PredictionType) -> Tensor {
    precondition(modelOutput.shape == sample.shape, "model output \(modelOutput.shape) vs sample \(sample.shape)")
    let sqrtAlpha = alphaProd.squareRoot(), sqrtBeta = (1 - alphaProd).squareRoot()
    switch predictionType {
    case .epsilon: return sample.zipMap(modelOutput) { x, e in (x - sqrtBeta * e) / sqrtAlpha }
    case .sample: return modelOutput.copy()
    case .vPrediction: return sample.zipMap(modelOutput) { x, v in sqrtAlpha * x - sqrtBeta * v }
    }
}

/// Clips x₀ in place to ±clip_sample_range, or applies dynamic thresholding when configured.
func clipOrThreshold(_ x0: Tensor, config: SchedulerConfig) {
    if config.thresholding {
        dynamicThreshold(x0, ratio: Float(config.dynamicThresholdingRatio), maxValue: Float(config.sampleMaxValue))
    } else if config.clipSample {
        let r = Float(config.clipSampleRange)
        let p = x0.pointer
        for i in 0..<x0.count { p[i] = min(max(p[i], -r), r) }
    }
}

/// Imagen's dynamic thresholding (Saharia et al. 2022), diffusers' `_threshold_sample`: per batch
/// item, s = the `ratio` quantile of |x₀| (torch.quantile's linear interpolation) clamped to
/// [1, maxValue]; x₀ is clamped to ±s and divided by s.
func dynamicThreshold(_ x0: Tensor, ratio: Float, maxValue: Float) {
    let batch = x0.shape.first ?? 1
    guard batch > 0, x0.count > 0 else { return }
    let inner = x0.count / batch
    let p = x0.pointer
    for n in 0..<batch {
        let row = UnsafeMutableBufferPointer(start: p + n * inner, count: inner)
        let sorted = row.map(abs).sorted()
        let rank = ratio * Float(inner - 1)
        let lower = rank.rounded(.down), upper = rank.rounded(.up)
        let below = sorted[Int(lower)], above = sorted[Int(upper)]
        let quantile = below + (rank - lower) * (above - below)
        let s = min(max(quantile, 1), maxValue)
        for i in row.indices { row[i] = min(max(row[i], -s), s) / s }
    }
}
