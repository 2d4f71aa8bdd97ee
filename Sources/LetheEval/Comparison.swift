// `lethe compare`: several models render the same prompts from the same initial noise, so any
// difference between their columns comes from the models (an erased encoder, a transferred one)
// and not from the sampler's luck.

import Foundation
import LetheCore
import LetheMedia
import LetheModels
import LetheWorld

/// A comparison that cannot run as asked (bad prompt file, models that do not fit together).
public struct ComparisonError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The prompts of a comparison, from either kind of prompt file Lethe users have at hand.
public enum ComparisonPrompts {
    /// Reads JSON lines of `PromptEntry` (configs/prompts/v1/*.jsonl) when the first non-blank line
    /// starts with "{", otherwise plain text with one prompt per line. Blank lines are skipped.
    public static func read(_ url: URL) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw ComparisonError("\(url.path): cannot read prompts: \(exists ? "permission denied or not a file" : "no such file")")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ComparisonError("\(url.path): the prompt file is not UTF-8 text")
        }
        return try parse(text, source: url.path)
    }

    public static func parse(_ text: String, source: String) throws -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let first = lines.firstIndex(where: { !$0.isEmpty }) else {
            throw ComparisonError("\(source): the prompt file is empty; expected one prompt per line or JSON lines with a \"prompt\" field")
        }
        if lines[first].hasPrefix("{") {
            do {
                let name = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
                return try PromptSet.parse(text, source: source, name: name).entries.map(\.prompt)
            } catch let error as PromptSetError {
                throw ComparisonError(error.description)
            }
        }
        var prompts: [String] = []
        for (i, line) in lines.enumerated() where !line.isEmpty {
            // A JSON line among plain prompts is almost surely a mistake, and would be drawn verbatim.
            if line.hasPrefix("{") {
                throw ComparisonError("\(source):\(i + 1): looks like a JSON line, but line \(first + 1) is plain text; use one format for the whole file")
            }
            prompts.append(line)
        }
        return prompts
    }
}

/// A model in a comparison and the name its column is labelled with.
public struct ComparedModel {
    public var name: String
    public var path: String
    public var model: DiffusionModel

    public init(name: String, path: String, model: DiffusionModel) {
        self.name = name
        self.path = path
        self.model = model
    }

    /// Loads the model folders; `names` (one per folder) replaces the default labels, the folders' names.
    public static func load(paths: [String], names: [String]? = nil) throws -> [ComparedModel] {
        guard !paths.isEmpty else { throw ComparisonError("no model folder given") }
        if let names {
            guard names.count == paths.count else {
                throw ComparisonError("--names gives \(names.count) name(s) for \(paths.count) model(s); give one per model")
            }
            if let blank = names.firstIndex(where: { $0.allSatisfy(\.isWhitespace) }) {
                throw ComparisonError("--names: name \(blank + 1) is empty")
            }
        }
        return try paths.enumerated().map { i, path in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ComparisonError("\(path): no such model folder")
            }
            let url = URL(fileURLWithPath: path)
            let model = try DiffusionModel.load(directory: url)
            return ComparedModel(name: names?[i] ?? url.standardizedFileURL.lastPathComponent, path: path, model: model)
        }
    }
}

public struct ComparisonOptions: Sendable {
    /// Seeds 0..<seeds; seed s gives every prompt and every model the noise `lethe generate --seed s` uses.
    public var seeds = 1
    public var steps = EvaluationOptions.worldSteps
    public var guidance = EvaluationOptions.worldGuidance
    /// Frames per clip (video models).
    public var frames = 8
    public var fps = 8
    /// Integer upscaling of the frames written.
    public var scale = 4
    /// Prompts denoised together: larger batches make larger, faster GEMMs but hold more memory.
    public var batchSize = 8

    public init() {}
}

/// Where a comparison run has got to, for progress lines.
public struct ComparisonProgress: CustomStringConvertible, Sendable {
    public var model: String
    public var modelIndex: Int
    public var modelCount: Int
    public var seed: Int
    public var prompts: Range<Int>
    public var promptCount: Int
    public var step: Int
    public var steps: Int

    public var done: Bool { step == steps && prompts.upperBound == promptCount }

    public var description: String {
        "compare: \(model) (\(modelIndex + 1)/\(modelCount)) seed \(seed) prompts \(prompts.lowerBound + 1)-\(prompts.upperBound)/\(promptCount) step \(step)/\(steps)"
    }
}

/// What a comparison run wrote, saved as index.json in its folder; paths are relative to it.
public struct ComparisonIndex: Codable, Equatable, Sendable {
    public struct Model: Codable, Equatable, Sendable {
        public var name: String
        public var path: String
    }

    public struct Clip: Codable, Equatable, Sendable {
        public var promptIndex: Int
        public var prompt: String
        public var seed: Int
        /// Side-by-side clip (video models).
        public var mp4: String?
        public var gif: String?
        /// Side-by-side picture (image models).
        public var png: String?

        enum CodingKeys: String, CodingKey { case promptIndex = "prompt_index", prompt, seed, mp4, gif, png }
    }

    public var video: Bool
    public var models: [Model]
    public var prompts: [String]
    public var seeds: Int
    public var steps: Int
    public var guidance: Double
    /// Frames per clip: 1 for image models.
    public var frames: Int
    public var fps: Int
    public var scale: Int
    public var clips: [Clip]
    /// Rows are prompt × seed, columns models, each cell the clip's middle frame.
    public var contactSheet: String

    enum CodingKeys: String, CodingKey {
        case video, models, prompts, seeds, steps, guidance, frames, fps, scale, clips, contactSheet = "contact_sheet"
    }
}

public struct Comparison {
    public let models: [ComparedModel]
    public let prompts: [String]
    public let options: ComparisonOptions
    public let video: Bool

    /// Checks everything a run needs before anything is rendered or written.
    public init(models: [ComparedModel], prompts: [String], options: ComparisonOptions) throws {
        guard let first = models.first else { throw ComparisonError("no model to compare") }
        guard !prompts.isEmpty else { throw ComparisonError("no prompt to render") }
        guard options.seeds > 0 else { throw ComparisonError("--seeds must be at least 1, got \(options.seeds)") }
        guard options.steps > 0 else { throw ComparisonError("--steps must be at least 1, got \(options.steps)") }
        guard options.frames > 0 else { throw ComparisonError("--frames must be at least 1, got \(options.frames)") }
        guard options.fps > 0 else { throw ComparisonError("--fps must be positive, got \(options.fps)") }
        guard (1...64).contains(options.scale) else { throw ComparisonError("--scale must be between 1 and 64, got \(options.scale)") }
        guard options.batchSize > 0 else { throw ComparisonError("batch size must be at least 1") }
        func kind(_ m: ComparedModel) -> String { m.model.isVideo ? "a video model" : "an image model" }
        for m in models.dropFirst() where m.model.isVideo != first.model.isVideo {
            throw ComparisonError("\(m.path) is \(kind(m)) but \(first.path) is \(kind(first)); compare needs all video or all image models")
        }
        // The same noise must fit every model, or the columns would not start from the same sample.
        let shape = DiffusionPipeline(model: first.model).noiseShape(count: 1, frames: options.frames)
        for m in models.dropFirst() {
            let other = DiffusionPipeline(model: m.model).noiseShape(count: 1, frames: options.frames)
            guard other == shape else {
                throw ComparisonError("\(m.path) samples noise of shape \(other) but \(first.path) samples \(shape); the models must share channels and sample size")
            }
        }
        self.models = models
        self.prompts = prompts
        self.options = options
        self.video = first.model.isVideo
    }

    var framesPerSample: Int { video ? options.frames : 1 }

    /// The initial noise of one sample for `seed`: the same for every prompt and every model.
    func noise(seed: Int) -> Tensor {
        var rng = RandomGenerator(seed: UInt64(seed))
        let first = models[0].model
        return first.drawNoise(DiffusionPipeline(model: first).noiseShape(count: 1, frames: options.frames), rng: &rng)
    }

    /// Frames (unscaled) of every prompt for one model and seed, in prompt order.
    func render(model index: Int, seed: Int, progress: ((ComparisonProgress) -> Void)?) throws -> [[RGBFrame]] {
        let pipeline = DiffusionPipeline(model: models[index].model)
        let single = noise(seed: seed)
        var out: [[RGBFrame]] = []
        var start = 0
        while start < prompts.count {
            let end = min(prompts.count, start + options.batchSize)
            var generation = GenerationOptions()
            generation.steps = options.steps
            generation.guidance = options.guidance
            generation.frames = options.frames
            generation.seed = UInt64(seed)
            generation.initNoise = Tensor.concatenate(Array(repeating: single, count: end - start), axis: 0)
            let sample = try pipeline.generate(prompts: Array(prompts[start..<end]), options: generation) { step in
                progress?(ComparisonProgress(model: models[index].name, modelIndex: index, modelCount: models.count,
                                             seed: seed, prompts: start..<end, promptCount: prompts.count,
                                             step: step.index, steps: step.count))
            }
            let c = sample.shape[1], h = sample.shape[sample.rank - 2], w = sample.shape[sample.rank - 1]
            let f = framesPerSample, per = c * f * h * w
            for i in 0..<(end - start) {
                out.append(RGBFrame.frames(from: sample.pointer + i * per, layout: .cfhw, channels: c, frames: f,
                                           height: h, width: w, range: .minusOneToOne))
            }
            start = end
        }
        return out
    }

    static func fileStem(prompt: Int, seed: Int) -> String { String(format: "p%04d-s%d", prompt, seed) }

    /// One labelled side-by-side clip: the prompt across the top, each column titled with its model.
    func sideBySide(_ columns: [[RGBFrame]], prompt: String, seed: Int) -> [RGBFrame] {
        let scaled = columns.map { $0.map { $0.upscaled(by: options.scale) } }
        let labelled = zip(models, scaled).map { LabelledColumn(title: $0.name, caption: "", frames: $1) }
        let body = comparisonClip(labelled)
        var style = LabelStyle()
        style.maxCaptionLines = 3
        let header = style.bar(title: "seed \(seed)", caption: prompt, width: body[0].width)
        return body.map { RGBFrame.vconcat([header, $0]) }
    }

    /// Renders everything and writes it to `directory` (created if needed); returns what index.json says.
    @discardableResult
    public func run(outputDirectory directory: URL, progress: ((ComparisonProgress) -> Void)? = nil) throws -> ComparisonIndex {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ComparisonError("\(directory.path): cannot create the output folder: \(error.localizedDescription)")
        }
        var clips: [ComparisonIndex.Clip] = []
        // Middle frames for the contact sheet, [prompt × seed][model].
        var sheetRows: [(label: String, prompt: String, cells: [RGBFrame])] = []
        for seed in 0..<options.seeds {
            let perModel = try models.indices.map { try render(model: $0, seed: seed, progress: progress) }
            for (p, prompt) in prompts.enumerated() {
                let columns = perModel.map { $0[p] }
                let frames = sideBySide(columns, prompt: prompt, seed: seed)
                let stem = Self.fileStem(prompt: p, seed: seed)
                var clip = ComparisonIndex.Clip(promptIndex: p, prompt: prompt, seed: seed)
                if video {
                    clip.mp4 = stem + ".mp4"
                    clip.gif = stem + ".gif"
                    try writeMP4(frames: frames, fps: Double(options.fps), to: directory.appendingPathComponent(clip.mp4!))
                    try writeGIF(frames: frames, fps: Double(options.fps), to: directory.appendingPathComponent(clip.gif!))
                } else {
                    clip.png = stem + ".png"
                    try writePNG(frames[0], to: directory.appendingPathComponent(clip.png!))
                }
                clips.append(clip)
                sheetRows.append(("#\(p) seed \(seed)", prompt,
                                  columns.map { $0[$0.count / 2].upscaled(by: options.scale) }))
            }
        }
        let sheetName = "contact_sheet.png"
        try writePNG(contactSheet(sheetRows), to: directory.appendingPathComponent(sheetName))
        let index = ComparisonIndex(
            video: video, models: models.map { .init(name: $0.name, path: $0.path) }, prompts: prompts,
            seeds: options.seeds, steps: options.steps, guidance: Double(options.guidance), frames: framesPerSample,
            fps: options.fps, scale: options.scale, clips: clips, contactSheet: sheetName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(try encoder.encode(index), to: directory.appendingPathComponent("index.json"))
        return index
    }

    /// A header of model names, then per prompt × seed a caption bar over the models' middle frames.
    func contactSheet(_ rows: [(label: String, prompt: String, cells: [RGBFrame])]) -> RGBFrame {
        let spacing = 4
        let cellWidth = rows[0].cells[0].width
        let style = LabelStyle()
        let header = RGBFrame.hconcat(models.map { style.bar(title: $0.name, caption: "", width: cellWidth) },
                                      spacing: spacing)
        var parts = [header]
        for row in rows {
            let cells = RGBFrame.hconcat(row.cells, spacing: spacing)
            var captionStyle = LabelStyle()
            captionStyle.titleColor = .white
            captionStyle.captionColor = RGBColor(200, 200, 200)
            captionStyle.maxCaptionLines = 2
            parts.append(captionStyle.bar(title: row.label, caption: row.prompt, width: cells.width))
            parts.append(cells)
        }
        return RGBFrame.vconcat(parts, spacing: 2)
    }
}
