// `lethe eval`: a model's scores on a prompt set, or an erased model against its original.
// Every input is checked before any sample is generated, and nothing is written on bad input;
// the JSON is written atomically (the keys are LetheEval's ModelEvaluation / ErasureEvaluation).

import ArgumentParser
import Foundation
import LetheCore
import LetheEval
import LetheMedia
import LetheModels
import LetheWorld

struct Eval: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model with the concept detector, or an erased model against its original.",
        discussion: """
            Model mode (--model DIR): every prompt of --prompts that suits the model (clip prompts for a video \
            model, image prompts for an image model) is generated with DDIM for each seed and read by the \
            detector: accuracy per family and concept, split by keyword and paraphrased wordings; Fréchet \
            distance of detector features to ground-truth renders of the same prompts; temporal consistency \
            (clips).

            Erasure mode (--model ERASED --baseline ORIGINAL --erased NAME): both models draw the same prompts \
            from the same noise. target: how often the erased concept is still detected on eval prompts naming \
            it by keyword; paraphrase: the same on --heldout prompts naming it; in_domain: accuracy on the other \
            concepts of its family; cross_domain: accuracy on the other families; standard_errors: of each \
            rate and of each change (erased − baseline, paired on the same prompts and noise); per concept and \
            quality for both models. --samples K writes K GIFs of each model beside the JSON (samples/).
            """)

    @Option(help: "The model folder to score (the erased model in erasure mode).")
    var model: String
    @Option(help: "Erasure mode: the original model the erased one was made from.")
    var baseline: String?
    @Option(help: "Erasure mode: the erased concept (keyword, synonym, description or artist name).")
    var erased: String?
    @Option(help: "Prompt set (JSON lines of PromptEntry).")
    var prompts = "configs/prompts/v1/eval.jsonl"
    @Option(help: "Erasure mode: held-out prompt set, for the paraphrase number.")
    var heldout = "configs/prompts/v1/heldout.jsonl"
    @Option(help: "The concept detector folder.")
    var detector = "models/detector"
    @Option(parsing: .unconditional, help: "Samples per prompt (seed i gives the same initial noise for every model).")
    var seeds = 1
    @Option(parsing: .unconditional, help: "DDIM steps.")
    var steps = EvaluationOptions.worldSteps
    @Option(parsing: .unconditional, help: "Classifier-free guidance scale (≤ 1: none). Default: the model folder's generation_config.json (in erasure mode the baseline's), else \(EvaluationOptions.worldGuidance).")
    var guidance: Float?
    @Option(parsing: .unconditional, help: "Prompts per pipeline call.")
    var batch = 8
    @Option(name: .customLong("prompts-per-group"), parsing: .unconditional,
            help: "Erasure mode: at most N prompts per group (target, paraphrase, in-domain, cross-domain); 0: all. Default: \(Eval.defaultPromptsPerGroup.video) for a video model, \(Eval.defaultPromptsPerGroup.image) for an image model.")
    var promptsPerGroup: Int?
    @Option(parsing: .unconditional, help: "Model mode: score only the first N suitable prompts (0: all).")
    var limit = 0
    @Option(parsing: .unconditional, help: "Erasure mode: GIFs of each model to write beside the JSON.")
    var samples = 4
    @Option(name: .customLong("baseline-cache"),
            help: "Erasure mode: a folder that keeps the baseline's samples between evals (same baseline folder, prompts, seeds and settings: generated once).")
    var baselineCache: String?
    @Option(help: "Where to write the JSON report.")
    var json: String
    @Option(help: "Also write an HTML report of the JSON.")
    var html: String?

    /// Measured on the shared two cores (release build, other jobs running): one guided DDIM
    /// step of one 8-frame 32×32 sample through a UNet3D of the image recipe's widths
    /// ([16, 32, 64]) takes about 2.6 s, so a clip costs about a minute per model at 25 steps.
    /// Two prompts per group (at most about six distinct prompts, each drawn by both models) keep
    /// a video erasure eval near ten minutes at worst; an image sample is roughly ten times
    /// cheaper.
    static let defaultPromptsPerGroup = (video: 4, image: 8)

    func execute() throws {
        guard seeds > 0 else { throw CLIError("--seeds must be at least 1, got \(seeds)") }
        guard steps > 0 else { throw CLIError("--steps must be at least 1, got \(steps)") }
        if let guidance, !(guidance.isFinite && guidance >= 0) { throw CLIError("--guidance must be a non-negative number, got \(guidance)") }
        guard batch > 0 else { throw CLIError("--batch must be at least 1, got \(batch)") }
        if let promptsPerGroup, promptsPerGroup < 0 {
            throw CLIError("--prompts-per-group must be 0 (all) or more, got \(promptsPerGroup)")
        }
        guard limit >= 0 else { throw CLIError("--limit must be 0 (all) or more, got \(limit)") }
        guard samples >= 0 else { throw CLIError("--samples must be 0 or more, got \(samples)") }
        switch (baseline, erased) {
        case (nil, nil), (.some, .some): break
        case (nil, .some): throw CLIError("--erased needs --baseline (the original model)")
        case (.some, nil): throw CLIError("--baseline needs --erased (the concept that was erased)")
        }
        let concept = try erased.map { try NamedConcept.resolve($0) }
        let jsonURL = URL(fileURLWithPath: json)
        try checkFolder(of: jsonURL, option: "--json")
        if let html { try checkFolder(of: URL(fileURLWithPath: html), option: "--html") }
        let promptSet = try PromptSet.read(URL(fileURLWithPath: prompts))
        let heldoutSet = try concept.map { _ in try PromptSet.read(URL(fileURLWithPath: heldout)) }
        let judge = try ConceptDetector.load(from: URL(fileURLWithPath: detector))
        let scored = try DiffusionModel.load(directory: URL(fileURLWithPath: model))
        let original = try baseline.map { try DiffusionModel.load(directory: URL(fileURLWithPath: $0)) }

        var options = EvaluationOptions()
        options.seeds = seeds
        options.steps = steps
        options.guidance = EvaluationOptions.guidance(guidance, for: original ?? scored)
        options.batchSize = batch
        let evaluator = ModelEvaluator(detector: judge, options: options)
        let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        var progress = ProgressEstimate(unit: scored.isVideo ? "clips" : "images")

        let data: Data
        if let concept, let original, let baseline, let heldoutSet {
            let video = scored.isVideo
            let groups = ErasureGroups(concept: concept, eval: ModelEvaluator.entries(promptSet, video: video),
                                       heldout: ModelEvaluator.entries(heldoutSet, video: video),
                                       perGroup: perGroup(video: video))
            log("eval: \(concept.family.rawValue) '\(concept.keyword)': \(groups.target.count) target, \(groups.paraphrase.count) "
                + "paraphrase, \(groups.inDomain.count) in-domain, \(groups.crossDomain.count) cross-domain prompts "
                + "(\(groups.all.count) distinct) × \(seeds) seed(s), two models")
            let folder = jsonURL.deletingLastPathComponent()
            let output = ErasureEvaluator.SampleOutput(count: samples, directory: folder.appendingPathComponent("samples"),
                                                       relativeTo: folder)
            let report = try ErasureEvaluator(evaluator: evaluator, concept: concept).evaluate(
                model: scored, modelPath: model, baseline: original, baselinePath: baseline, groups: groups,
                detectorPath: detector, samples: output,
                baselineCache: baselineCache.map { BaselineSampleCache(directory: URL(fileURLWithPath: $0)) }, log: log
            ) { label, done, total in log("eval: " + progress.line(done: done, total: total, phase: label)) }
            data = try encode(report)
            let r = report.retention, se = report.standardErrors
            // A retention figure with its change and that change's standard error: "71.2% (−8.1 pp ± 4.0)".
            func kept(_ v: Double, _ base: Double, _ error: Double?) -> String {
                pct(v) + " (" + StandardError.changeText(v - base, error: error) + ")"
            }
            log("eval: target \(pct(report.erasure.target)) (baseline \(pct(report.erasure.targetBaseline))), "
                + "in-domain \(kept(r.inDomain, r.inDomainBaseline, se?.inDomainChange)), "
                + "cross-domain \(kept(r.crossDomain, r.crossDomainBaseline, se?.crossDomainChange)) "
                + "in \(formatDuration(report.seconds))")
        } else {
            let report = try evaluator.evaluate(model: scored, modelPath: model, prompts: promptSet, promptsPath: prompts,
                                                detectorPath: detector, limit: limit == 0 ? nil : limit) { done, total in
                log("eval: " + progress.line(done: done, total: total))
            }
            data = try encode(report)
            let families = report.metrics.sorted { $0.key < $1.key }.map { "\($0.key) \(pct($0.value.accuracy))" }
            log("eval: \(report.promptCount) prompts: \(families.joined(separator: ", ")) in \(formatDuration(report.seconds))")
        }
        try writeAtomically(data, to: jsonURL)
        if let html { try writeHTMLReport(json: data, to: URL(fileURLWithPath: html)) }
        print("wrote \(json)\(html.map { " and \($0)" } ?? "")")
    }

    private func perGroup(video: Bool) -> Int? {
        let n = promptsPerGroup ?? (video ? Eval.defaultPromptsPerGroup.video : Eval.defaultPromptsPerGroup.image)
        return n == 0 ? nil : n
    }

    private func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data("\n".utf8)
    }

    private func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    private func checkFolder(of url: URL, option: String) throws {
        var isDirectory: ObjCBool = false
        let folder = url.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("\(option): no folder \(folder.path) to write \(url.lastPathComponent) into")
        }
    }

    /// The JSON's page (LetheEval's HTMLReport); sample clips are read relative to the JSON's folder.
    private func writeHTMLReport(json data: Data, to url: URL) throws {
        let page = try HTMLReport.render(data, baseDirectory: URL(fileURLWithPath: json).deletingLastPathComponent())
        try writeAtomically(Data(page.utf8), to: url)
    }
}

extension PromptSetError: BadInput {}
extension EvaluationError: BadInput {}
