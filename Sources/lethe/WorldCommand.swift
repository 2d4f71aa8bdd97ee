// `lethe world`: the clip world's tokenizer and its ground-truth clips, to look at and to feed
// other tools.

import ArgumentParser
import Foundation
import LetheCore
import LetheMedia
import LetheModels
import LetheWorld

struct World: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The clip world the small models are trained on.",
        subcommands: [WorldTokenizerCommand.self, WorldRender.self])
}

struct WorldTokenizerCommand: LetheCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Learn the world's vocabulary and write it as a CLIP tokenizer folder.",
        discussion: "Byte-level BPE on CLIP's 512 byte symbols, merges learned from v1 training captions until every "
            + "training word is one token. Writes vocab.json, merges.txt, tokenizer.json, tokenizer_config.json and "
            + "special_tokens_map.json; the committed copy is configs/world/tokenizer.")

    @Option(help: "The folder to write (created if needed; other files in it are left alone).")
    var out: String

    func execute() throws {
        let vocabulary = try WorldTokenizerTrainer.v1().train()
        try vocabulary.save(to: URL(fileURLWithPath: out))
        let tokenizer = vocabulary.tokenizer
        print("wrote \(out): \(tokenizer.vocabularySize) tokens, \(tokenizer.merges.count) merges, "
            + "\(vocabulary.wordCounts.count) training words, longest text \(vocabulary.longest.tokens) of "
            + "\(tokenizer.modelMaxLength) tokens")
        if !vocabulary.splitWords.isEmpty {
            print("still split when the merge budget ran out: \(vocabulary.splitWords.joined(separator: ", "))")
        }
    }
}

struct WorldRender: LetheCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render world clips (or images) with their captions and labels: the ground truth models learn from.",
        discussion: "Clip i is batch i of size 1 of the v1 training data with --seed, so the same seed gives the same "
            + "clips and captions. Writes clip-NNNN.mp4 (--gif adds clip-NNNN.gif), or image-NNNN.png with --mode image; "
            + "captions.jsonl with one line per clip ({\"file\", \"caption\", \"labels\": {\"objects\": [{\"object\", "
            + "\"color\", \"style\"}], \"motion\"}}); and contact_sheet.png, the first frames of the first "
            + "\(Self.sheetLimit) clips.")

    /// A sheet of more cells would be too big to look at.
    static let sheetLimit = 64
    static let sheetColumns = 8

    // Unconditional, so "--count -1" reaches the check below instead of reading as an unknown flag.
    @Option(parsing: .unconditional, help: "How many clips to render.")
    var count: Int
    @Option(help: "Seed of the data.")
    var seed: UInt64 = 0
    @Option(help: "clip (8 moving frames) or image (one still frame).")
    var mode = "clip"
    @Option(help: "Integer upscaling of the written frames (the world's frames are 32×32).")
    var scale = 4
    @Option(help: "Frames per second of videos.")
    var fps = 8
    @Flag(help: "Also write each clip as a GIF.")
    var gif = false
    @Option(help: "The folder to write into (created if needed).")
    var out: String

    func execute() throws {
        guard count > 0 else { throw CLIError("--count must be at least 1, got \(count)") }
        guard let worldMode = WorldMode(rawValue: mode) else { throw CLIError("--mode must be clip or image, got \(mode)") }
        guard (1...64).contains(scale) else { throw CLIError("--scale must be between 1 and 64, got \(scale)") }
        guard fps > 0 else { throw CLIError("--fps must be positive, got \(fps)") }
        if gif && worldMode == .image { throw CLIError("--gif needs --mode clip: images are written as PNG") }
        let folder = URL(fileURLWithPath: out)
        try prepare(folder)
        FFmpegLog.level = .error

        let dataset = WorldDataset.v1(seed: seed)
        let digits = max(4, String(count - 1).count)
        var lines: [String] = []
        var sheet: [RGBFrame] = []
        for i in 0..<count {
            let batch = dataset.batch(i, size: 1, mode: worldMode)
            let spec = batch.specs[0]
            let frames = RGBFrame.frames(from: batch.pixels.pointer, layout: .cfhw, channels: 3, frames: spec.frameCount,
                                         height: spec.size, width: spec.size).map { $0.upscaled(by: scale) }
            let name = "\(worldMode.rawValue)-" + String(repeating: "0", count: max(0, digits - String(i).count)) + String(i)
            let file: String
            switch worldMode {
            case .image:
                file = name + ".png"
                try writePNG(frames[0], to: folder.appendingPathComponent(file))
            case .clip:
                file = name + ".mp4"
                try writeMP4(frames: frames, fps: Double(fps), to: folder.appendingPathComponent(file))
                if gif { try writeGIF(frames: frames, fps: Double(fps), to: folder.appendingPathComponent(name + ".gif")) }
            }
            lines.append(Self.captionLine(file: file, caption: batch.captions[0], labels: batch.labels[0], mode: worldMode))
            if sheet.count < Self.sheetLimit { sheet.append(frames[0]) }
            progress("render: \(i + 1)/\(count)", done: i + 1 == count)
        }
        try writeAtomically(Data(lines.map { $0 + "\n" }.joined().utf8), to: folder.appendingPathComponent("captions.jsonl"))
        let rows = stride(from: 0, to: sheet.count, by: Self.sheetColumns).map {
            Array(sheet[$0..<min($0 + Self.sheetColumns, sheet.count)])
        }
        try writePNG(RGBFrame.grid(rows, spacing: 2, border: 2, background: RGBColor(24, 24, 24)),
                     to: folder.appendingPathComponent("contact_sheet.png"))
        print("wrote \(count) \(worldMode == .clip ? "clips" : "images"), captions.jsonl and contact_sheet.png to \(out)")
    }

    /// Creates the folder and makes sure files can be created in it, before any rendering.
    private func prepare(_ folder: URL) throws {
        try makeFolder(folder)
        let probe = folder.appendingPathComponent(".lethe-write-test-\(getpid())")
        let fd = open(probe.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw CLIError("--out \(out): cannot write in this folder: \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(probe.path)
    }

    /// `mkdir -p` whose errors say which part of the path is at fault and why.
    private func makeFolder(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CLIError("--out \(out): \(url.path) is a file, not a folder") }
            return
        }
        try makeFolder(url.deletingLastPathComponent())
        if mkdir(url.path, 0o755) != 0 && errno != EEXIST {
            throw CLIError("--out \(out): cannot create the folder \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// One line of captions.jsonl, keys in a fixed order. Images have no motion (null).
    static func captionLine(file: String, caption: String, labels: ClipLabels, mode: WorldMode) -> String {
        let objects = labels.objects.map {
            "{\"object\": \(jsonStringLiteral($0.object.rawValue)), \"color\": \(jsonStringLiteral($0.color.rawValue)), "
                + "\"style\": \(jsonStringLiteral($0.style.rawValue))}"
        }
        let motion = mode == .clip ? jsonStringLiteral(labels.motion.rawValue) : "null"
        return "{\"file\": \(jsonStringLiteral(file)), \"caption\": \(jsonStringLiteral(caption)), "
            + "\"labels\": {\"objects\": [\(objects.joined(separator: ", "))], \"motion\": \(motion)}}"
    }
}
