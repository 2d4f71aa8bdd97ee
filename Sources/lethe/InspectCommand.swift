// `lethe inspect PATH`: what a weights file or a model folder holds.

import ArgumentParser
import Foundation
import LetheCore
import LetheModels

struct Inspect: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a model folder, a safetensors file or a folder of them holds.",
        discussion: "For a diffusers model folder (model_index.json): each component's class, parameter count "
            + "and config (--tensors adds every tensor). For a file or another folder: every tensor's name, dtype "
            + "and shape. Every file is checked in full before anything is printed.")

    @Argument(help: "A .safetensors file, or a folder to search for them.")
    var path: String

    @Flag(help: "For a model folder, also list every tensor of every component.")
    var tensors = false

    func execute() throws {
        let url = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: url.appendingPathComponent(DiffusionModel.indexName).path) {
            print(try ModelFolderReport(folder: url, listTensors: tensors).text, terminator: "")
            return
        }
        let target = try InspectTarget(path: path)
        // Open (and so validate) every file before printing, so a bad file yields only its error.
        let files = try target.weightFiles.map { try SafeTensorsFile(url: $0) }
        print(InspectReport(target: target, files: files).text, terminator: "")
    }
}

/// What `inspect` was pointed at. Diffusers pipeline folders (model_index.json) will become a
/// further case here, reported per component.
enum InspectTarget {
    case file(URL)
    case folder(URL, weightFiles: [URL])

    init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CLIError("\(url.path): no such file or directory")
        }
        guard isDirectory.boolValue else {
            self = .file(url)
            return
        }
        let files = try Self.safetensorsFiles(in: url)
        guard !files.isEmpty else { throw CLIError("\(url.path): no .safetensors files in this folder") }
        self = .folder(url, weightFiles: files)
    }

    var weightFiles: [URL] {
        switch self {
        case .file(let url): return [url]
        case .folder(_, let files): return files
        }
    }

    /// Every `*.safetensors` under `folder`, hidden entries skipped, sorted by path. Symbolic
    /// links to files count (the Hugging Face cache is made of them).
    private static func safetensorsFiles(in folder: URL) throws -> [URL] {
        var failure: (URL, Error)?
        guard let enumerator = FileManager.default.enumerator(
            at: folder, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles],
            errorHandler: { url, error in
                failure = (url, error)
                return false
            })
        else { throw CLIError("\(folder.path): cannot list this folder") }
        var files: [URL] = []
        for case let url as URL in enumerator where url.pathExtension == "safetensors" {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(url)
            }
        }
        if let (url, error) = failure {
            throw CLIError("\(url.path): cannot list this folder (\(error.localizedDescription))")
        }
        return files.sorted { $0.path < $1.path }
    }
}

/// The text `inspect` prints.
struct InspectReport {
    let target: InspectTarget
    let files: [SafeTensorsFile]

    var text: String {
        switch target {
        case .file:
            return files.map(section).joined()
        case .folder(let folder, _):
            var out = ""
            for file in files {
                out += "== \(relativePath(file.url, in: folder))\n" + section(file) + "\n"
            }
            let tensors = files.reduce(0) { $0 + $1.entries.count }
            let parameters = files.reduce(0) { $0 + parameterCount($1) }
            out += "total: \(files.count) files, \(tensors) tensors, \(grouped(parameters)) parameters\n"
            return out
        }
    }

    /// One file: a table of its tensors in name order, its metadata, and its totals.
    private func section(_ file: SafeTensorsFile) -> String {
        let rows = file.tensorNames.compactMap(file.info).map { info in
            [info.name, info.dtype.rawValue, "[" + info.shape.map(String.init).joined(separator: ", ") + "]",
             grouped(info.elementCount)]
        }
        var out = table([["tensor", "dtype", "shape", "parameters"]] + rows, rightAligned: [3])
        for (key, value) in file.metadata.sorted(by: { $0.key < $1.key }) {
            out += "metadata \(key): \(value.split(whereSeparator: \.isNewline).joined(separator: " "))\n"
        }
        out += "\(file.entries.count) tensors, \(grouped(parameterCount(file))) parameters\n"
        return out
    }

    private func parameterCount(_ file: SafeTensorsFile) -> Int {
        file.entries.reduce(0) { $0 + $1.elementCount }
    }

    private func relativePath(_ url: URL, in folder: URL) -> String {
        let base = folder.standardizedFileURL.path
        let path = url.standardizedFileURL.path
        return path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
    }
}

/// Rows as columns padded to their widest cell, two spaces apart.
fileprivate func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let columns = rows.map(\.count).max() ?? 0
    let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, cell in
            let padding = String(repeating: " ", count: widths[c] - cell.count)
            if rightAligned.contains(c) { return padding + cell }
            return c == row.count - 1 ? cell : cell + padding
        }.joined(separator: "  ") + "\n"
    }.joined()
}

/// `n` with thousands separators (1,234,567), independent of the locale.
fileprivate func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, digit) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return n < 0 ? "-" + out : out
}

/// `inspect` of a diffusers model folder: one section per component of model_index.json.
struct ModelFolderReport {
    let text: String

    init(folder: URL, listTensors: Bool) throws {
        let index = try JSONConfig(contentsOf: folder.appendingPathComponent(DiffusionModel.indexName))
        var out = "model folder \(folder.path)\n"
        out += "pipeline: \((try? index.string("_class_name")) ?? "?")\n"
        var total = 0
        for name in index.values.keys.sorted() where !name.hasPrefix("_") {
            guard case let .array(pair)? = index[name], pair.count == 2, case let .string(cls) = pair[1] else { continue }
            let dir = folder.appendingPathComponent(name)
            let runs = DiffusionModel.components.contains(name)
            out += "\n== \(name): \(cls)\(runs ? "" : " (not run by Lethe; carried along when saving)")\n"
            guard FileManager.default.fileExists(atPath: dir.path) else {
                out += "missing folder\n"
                continue
            }
            let weightFiles = (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?
                .filter { $0.hasSuffix(".safetensors") }.sorted() ?? []
            let files = try weightFiles.map { try SafeTensorsFile(url: dir.appendingPathComponent($0)) }
            let count = files.reduce(0) { $0 + $1.entries.reduce(0) { $0 + $1.elementCount } }
            total += count
            if !files.isEmpty {
                let dtypes = Set(files.flatMap { $0.entries.map(\.dtype.rawValue) }).sorted().joined(separator: ", ")
                out += "parameters: \(grouped(count)) (\(dtypes)) in \(weightFiles.joined(separator: ", "))\n"
            }
            for configName in ["config.json", "scheduler_config.json", "tokenizer_config.json"] {
                let url = dir.appendingPathComponent(configName)
                guard FileManager.default.fileExists(atPath: url.path) else { continue }
                let config = try JSONConfig(contentsOf: url)
                out += "\(configName):\n"
                for key in config.values.keys.sorted() where !key.hasPrefix("_") {
                    out += "  \(key): \(Self.compact(config.values[key]!))\n"
                }
            }
            if listTensors {
                for file in files { out += InspectReport(target: .file(file.url), files: [file]).text }
            }
        }
        out += "\ntotal: \(grouped(total)) parameters\n"
        text = out
    }

    private static func compact(_ v: JSONValue) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? enc.encode(v)).flatMap { String(data: $0, encoding: .utf8) } ?? "?"
    }
}
