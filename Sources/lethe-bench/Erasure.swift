// Erasure benchmarks on a real model folder (LETHE_BENCH_MODEL, default models/image):
// - erase_step: seconds per step of the default method's loop (batch, loss, backward, AdamW
//   step), after the one-time image generation. Its step-0 inputs and loss are written to
//   $LETHE_BENCH_DUMP/erase_step.safetensors so scripts/bench_torch.py can run the same loss in
//   diffusers/transformers and check it computes the same number before comparing speeds.
// - erase_total / transfer_total: wall time and peak resident memory of whole `lethe erase`
//   (default recipe) and `lethe transfer` runs of the release binary, as child processes.

import Foundation
import LetheCore
import LetheModels
import LetheUnlearn
import LetheWorld

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum ErasureBench {
    /// The concept every erasure benchmark erases.
    static let concept = "circle"

    static var modelDirectory: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["LETHE_BENCH_MODEL"] ?? "models/image")
    }

    /// The video model the erased encoder is transferred into; when it is missing, the image
    /// model itself (the same checks and the same bytes to copy, minus the 3D UNet's size).
    static var transferTarget: URL {
        let video = URL(fileURLWithPath: ProcessInfo.processInfo.environment["LETHE_BENCH_VIDEO"] ?? "models/video")
        if FileManager.default.fileExists(atPath: video.appendingPathComponent("model_index.json").path) { return video }
        log("bench: no video model at \(video.path); transfer_total puts the encoder into \(modelDirectory.path) instead")
        return modelDirectory
    }

    static func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    static func checkModel() throws {
        guard FileManager.default.fileExists(atPath: modelDirectory.appendingPathComponent("model_index.json").path) else {
            throw BenchError("no model folder at \(modelDirectory.path) (set LETHE_BENCH_MODEL=DIR to a diffusers folder made by lethe train image)")
        }
    }

    // MARK: erase_step

    static func step(repeats: Int = 10, warmup: Int = 2) throws -> [String: Double] {
        try checkModel()
        let model = try DiffusionModel.load(directory: modelDirectory)
        let recipe = ErasureRecipe.defaults(.standard)
        guard recipe.method == .anchor else {
            throw BenchError("erase_step and its PyTorch peer implement the anchor loss; the default method is now \(recipe.method.rawValue)")
        }
        let target = try ErasureTarget(ErasureConcept.resolve(concept, allowFreeText: false), recipe: recipe, tokenizer: model.tokenizer)
        var method = Anchor(targets: [target], recipe: recipe)
        let context = try ErasureContext(model: model, parameterSet: recipe.params, encoderSubset: recipe.encoderSubset,
                                         fixedPrompts: method.fixedPrompts, frames: recipe.frames, seed: recipe.seed)
        let t0 = DispatchTime.now().uptimeNanoseconds
        try method.prepare(context)
        let prepareSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let tensors = context.trainedParameters.map(\.tensor)
        let optimizer = AdamW(parameters: tensors, learningRate: recipe.lr, betas: (recipe.betas[0], recipe.betas[1]),
                              weightDecay: recipe.weightDecay)

        // The body of ErasureTraining's loop (TrainingRun's zeroGrad/step around the method's
        // batch, loss and backward), with the same per-step randomness.
        var loss0: Float = .nan
        var times: [Double] = []
        for i in 0..<(warmup + repeats) {
            var start = DispatchTime.now().uptimeNanoseconds
            var rng = RandomGenerator(seed: recipe.seed, stream: UInt64(i))
            optimizer.zeroGrad()
            let batch = try method.makeBatch(step: i, rng: &rng, context: context)
            let loss = try method.loss(batch, context: context)
            loss.backward()
            if i == 0 {
                // Outside the timing: the dump, with the gradients before the optimiser uses them.
                let paused = DispatchTime.now().uptimeNanoseconds
                loss0 = loss.item
                try dumpStepZero(batch, loss: loss0, method: method, context: context, recipe: recipe, optimizer: optimizer)
                start += DispatchTime.now().uptimeNanoseconds - paused
            }
            optimizer.step()
            _ = loss.item
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let timed = times.dropFirst(warmup).sorted()
        return ["erase_step": timed[timed.count / 2], "erase_step_loss0": Double(loss0), "erase_step_prepare_s": prepareSeconds,
                "erase_step_trained_params": Double(context.trainedParameterCount)]
    }

    /// Everything the PyTorch peer needs to compute step 0's loss from the same inputs and to
    /// draw later batches the same way: the generated images, the noised batch, its timesteps,
    /// the prompts (and Lethe's token ids, to check the tokenizers agree), the recipe's settings,
    /// and the gradients of the trained tensors ("grad." + key), to check backward as well.
    static func dumpStepZero(_ batch: Anchor.Batch, loss: Float, method: Anchor, context: ErasureContext,
                             recipe: ErasureRecipe, optimizer: AdamW) throws {
        guard let dir = ProcessInfo.processInfo.environment["LETHE_BENCH_DUMP"], let images = method.images else { return }
        let b = batch.images
        let anchors = b.anchoredCaptions.map { $0 ?? recipe.anchor }
        let preserved = batch.preserved.map(\.prompt)
        let prompts = b.captions + anchors + preserved
        let ids = context.model.tokenizer(prompts)
        let idTensor = Tensor(shape: [ids.count, ids[0].count], data: ids.flatMap { $0.map(Float.init) })
        func json(_ value: Any) throws -> String {
            String(data: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), encoding: .utf8)!
        }
        let metadata: [String: String] = [
            "model": modelDirectory.path, "concept": concept, "method": method.name,
            "captions": try json(images.captions.flatMap { $0 }), "anchor": recipe.anchor,
            // Each caption's anchor, aligned with "captions" (in-context anchoring: the caption
            // with the concept replaced; prompt anchoring: the one anchor prompt).
            "anchored_captions": try json(zip(images.captions, images.anchoredCaptions).flatMap { captions, anchored in
                anchored ?? Array(repeating: recipe.anchor, count: captions.count)
            }),
            "preserve_prompts": try json(method.preservePrompts),
            "step0_captions": try json(b.captions), "step0_anchors": try json(anchors),
            "step0_preserved": try json(preserved), "step0_preserved_rows": try json(batch.preserved.map(\.row)),
            "step0_loss": "\(loss)",
            "encoder_subset": recipe.encoderSubset.rawValue,
            "trained_keys": try json(context.trainedParameters.map(\.key)),
            "lr": "\(recipe.lr)", "betas": try json(recipe.betas.map(Double.init)), "eps": "\(optimizer.eps)",
            "weight_decay": "\(recipe.weightDecay)", "grad_clip": "\(recipe.gradClip)", "batch_size": "\(recipe.batchSize)",
            "preserve_per_step": "\(recipe.preservePerStep)", "preservation_weight": "\(recipe.preservationWeight)",
            "embedding_weight": "\(recipe.embeddingWeight)",
        ]
        var tensors: [String: Tensor] = [
            "images": images.samples.count == 1 ? images.samples[0] : Tensor.concatenate(images.samples, axis: 0),
            "step0_sample": b.sample, "step0_timesteps": Tensor(shape: [b.timesteps.count], data: b.timesteps.map(Float.init)),
            "step0_input_ids": idTensor,
        ]
        for (key, tensor) in context.trainedParameters {
            guard let grad = tensor.grad else { throw BenchError("step 0 left no gradient on \(key)") }
            tensors["grad." + key] = grad
        }
        try SafeTensors.write(tensors, metadata: metadata, to: URL(fileURLWithPath: dir).appendingPathComponent("erase_step.safetensors"))
    }

    // MARK: erase_total, transfer_total

    /// `lethe erase` with the default recipe, then `lethe transfer` of its encoder, each timed
    /// with its peak resident memory (the child's ru_maxrss, the kernel's VmHWM at exit).
    static func wholeRuns(erase: Bool, transfer: Bool) throws -> [String: Double] {
        try checkModel()
        let lethe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lethe").path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let erased = work.appendingPathComponent("erased")
        var results: [String: Double] = [:]
        let eraseRun = try measure([lethe, "erase", "--model", modelDirectory.path, "--concept", concept, "--out", erased.path])
        // erase.json records the process's own VmHWM: a check on the figure measured from outside.
        if let data = try? Data(contentsOf: erased.appendingPathComponent("erase.json")),
           let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let bytes = report["peak_memory_bytes"] as? Double {
            log(String(format: "bench: lethe erase peak memory %.0f MB (erase.json says %.0f MB)", eraseRun.peakMB, bytes / 1_048_576))
        }
        if erase {
            results["erase_total"] = eraseRun.seconds
            results["erase_total_peak_mb"] = eraseRun.peakMB
        }
        if transfer {
            let into = transferTarget
            let run = try measure([lethe, "transfer", "--encoder", erased.path, "--into", into.path,
                                   "--out", work.appendingPathComponent("transferred").path])
            results["transfer_total"] = run.seconds
            results["transfer_total_peak_mb"] = run.peakMB
        }
        return results
    }

    /// Runs `arguments` (its stdout sent to our stderr, which keeps our stdout the JSON) and
    /// returns its wall time and peak resident memory; a failed run is an error.
    ///
    /// The peak is the child's ru_maxrss from wait4, except that Linux starts a spawned child's
    /// maxrss at the PARENT's high-water mark (exec records the vfork-shared memory's peak), so
    /// when the child's figure does not exceed ours it is only a bound, and the largest VmHWM
    /// read from /proc/PID/status while it ran is reported instead.
    static func measure(_ arguments: [String]) throws -> (seconds: Double, peakMB: Double) {
        log("bench: running \(arguments.joined(separator: " "))")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var usage = rusage()
        var polledKB = 0
        while true {
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw BenchError("wait4 for \(arguments[0]) failed: \(String(cString: strerror(errno)))") }
            polledKB = max(polledKB, highWaterKB(pid: pid) ?? 0)
            usleep(5_000)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        // Exited normally with status 0 (the low 7 bits are the terminating signal, bits 8–15 the code).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw BenchError("\(arguments.dropFirst().prefix(1).joined()) failed (wait status \(status))")
        }
        let ownKB = highWaterKB(pid: getpid()) ?? 0
        let peakKB = usage.ru_maxrss > ownKB ? usage.ru_maxrss : polledKB
        return (seconds, Double(peakKB) / 1024)
    }

    /// VmHWM of a running process in KB (nil once it has exited).
    static func highWaterKB(pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }
}
