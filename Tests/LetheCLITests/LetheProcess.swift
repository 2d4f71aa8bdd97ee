// Runs the built `lethe` binary as a user would, with a time limit so a hang fails the test.
import Foundation
import XCTest

struct LetheRun {
    let status: Int32
    let reason: Process.TerminationReason
    let stdout: String
    let stderr: String

    var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
}

enum LetheProcess {
    /// SwiftPM builds the product next to the test bundle (.build/debug/lethe).
    static func executable() throws -> URL {
        let anchors = [Bundle(for: Marker.self).bundleURL, Bundle.main.bundleURL,
                       URL(fileURLWithPath: CommandLine.arguments[0])]
        for anchor in anchors {
            for folder in [anchor, anchor.deletingLastPathComponent(), anchor.deletingLastPathComponent().deletingLastPathComponent()] {
                let candidate = folder.appendingPathComponent("lethe")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            }
        }
        throw NotFound(message: "lethe binary not found beside the test bundle (looked near \(anchors.map(\.path)))")
    }

    private final class Marker {}

    struct NotFound: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    static func run(_ arguments: [String], timeout: TimeInterval = 30,
                    file: StaticString = #filePath, line: UInt = #line) throws -> LetheRun {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files, not pipes: a chatty child can never block on a full pipe while we wait for it.
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)

        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            XCTFail("lethe \(arguments.joined(separator: " ")) did not finish within \(timeout) s", file: file, line: line)
        }
        try out.close()
        try err.close()
        return LetheRun(status: process.terminationStatus, reason: process.terminationReason,
                        stdout: try String(contentsOf: outURL, encoding: .utf8),
                        stderr: try String(contentsOf: errURL, encoding: .utf8))
    }
}
