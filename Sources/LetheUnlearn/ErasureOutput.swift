// Writes an erased model: the source folder with the trained component replaced, plus
// erase.json describing the run. Components that did not train are copied byte for byte (a
// text-encoder erasure leaves unet/ exactly as it was). Everything goes into a hidden folder
// beside the destination, which is renamed into place last: an interrupted write leaves no
// half-written model under the destination's name.

import Foundation
import LetheCore
import LetheModels

public enum ErasureOutput {
    public static let reportName = "erase.json"
    /// Reports describing how the SOURCE folder was made; they are not copied into a new model
    /// (the new report names its source folder, which keeps them).
    static let provenanceReports: Set<String> = [reportName, EncoderTransfer.reportName]

    public static func write(model: DiffusionModel, source: URL, result: ErasureResult, recipe: ErasureRecipe,
                             to destination: URL) throws {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: destination.path) else {
            throw ErasureError("\(destination.path) already exists; choose another --out or remove it")
        }
        let replaced = recipe.params.trainsUNet ? "unet" : "text_encoder"
        try stage(beside: destination) { staging in
            for name in try fm.contentsOfDirectory(atPath: source.path) where name != replaced && !name.hasPrefix(".") && !provenanceReports.contains(name) {
                try fm.copyItem(at: source.appendingPathComponent(name), to: staging.appendingPathComponent(name))
            }
            if recipe.params.trainsUNet {
                try model.unet.save(to: staging.appendingPathComponent("unet"), dtype: .f32)
            } else {
                try model.textEncoder.save(to: staging.appendingPathComponent("text_encoder"))
            }
            let report = self.report(result: result, recipe: recipe, source: source)
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try data.write(to: staging.appendingPathComponent(reportName))
        }
    }

    /// erase.json: what ran, on what, with which settings, and what it cost.
    public static func report(result: ErasureResult, recipe: ErasureRecipe, source: URL) -> [String: Any] {
        var report: [String: Any] = [
            "method": result.method,
            "source_model": source.path,
            "recipe": recipe.json,
            "seed": recipe.seed,
            "parameter_set": recipe.params.rawValue,
            "trained_parameter_count": result.trainedParameterCount,
            "trained_tensors": result.trainedParameterKeys.count,
            "concepts": result.targets.map { t -> [String: Any] in
                ["name": t.concept.name, "family": t.concept.family?.rawValue ?? "free-text", "prompt": t.concept.prompt,
                 "captions": t.captions.count]
            },
            "steps": result.losses.count,
            "losses": result.losses.map(decimal),
            "seconds": result.seconds,
            "training_seconds": result.trainingSeconds,
        ]
        report["peak_memory_bytes"] = result.peakMemoryBytes ?? NSNull()
        report["resumed_from"] = result.resumedFrom ?? NSNull()
        return report
    }

    /// Runs `fill` on an empty hidden folder beside `destination`, then renames it to
    /// `destination`, which must not exist.
    static func stage(beside destination: URL, _ fill: (URL) throws -> Void) throws {
        try writeDirectoryAtomically(to: destination, replaceExisting: false, fill)
    }
}
