// generation_config.json: the sampling settings a model folder recommends, after the file of the
// same name that transformers keeps beside a language model's weights. Diffusers has no such file
// (a pipeline's guidance scale is a call argument), so one model folder cannot tell another user
// that it was tuned at guidance 2 rather than the world's usual 2.5; this file does. Optional:
// a folder without it samples at the caller's default. diffusers ignores it.

import Foundation
import LetheCore

public struct GenerationConfig: Equatable, Sendable {
    public static let fileName = "generation_config.json"

    /// Classifier-free guidance scale the model was chosen at (nil: no recommendation).
    public var guidanceScale: Float?

    public init(guidanceScale: Float? = nil) {
        self.guidanceScale = guidanceScale
    }

    /// The folder's generation_config.json, or an empty config when it has none.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent(Self.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { self.init(); return }
        let config = try JSONConfig(contentsOf: url)
        guard let scale = try config.optionalDouble("guidance_scale") else { self.init(); return }
        guard scale.isFinite, scale >= 0 else {
            throw ConfigError(source: url.path, key: "guidance_scale", "expected a non-negative number, found \(scale)")
        }
        self.init(guidanceScale: Float(scale))
    }

    /// Writes the file into `directory` (atomically); an empty config writes nothing.
    public func write(to directory: URL) throws {
        guard let guidanceScale else { return }
        try JSONConfig(values: ["guidance_scale": .double(Double(guidanceScale))], source: Self.fileName)
            .write(to: directory.appendingPathComponent(Self.fileName))
    }
}
