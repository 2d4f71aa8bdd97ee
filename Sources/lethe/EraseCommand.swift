// `lethe erase`: erase concepts from a model with a chosen method and recipe, and write the
// erased model. Every argument, the concepts and the recipe are checked before the model is
// loaded, so a typo costs nothing.

import ArgumentParser
import Foundation
import LetheCore
import LetheModels
import LetheUnlearn
import LetheWorld

extension ErasureError: BadInput {}
extension TransferMismatch: BadInput {}

struct Erase: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase one or more concepts from a model (by default by fine-tuning only its text encoder).",
        discussion: """
            Concepts are world concepts (circle, red, checkered, left, ...) or any of their phrasings \
            ("ball", "Mira Kolt"); with --free-text a name that is neither is erased as the text itself. \
            Settings come from the method's defaults (configs/erase/<method>.yaml), then --config, then \
            the flags. The checkpoint lives beside the output (OUT.checkpoint.safetensors); Ctrl-C stops \
            after the current step and --resume continues. The output folder is written at the end, in \
            one piece, with erase.json describing the run.
            """)

    @Option(help: "The diffusers model folder to erase from.")
    var model: String
    @Option(help: "A concept to erase; repeat for several.")
    var concept: [String]
    @Flag(name: .customLong("free-text"), help: "Accept concept names that are not world concepts, as free text.")
    var freeText = false
    @Option(help: "The anchor prompt (anchor method): every concept caption is pulled to it (anchor_mode prompt). Without it the recipe decides.")
    var anchor: String?
    @Option(help: "esd, sdd, fewshot or anchor (default \(ErasureMethodKind.standard.rawValue)).")
    var method: String?
    @Option(help: "Weights to train: text-encoder, unet-xattn or unet-noxattn.")
    var params: String?
    @Option(help: "Training steps.")
    var steps: Int?
    @Option(help: "Learning rate.")
    var lr: Float?
    @Option(help: "Seed of everything random in the run.")
    var seed: UInt64?
    @Option(help: "A recipe YAML file (configs/erase/*.yaml); flags override it.")
    var config: String?
    @Option(help: "The erased model folder to write (must not exist).")
    var out: String
    @Flag(help: "Continue from the checkpoint beside --out.")
    var resume = false

    func execute() throws {
        let (recipe, concepts) = try plan()
        let outURL = URL(fileURLWithPath: out)
        if FileManager.default.fileExists(atPath: outURL.path) {
            throw CLIError("--out \(out) already exists; choose another folder or remove it")
        }
        let checkpoint = Self.checkpointURL(for: outURL)
        let hasCheckpoint = FileManager.default.fileExists(atPath: checkpoint.path)
        if resume && !hasCheckpoint { throw CLIError("--resume: no checkpoint at \(checkpoint.path)") }
        if !resume && hasCheckpoint {
            throw CLIError("\(checkpoint.path) exists from an unfinished run; pass --resume to continue it or remove it to start over")
        }
        let source = URL(fileURLWithPath: model)
        let m = try DiffusionModel.load(directory: source)
        let result = try ErasureTraining.run(model: m, request: ErasureRequest(
            concepts: concepts, recipe: recipe, checkpoint: checkpoint, resume: resume))
        if result.interrupted {
            FileHandle.standardError.write(Data("erase: stopped before the last step; nothing written to \(out)\n".utf8))
            throw ExitCode(130)
        }
        try ErasureOutput.write(model: m, source: source, result: result, recipe: recipe, to: outURL)
        try? FileManager.default.removeItem(at: checkpoint)
        let last = result.losses.last.map { String(format: "%.4f", $0) } ?? "-"
        print("wrote \(out) (\(result.method), \(result.losses.count) steps, final loss \(last), "
            + "\(String(format: "%.1f", result.seconds)) s)")
    }

    /// The recipe and concepts, fully checked; loads nothing but the recipe file.
    func plan() throws -> (ErasureRecipe, [ErasureConcept]) {
        guard !concept.isEmpty else { throw CLIError("give at least one --concept") }
        var requested: ErasureMethodKind?
        if let method {
            guard let kind = ErasureMethodKind(rawValue: method) else {
                throw CLIError("--method \(method): unknown method (expected \(ErasureMethodKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            requested = kind
        }
        var recipe = try config.map { try ErasureRecipe.load(URL(fileURLWithPath: $0), method: requested) }
            ?? ErasureRecipe.defaults(requested ?? .standard)
        if let params {
            guard let set = ParameterSet(rawValue: params) else {
                throw CLIError("--params \(params): unknown parameter set (expected \(ParameterSet.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            recipe.params = set
        }
        if let steps { recipe.steps = steps }
        if let lr { recipe.lr = lr }
        if let seed { recipe.seed = seed }
        if let anchor {
            guard recipe.method == .anchor else { throw CLIError("--anchor applies to the anchor method, not \(recipe.method.rawValue)") }
            recipe.anchor = anchor
            // Naming an anchor means "pull the captions to this prompt": in-context anchoring
            // would ignore it for world concepts.
            recipe.anchorMode = .prompt
        }
        try recipe.validate(source: "command line")
        let concepts = try concept.map { try ErasureConcept.resolve($0, allowFreeText: freeText) }
        var seen = Set<String>()
        for c in concepts where !seen.insert(c.name).inserted {
            throw CLIError("--concept \(c.name) is given twice")
        }
        return (recipe, concepts)
    }

    static func checkpointURL(for out: URL) -> URL {
        out.deletingLastPathComponent().appendingPathComponent(out.lastPathComponent + ".checkpoint.safetensors")
    }
}
