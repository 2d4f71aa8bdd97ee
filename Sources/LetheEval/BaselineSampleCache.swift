// The baseline's samples in an erasure eval, kept between runs. Every row of an erasure table
// scores a new model against the same original on the same prompts and noise, so the original's
// samples are the same each time; generating them is half of every eval (on a video model, the
// larger half of the table's time). A cached tensor is used only when everything that makes it
// is the same: the model folder's bytes, the cases (prompt, seed), DDIM steps, guidance, batch,
// the detector's sample size and frame count, and this format's version.

import Foundation
import LetheCore

public struct BaselineSampleCache {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// The cache file for these inputs.
    func url(modelFolder: URL, cases: [EvaluationCase], options: EvaluationOptions, sampleSize: Int, frames: Int) throws -> URL {
        var key = "lethe baseline samples v1\n"
        key += try BaselineSampleCache.fingerprint(folder: modelFolder) + "\n"
        key += "steps \(options.steps) guidance \(options.guidance) batch \(options.batchSize) size \(sampleSize) frames \(frames)\n"
        for c in cases { key += "\(c.seed)\t\(c.entry.prompt)\n" }
        return directory.appendingPathComponent(SHA256.hex(Data(key.utf8)) + ".safetensors")
    }

    /// Cached samples, or `make()`'s, written (atomically) for next time.
    func samples(modelFolder: URL, cases: [EvaluationCase], options: EvaluationOptions, sampleSize: Int, frames: Int,
                 log: (String) -> Void, make: () throws -> Tensor) throws -> Tensor {
        let file = try url(modelFolder: modelFolder, cases: cases, options: options, sampleSize: sampleSize, frames: frames)
        if FileManager.default.fileExists(atPath: file.path), let cached = try? SafeTensors.load(file)["samples"] {
            log("eval: baseline samples from the cache (\(file.path))")
            return cached
        }
        let made = try make()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try SafeTensors.write(["samples": made], metadata: ["lethe.model": modelFolder.path], to: file)
        return made
    }

    /// SHA-256 over the relative path and content of every regular file under `folder`.
    static func fingerprint(folder: URL) throws -> String {
        let root = folder.standardizedFileURL
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw EvaluationError("\(folder.path): cannot list the model folder")
        }
        var entries: [String] = []
        for case let file as URL in walker {
            guard (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let relative = String(file.standardizedFileURL.path.dropFirst(root.path.count))
            entries.append(relative + " " + (try SHA256.hex(fileAt: file)))
        }
        return SHA256.hex(Data(entries.sorted().joined(separator: "\n").utf8))
    }
}
