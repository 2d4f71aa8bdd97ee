// `lethe train`: the training jobs driven by a YAML recipe. Each subcommand runs on TrainingRun
// (progress lines on stderr, a checkpoint in the output folder, exact --resume, SIGINT stops
// cleanly after saving).

import ArgumentParser

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from a YAML recipe (configs/train/*.yaml).",
        subcommands: [TrainDetector.self])
}
