import ArgumentParser
import LetheCore

@main
struct Lethe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lethe",
        abstract: "Erase concepts from text-to-video diffusion models by fine-tuning the text encoder.",
        subcommands: [Encode.self, Generate.self, Inspect.self, Convert.self, World.self, Train.self, Erase.self, Transfer.self, Compare.self, Eval.self, Report.self, Detect.self])

    static func main() {
        OpenBLASKernels.relaunchWithKernelsForThisCPUIfNeeded()
        main(nil)
    }
}
