// `lethe encode` and `lethe generate`: the text encoder's output, and text → image or clip.

import ArgumentParser
import Foundation
import LetheCore
import LetheEval
import LetheMedia
import LetheModels

struct Encode: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the text encoder's last hidden state for a prompt (padded to the tokenizer's length).")

    @Option(help: "A diffusers model folder (model_index.json, tokenizer/, text_encoder/, ...).")
    var model: String
    @Option(help: "The prompt; repeat for a batch.")
    var prompt: [String]
    @Option(help: "Output .safetensors file; the tensor is named last_hidden_state, shape [prompts, length, hidden].")
    var out: String

    func execute() throws {
        guard out.hasSuffix(".safetensors") else { throw CLIError("--out \(out): expected a .safetensors file") }
        let m = try DiffusionModel.load(directory: URL(fileURLWithPath: model))
        let hidden = try Autograd.inference { try DiffusionPipeline(model: m).encode(prompt) }
        try SafeTensors.write(["last_hidden_state": hidden], metadata: ["prompts": prompt.joined(separator: "\n")],
                              to: URL(fileURLWithPath: out))
        print("wrote \(out) \(hidden.shape)")
    }
}

struct Generate: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate an image (image model) or a clip (video model) from text.",
        discussion: "The output kind follows --out: .png (images; one file per prompt when several), .mp4 or "
            + ".gif (clips), or .safetensors (the final sample as float32, shape (batch, channels[, frames], height, "
            + "width), before conversion to pixels). --init-noise FILE.safetensors (one tensor, or one named "
            + "\"noise\") makes a run reproducible by any other implementation.")

    @Option(help: "A diffusers model folder.")
    var model: String
    @Option(help: "The prompt; repeat for a batch.")
    var prompt: [String]
    @Option(name: .customLong("negative-prompt"), help: "Text to guide away from (classifier-free guidance's unconditional side).")
    var negativePrompt: String?
    @Option(help: "Frames per clip (video models).")
    var frames = 8
    @Option(help: "DDIM steps.")
    var steps = 25
    @Option(help: "Classifier-free guidance scale (1 turns guidance off). Default: the model folder's generation_config.json, else \(EvaluationOptions.worldGuidance), which suits the world's models (as eval and compare use); Stable Diffusion checkpoints usually want 7.5.")
    var guidance: Float?
    @Option(help: "Seed of the initial noise.")
    var seed: UInt64 = 0
    @Option(name: .customLong("init-noise"), help: "Initial noise from a .safetensors file instead of --seed.")
    var initNoise: String?
    @Option(help: "Frames per second of .mp4/.gif output.")
    var fps = 8
    @Option(help: "Integer upscaling of written pictures (small models make 32×32 frames).")
    var scale = 4
    @Option(help: "Output file: .png, .mp4, .gif or .safetensors.")
    var out: String

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be at least 1") }
        guard frames > 0 else { throw ValidationError("--frames must be at least 1") }
        guard scale > 0, scale <= 64 else { throw ValidationError("--scale must be between 1 and 64") }
        guard fps > 0 else { throw ValidationError("--fps must be positive") }
        if let guidance, !(guidance.isFinite && guidance >= 0) { throw ValidationError("--guidance must be a non-negative number") }
        guard ["png", "mp4", "gif", "safetensors"].contains(URL(fileURLWithPath: out).pathExtension.lowercased()) else {
            throw ValidationError("--out \(out): expected a .png, .mp4, .gif or .safetensors file")
        }
    }

    func execute() throws {
        FFmpegLog.level = .error
        let outURL = URL(fileURLWithPath: out)
        let kind = outURL.pathExtension.lowercased()
        let m = try DiffusionModel.load(directory: URL(fileURLWithPath: model))
        if m.isVideo && kind == "png" { throw CLIError("--out \(out): this is a video model; write .mp4, .gif or .safetensors") }
        if !m.isVideo && (kind == "mp4" || kind == "gif") {
            throw CLIError("--out \(out): this is an image model; write .png or .safetensors")
        }
        var options = GenerationOptions()
        options.steps = steps
        options.guidance = EvaluationOptions.guidance(guidance, for: m)
        options.negativePrompt = negativePrompt
        options.frames = frames
        options.seed = seed
        if let initNoise { options.initNoise = try loadNoise(initNoise) }
        let started = Date()
        let sample = try DiffusionPipeline(model: m).generate(prompts: prompt, options: options) { step in
            progress("generate: step \(step.index)/\(step.count)", done: step.index == step.count)
        }
        try write(sample, kind: kind, to: outURL, video: m.isVideo)
        print("wrote \(out) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
    }

    private func loadNoise(_ path: String) throws -> Tensor {
        let file = try SafeTensorsFile(url: URL(fileURLWithPath: path))
        if file.tensorNames.contains("noise") { return try file.tensor("noise") }
        guard file.tensorNames.count == 1 else {
            throw CLIError("\(path): expected one tensor or one named \"noise\", found \(file.tensorNames.count)")
        }
        return try file.tensor(file.tensorNames[0])
    }

    private func write(_ sample: Tensor, kind: String, to url: URL, video: Bool) throws {
        if kind == "safetensors" {
            try SafeTensors.write(["sample": sample], metadata: ["prompts": prompt.joined(separator: "\n")], to: url)
            return
        }
        let n = sample.shape[0], c = sample.shape[1]
        let h = sample.shape[sample.rank - 2], w = sample.shape[sample.rank - 1]
        let f = video ? sample.shape[2] : 1
        let per = c * f * h * w
        for i in 0..<n {
            let target = n == 1 ? url : url.deletingPathExtension().appendingPathExtension("\(i).\(kind)")
            let frames = RGBFrame.frames(from: sample.pointer + i * per, layout: .cfhw, channels: c, frames: f,
                                         height: h, width: w, range: .minusOneToOne).map { $0.upscaled(by: scale) }
            switch kind {
            case "png": try writePNG(frames[0], to: target)
            case "mp4": try writeMP4(frames: frames, fps: Double(fps), to: target)
            default: try writeGIF(frames: frames, fps: Double(fps), to: target)
            }
        }
    }
}

/// A progress line on stderr, rewritten in place on a terminal.
func progress(_ line: String, done: Bool) {
    let terminal = isatty(STDERR_FILENO) != 0
    if terminal {
        FileHandle.standardError.write(Data("\r\(line)\u{1B}[K\(done ? "\n" : "")".utf8))
    } else if done {
        FileHandle.standardError.write(Data("\(line)\n".utf8))
    }
}

struct Convert: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a model folder and save it again in Lethe's layout (float32 or float16 safetensors, normalised configs).",
        discussion: "Components Lethe does not run (vae/, safety_checker/, ...) are copied unchanged.")

    @Option(help: "A diffusers model folder.")
    var model: String
    @Option(help: "The folder to write (replaced atomically if it exists).")
    var out: String
    @Option(help: "Storage type of the weights: float32 or float16.")
    var dtype = "float32"

    func execute() throws {
        let storage = try weightStorage(dtype)
        let m = try DiffusionModel.load(directory: URL(fileURLWithPath: model))
        try m.save(to: URL(fileURLWithPath: out), dtype: storage)
        print("wrote \(out)")
    }
}
