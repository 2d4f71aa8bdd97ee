// `lethe report`: rebuild the HTML report from any eval JSON (`lethe eval --json`).

import ArgumentParser
import Foundation
import LetheCore
import LetheEval

struct Report: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the self-contained HTML report of an eval JSON.",
        discussion: "Reads the JSON `lethe eval` writes (kind \"model\" or \"erasure\"); sample clips are looked up "
            + "relative to the JSON's folder and embedded in the page.")

    @Option(help: "An eval JSON file.")
    var json: String
    @Option(help: "The HTML file to write.")
    var out: String

    func execute() throws {
        let url = URL(fileURLWithPath: json)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw CLIError("\(json): cannot read: \(exists ? "not a readable file" : "no such file")")
        }
        let html: String
        do {
            html = try HTMLReport.render(data, baseDirectory: url.deletingLastPathComponent())
        } catch let error as HTMLReportError {
            throw CLIError("\(json): \(error.description)")
        }
        do {
            try writeAtomically(Data(html.utf8), to: URL(fileURLWithPath: out))
        } catch {
            throw CLIError("\(error)", status: .failure)
        }
        print("wrote \(out)")
    }
}
