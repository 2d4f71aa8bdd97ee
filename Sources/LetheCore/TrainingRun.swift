// The training loop every long job shares (pretraining, the detector, erasure): progress on
// stderr, a checkpoint every N steps, resume, and a clean stop on SIGINT.
//
// A checkpoint is ONE safetensors file — parameters, AdamW moments, EMA shadow — with the step,
// the loss history and the caller's metadata in its header, written to a temporary file and
// renamed into place. A kill at any moment leaves the previous checkpoint or the new one, never
// part of one. Per-step randomness comes from RandomGenerator(seed:stream: step), so a resumed
// run draws exactly what the uninterrupted run drew and retraces its loss curve.

import Foundation

public struct TrainingError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct TrainingOptions {
    public var steps: Int
    public var seed: UInt64
    /// Where the checkpoint file lives; nil means no checkpoints (and no resume).
    public var checkpoint: URL?
    public var checkpointEvery: Int
    public var resume: Bool
    /// Seconds between progress lines.
    public var progressInterval: Double
    public var label: String

    public init(steps: Int, seed: UInt64, checkpoint: URL? = nil, checkpointEvery: Int = 100, resume: Bool = false,
                progressInterval: Double = 2, label: String = "train") {
        self.steps = steps
        self.seed = seed
        self.checkpoint = checkpoint
        self.checkpointEvery = checkpointEvery
        self.resume = resume
        self.progressInterval = progressInterval
        self.label = label
    }
}

public struct TrainingResult {
    /// Loss of every step from 0, including steps run before a resume.
    public let losses: [Float]
    public let resumedFrom: Int?
    public let interrupted: Bool
    public let seconds: Double
}

/// Set by the SIGINT handler; the loop checks it between steps.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

public final class TrainingRun {
    public let parameters: [(key: String, tensor: Tensor)]
    public let optimizer: AdamW
    public let ema: ExponentialMovingAverage?
    public let options: TrainingOptions
    /// Identifies the recipe; a checkpoint made with other metadata is refused on resume.
    public let metadata: [String: String]
    public var log: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }

    public init(parameters: [(key: String, tensor: Tensor)], optimizer: AdamW, ema: ExponentialMovingAverage? = nil,
                options: TrainingOptions, metadata: [String: String] = [:]) {
        precondition(optimizer.parameters.count == parameters.count, "optimizer and parameter list differ")
        self.parameters = parameters
        self.optimizer = optimizer
        self.ema = ema
        self.options = options
        self.metadata = metadata
    }

    /// Runs steps until `options.steps`. `step(index, rng)` computes the loss, calls backward,
    /// and returns the loss value; the run applies the optimizer, EMA and checkpoints.
    public func run(_ step: (Int, inout RandomGenerator) throws -> Float) throws -> TrainingResult {
        var losses: [Float] = []
        var start = 0
        var resumedFrom: Int?
        if let url = options.checkpoint {
            let folder = url.deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw TrainingError("\(url.path): cannot create the checkpoint's folder \(folder.path) (\(error.localizedDescription))")
            }
            removeStaleTemporaries(of: url)
        }
        if options.resume, let url = options.checkpoint, FileManager.default.fileExists(atPath: url.path) {
            (start, losses) = try restore(from: url)
            resumedFrom = start
            log("\(options.label): resumed from \(url.path) at step \(start)")
        } else if !options.resume, let url = options.checkpoint, FileManager.default.fileExists(atPath: url.path) {
            throw TrainingError("\(url.path): a checkpoint already exists; pass --resume to continue it or remove it to start over")
        }
        interruptRequested = 0
        let previous = signal(SIGINT) { _ in interruptRequested = 1 }
        defer { signal(SIGINT, previous) }

        let t0 = Date()
        let progress = ProgressEstimate(unit: "steps", done: start, now: t0)
        var lastReport = t0
        var interrupted = false
        for i in start..<options.steps {
            var rng = RandomGenerator(seed: options.seed, stream: UInt64(i))
            optimizer.zeroGrad()
            let loss = try step(i, &rng)
            guard loss.isFinite else {
                throw TrainingError("\(options.label): loss became \(loss) at step \(i); lower the learning rate")
            }
            optimizer.step()
            ema?.update()
            losses.append(loss)
            let done = i + 1
            if let url = options.checkpoint, done % options.checkpointEvery == 0 || done == options.steps {
                try save(to: url, step: done, losses: losses)
            }
            let now = Date()
            if now.timeIntervalSince(lastReport) >= options.progressInterval || done == options.steps {
                let recent = losses.suffix(20)
                let mean = recent.reduce(0, +) / Float(recent.count)
                let pace = progress.rateAndTimeLeft(done: done, total: options.steps, now: now).map { "  " + $0 } ?? ""
                log(String(format: "%@: step %d/%d  loss %.4f", options.label, done, options.steps, mean) + pace)
                lastReport = now
            }
            if interruptRequested != 0 {
                if let url = options.checkpoint, done % options.checkpointEvery != 0 {
                    try save(to: url, step: done, losses: losses)
                }
                log("\(options.label): stopped at step \(done)\(options.checkpoint.map { "; resume with --resume (checkpoint \($0.path))" } ?? "")")
                interrupted = true
                break
            }
        }
        return TrainingResult(losses: losses, resumedFrom: resumedFrom, interrupted: interrupted,
                              seconds: Date().timeIntervalSince(t0))
    }

    /// Loads the checkpoint's parameters, AdamW moments and EMA shadow without training (after
    /// the same checks as a resume) and returns its step and loss history.
    public func restoreCheckpoint() throws -> (step: Int, losses: [Float]) {
        guard let url = options.checkpoint, FileManager.default.fileExists(atPath: url.path) else {
            throw TrainingError("\(options.checkpoint?.path ?? "no checkpoint given"): no checkpoint to read")
        }
        return try restore(from: url)
    }

    // MARK: Checkpoints

    func save(to url: URL, step: Int, losses: [Float]) throws {
        var tensors: [String: Tensor] = [:]
        for (i, (key, p)) in parameters.enumerated() {
            tensors["param.\(key)"] = p
            tensors["adam_m.\(key)"] = optimizer.m[i]
            tensors["adam_v.\(key)"] = optimizer.v[i]
            if let ema { tensors["ema.\(key)"] = ema.shadow[i] }
        }
        var meta = metadata.mapKeys { "user.\($0)" }
        meta["lethe.step"] = String(step)
        meta["lethe.adam_steps"] = String(optimizer.stepCount)
        meta["lethe.seed"] = String(options.seed)
        meta["lethe.losses"] = losses.map { String($0.bitPattern, radix: 16) }.joined(separator: ",")
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    func restore(from url: URL) throws -> (Int, [Float]) {
        let file = try SafeTensorsFile(url: url)
        let meta = file.metadata
        func fail(_ what: String) -> TrainingError { TrainingError("\(url.path): \(what)") }
        guard let step = meta["lethe.step"].flatMap(Int.init), let adamSteps = meta["lethe.adam_steps"].flatMap(Int.init),
              let lossText = meta["lethe.losses"] else {
            throw fail("not a Lethe training checkpoint (no step or loss history in its header)")
        }
        if meta["lethe.seed"] != String(options.seed) {
            throw fail("was made with seed \(meta["lethe.seed"] ?? "?"), this run uses \(options.seed)")
        }
        for (k, v) in metadata where meta["user.\(k)"] != v {
            throw fail("was made with \(k) = \(meta["user.\(k)"] ?? "nothing"), this run has \(v)")
        }
        let losses = try lossText.split(separator: ",").map { part -> Float in
            guard let bits = UInt32(part, radix: 16) else { throw fail("loss history is damaged") }
            return Float(bitPattern: bits)
        }
        guard losses.count == step, step <= options.steps else {
            throw fail("holds \(losses.count) losses for step \(step) (run has \(options.steps) steps)")
        }
        func load(_ name: String, like p: Tensor) throws -> Tensor {
            guard file.info(name) != nil else { throw fail("has no tensor \(name)") }
            let t = try file.tensor(name)
            guard t.shape == p.shape else { throw fail("tensor \(name) has shape \(t.shape), the model needs \(p.shape)") }
            return t
        }
        // Read everything before writing anything: a bad file must leave the model untouched.
        var values: [(Tensor, Tensor, Tensor, Tensor?)] = []
        for (key, p) in parameters {
            values.append((try load("param.\(key)", like: p), try load("adam_m.\(key)", like: p),
                           try load("adam_v.\(key)", like: p), ema == nil ? nil : try load("ema.\(key)", like: p)))
        }
        for (i, (_, p)) in parameters.enumerated() {
            p.assign(values[i].0)
            if let e = values[i].3 { ema!.shadow[i].assign(e) }
        }
        optimizer.restore(stepCount: adamSteps, m: values.map(\.1), v: values.map(\.2))
        return (step, losses)
    }
}

extension Dictionary {
    fileprivate func mapKeys(_ f: (Key) -> String) -> [String: Value] {
        Dictionary<String, Value>(uniqueKeysWithValues: map { (f($0.key), $0.value) })
    }
}

public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}
