// `lethe train image|video|detector`: the world's models trained from YAML recipes (configs/train). Each
// runs on TrainingRun: progress on stderr, an atomic checkpoint, exact --resume, SIGINT stops cleanly.

import ArgumentParser
import Foundation
import LetheCore
import LetheModels
import LetheWorld

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the world's models from a recipe (configs/train/*.yaml).",
        subcommands: [TrainImage.self, TrainVideo.self, TrainDetector.self])
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

    @Option(help: "Storage type of the saved weights: float32 or float16 (training is float32 either way).")
    var dtype = "float32"

    func run(kind: String) throws {
        let storage = try weightStorage(dtype)
        let recipe = try DiffusionTrainingRecipe.load(from: URL(fileURLWithPath: config))
        guard recipe.kind == kind else {
            throw CLIError("\(config): key 'kind': this is a \(recipe.kind) recipe; use `lethe train \(recipe.kind)`")
        }
        let output = URL(fileURLWithPath: out)
        let checkpointURL = URL(fileURLWithPath: checkpoint ?? output.standardized.path + ".checkpoint.safetensors")
        let training = try DiffusionTraining(recipe: recipe, baseDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        let result = try training.run(output: output, checkpoint: checkpointURL, resume: resume, dtype: storage)
        if result.interrupted { throw ExitCode(130) }
        try? FileManager.default.removeItem(at: checkpointURL)
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
        commandName: "video", abstract: "Train the text-to-video model (UNet3D inflated from the image model; its text encoder frozen).")
    @OptionGroup var options: DiffusionTrainOptions
    func execute() throws { try options.run(kind: "video") }
}
