// `lethe inspect PATH`: what a weights file or a model folder holds.

import ArgumentParser
import Foundation
import LetheCore

struct Inspect: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors (name, dtype, shape) and parameter count of a safetensors file or folder.",
        discussion: "For a folder, every *.safetensors file inside it (recursively) is listed. "
            + "Every file is checked in full before anything is printed.")

    @Argument(help: "A .safetensors file, or a folder to search for them.")
    var path: String

    func execute() throws {
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
