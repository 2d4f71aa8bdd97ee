// `lethe train text|image|video|detector`: the world's models trained from YAML recipes (configs/train). Each
// runs on TrainingRun: progress on stderr, an atomic checkpoint, exact --resume, SIGINT stops cleanly.

import ArgumentParser
import Foundation
import LetheCore
import LetheModels
import LetheWorld

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the world's models from a recipe (configs/train/*.yaml).",
        subcommands: [TrainText.self, TrainImage.self, TrainVideo.self, TrainDetector.self])
}

/// What the image and video subcommands share: a recipe, an output folder and a checkpoint beside it.
struct DiffusionTrainOptions: ParsableArguments {
    @Option(help: "Recipe (YAML); relative paths in it are read from the current directory.")
    var config: String

    @Option(help: "Model folder to write (diffusers layout), replaced atomically at the end.")
    var out: String

    @Option(help: "Checkpoint file (default: OUT.checkpoint.safetensors beside the output).")
    var checkpoint: String?

    @Flag(help: "Continue from the checkpoint.")
    var resume = false

    @Flag(help: "Write the model folder from the checkpoint's EMA weights at the step it holds, without training. The checkpoint stays, so the run can go on with --resume.")
    var export = false

    @Option(help: "Storage type of the saved weights: float32 or float16 (training is float32 either way).")
    var dtype = "float32"

    var output: URL { URL(fileURLWithPath: out) }
    var checkpointURL: URL { URL(fileURLWithPath: checkpoint ?? output.standardized.path + ".checkpoint.safetensors") }
    var baseDirectory: URL { URL(fileURLWithPath: FileManager.default.currentDirectoryPath) }

    /// Refuses a recipe of another kind than the subcommand's.
    func checkKind(_ found: String, _ kind: String) throws {
        guard found == kind else {
            throw CLIError("\(config): key 'kind': this is a \(found) recipe; use `lethe train \(found)`")
        }
    }

    /// The end of every run: exit 130 when stopped, else the finished run's checkpoint goes.
    func finish(_ result: TrainingResult) throws {
        if result.interrupted { throw ExitCode(130) }
        try? FileManager.default.removeItem(at: checkpointURL)
    }

    func run(kind: String) throws {
        if export && resume { throw CLIError("--export writes the checkpoint's model and trains nothing; leave out --resume") }
        let storage = try weightStorage(dtype)
        let recipe = try DiffusionTrainingRecipe.load(from: URL(fileURLWithPath: config))
        try checkKind(recipe.kind, kind)
        let training = try DiffusionTraining(recipe: recipe, baseDirectory: baseDirectory)
        if export {
            try training.export(checkpoint: checkpointURL, output: output, dtype: storage)
            return
        }
        try finish(try training.run(output: output, checkpoint: checkpointURL, resume: resume, dtype: storage))
    }
}

struct TrainText: LetheCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "Pretrain the text encoder to recognise the concepts captions name (writes text_encoder/ and tokenizer/).")
    @OptionGroup var options: DiffusionTrainOptions
    func execute() throws {
        if options.export { throw CLIError("--export is for image and video runs") }
        let storage = try weightStorage(options.dtype)
        let recipe = try TextPretrainingRecipe.load(from: URL(fileURLWithPath: options.config))
        try options.checkKind(recipe.kind, "text")
        let training = try TextEncoderPretraining(recipe: recipe, baseDirectory: options.baseDirectory)
        try options.finish(try training.run(output: options.output, checkpoint: options.checkpointURL,
                                            resume: options.resume, dtype: storage))
    }
}

struct TrainImage: LetheCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Train the text-to-image model (text encoder + UNet2D) from nothing, or on from init_from.")
    @OptionGroup var options: DiffusionTrainOptions
    func execute() throws { try options.run(kind: "image") }
}

struct TrainVideo: LetheCommand {
    static let configuration = CommandConfiguration(
        commandName: "video", abstract: "Train the text-to-video model (UNet3D inflated from the image model, or with video_unet: motion AnimateDiff motion modules added to it; its text encoder frozen).")
    @OptionGroup var options: DiffusionTrainOptions
    func execute() throws { try options.run(kind: "video") }
}
