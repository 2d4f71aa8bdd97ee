// `lethe train detector`: the concept detector, the judge of every erasure number.

import ArgumentParser
import Foundation
import LetheCore
import LetheEval

struct TrainDetector: LetheCommand {
    static let configuration = CommandConfiguration(
        commandName: "detector",
        abstract: "Train the concept detector on rendered ground truth.",
        discussion: "Writes OUT/config.json and OUT/model.safetensors, then scores the saved weights on held-out "
            + "renders (OUT/accuracy.json) and copies the recipe to OUT/recipe.yaml. OUT/checkpoint.safetensors is "
            + "rewritten every checkpoint_every steps; --resume continues from it (same recipe only) and Ctrl-C stops "
            + "after saving one. The checkpoint is removed once the model is written.")

    @Option(help: "The recipe (YAML), e.g. configs/train/detector.yaml.")
    var config: String
    @Option(help: "The folder to write (created if needed).")
    var out: String
    @Flag(help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false

    func execute() throws {
        let recipeURL = URL(fileURLWithPath: config)
        // Checked here so every message names the recipe file, before any output exists.
        let recipe = try DetectorRecipe.load(from: recipeURL)
        try recipe.validate(file: config)
        if let initFrom = recipe.initFrom, !FileManager.default.fileExists(atPath: initFrom) {
            throw CLIError("\(config): key 'init_from': no detector folder at \(initFrom)")
        }
        let outURL = URL(fileURLWithPath: out)
        let checkpoint = outURL.appendingPathComponent(DetectorTraining.checkpointFile)
        if resume && !FileManager.default.fileExists(atPath: checkpoint.path) {
            throw CLIError("--resume: no checkpoint at \(checkpoint.path)")
        }
        let result = try DetectorTraining.run(recipe: recipe, outDirectory: outURL, resume: resume) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
        if result.interrupted {
            FileHandle.standardError.write(Data("detector: stopped after \(result.steps) steps; continue with --resume\n".utf8))
            throw ExitCode(130)
        }
        let recipeText = try Data(contentsOf: recipeURL)
        try writeAtomically(recipeText, to: outURL.appendingPathComponent("recipe.yaml"))
        try? FileManager.default.removeItem(at: checkpoint)
        var line = "trained \(out) in \(formatDuration(result.seconds)) (\(result.steps) steps)"
        if let accuracy = result.accuracy { line += "; held-out \(accuracy.summary)" }
        print(line)
    }
}

/// A detector folder or recipe the user named is wrong (a failure to write is reported by the
/// file system error instead).
extension DetectorError: BadInput {}
