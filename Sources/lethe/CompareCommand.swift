// `lethe compare`: the same prompts and seeds through several models, side by side.

import ArgumentParser
import Foundation
import LetheEval
import LetheMedia

extension ComparisonError: BadInput {}

struct Compare: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render prompts with several models from the same initial noise, side by side.",
        discussion: "For every prompt and seed, writes a labelled side-by-side clip (video models: .mp4 and .gif) "
            + "or picture (image models: .png), one contact_sheet.png (rows prompt × seed, columns models, middle "
            + "frames) and index.json listing the files. Seed s gives every model the noise `lethe generate --seed s` "
            + "uses. --prompts reads JSON lines (configs/prompts/v1/*.jsonl) or plain text, one prompt per line.")

    @Option(parsing: .upToNextOption, help: "Model folders (all video or all image models).")
    var models: [String]
    @Option(help: "Prompt file: JSON lines with a \"prompt\" field, or one prompt per line.")
    var prompts: String
    @Option(help: "Seeds 0..<N per prompt.")
    var seeds = 1
    @Option(help: "Folder to write (created if needed).")
    var out: String
    @Option(help: "DDIM steps.")
    var steps = EvaluationOptions.worldSteps
    @Option(help: "Classifier-free guidance scale (1 turns guidance off). Default: the first model folder's generation_config.json, else \(EvaluationOptions.worldGuidance).")
    var guidance: Float?
    @Option(help: "Column labels, comma-separated, one per model (default: the folders' names).")
    var names: String?
    @Option(help: "Integer upscaling of the frames written.")
    var scale = 4
    @Option(help: "Frames per clip (video models).")
    var frames = 8
    @Option(help: "Frames per second of the clips.")
    var fps = 8
    @Option(name: .customLong("batch-size"), help: "Prompts denoised together.")
    var batchSize = 8

    func execute() throws {
        FFmpegLog.level = .error
        var options = ComparisonOptions()
        options.seeds = seeds
        options.steps = steps
        options.scale = scale
        options.frames = frames
        options.fps = fps
        options.batchSize = batchSize
        // Cheap checks first, so a typo in an option does not wait for models to load.
        if seeds <= 0 { throw CLIError("--seeds must be at least 1, got \(seeds)") }
        let promptList = try ComparisonPrompts.read(URL(fileURLWithPath: prompts))
        let labels = names.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let loaded = try ComparedModel.load(paths: models, names: labels)
        options.guidance = EvaluationOptions.guidance(guidance, for: loaded[0].model)
        let comparison = try Comparison(models: loaded, prompts: promptList, options: options)
        let started = Date()
        let index = try comparison.run(outputDirectory: URL(fileURLWithPath: out)) { p in
            progress(p.description, done: p.done)
        }
        let files = index.clips.count * (index.video ? 2 : 1) + 2
        print("wrote \(files) files to \(out) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
    }
}
