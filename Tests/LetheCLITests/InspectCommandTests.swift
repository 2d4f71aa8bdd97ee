// `lethe inspect` run as a subprocess on good and broken weight files.
import Foundation
import LetheCore
import XCTest

private let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/safetensors")

final class InspectCommandTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-inspect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Exit status 1, nothing on stdout, and exactly one stderr line that names `mentioning`.
    private func assertBadInput(_ run: LetheRun, mentioning name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.reason, .exit, "terminated by a signal", file: file, line: line)
        XCTAssertEqual(run.status, 1, file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
        XCTAssertEqual(run.stderrLines.count, 1, "stderr: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.hasSuffix("\n"), file: file, line: line)
        XCTAssertTrue(run.stderr.contains(name), "stderr \(run.stderr) should name \(name)", file: file, line: line)
    }

    func testListsEveryTensorWithAlignedColumnsAndTotal() throws {
        let run = try LetheProcess.run(["inspect", fixtures.appendingPathComponent("reference.safetensors").path])
        XCTAssertEqual(run.reason, .exit)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr, "")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        // Written by the fixture script with the reference library; the values are its header's.
        let expected: [(String, String, String)] = [
            ("bf16.matrix", "BF16", "[2, 3]"), ("bf16.scalar", "BF16", "[]"), ("bf16.special", "BF16", "[5]"),
            ("bool.mask", "BOOL", "[3]"), ("f16.empty", "F16", "[0]"), ("f16.scalar", "F16", "[]"),
            ("f16.special", "F16", "[8]"), ("f32.empty", "F32", "[2, 0, 3]"), ("f32.scalar", "F32", "[]"),
            ("f32.special", "F32", "[6]"), ("f64.values", "F64", "[2]"), ("i64.ids", "I64", "[4]"),
            ("text_model.embeddings.token_embedding.weight", "F32", "[3, 4]"), ("u8.bytes", "U8", "[5]"),
            ("unet.conv_in.weight", "F16", "[2, 1, 3, 3]"),
        ]
        XCTAssertGreaterThan(lines.count, expected.count)
        let rows = Array(lines.dropFirst().prefix(expected.count))
        for (row, (name, dtype, shape)) in zip(rows, expected) {
            let cells = row.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            XCTAssertEqual(Array(cells.prefix(3)), [name, dtype, shape], row)
        }
        // Columns line up: each dtype and shape starts where the header's does.
        let header = lines[0]
        for column in ["dtype", "shape"] {
            let start = header.range(of: column)!.lowerBound.utf16Offset(in: header)
            for (row, (_, dtype, shape)) in zip(rows, expected) {
                let cell = column == "dtype" ? dtype : shape
                XCTAssertEqual(row.range(of: " " + cell)?.lowerBound.utf16Offset(in: row).advanced(by: 1), start, row)
            }
        }
        XCTAssertTrue(lines.contains("metadata format: pt"), run.stdout)
        XCTAssertEqual(lines.last, "15 tensors, 72 parameters")
    }

    func testFolderListsSafetensorsFilesRecursively() throws {
        let folder = try temporaryDirectory()
        let nested = folder.appendingPathComponent("unet")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("reference.safetensors"),
                                         to: nested.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        try SafeTensors.write(["text_model.final_layer_norm.weight": .ones([1000]), "logit_scale": .scalar(2)],
                              to: folder.appendingPathComponent("model.safetensors"))
        try Data("not weights".utf8).write(to: folder.appendingPathComponent("notes.txt"))

        let run = try LetheProcess.run(["inspect", folder.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr, "")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("== ") }, ["== model.safetensors", "== unet/diffusion_pytorch_model.safetensors"])
        XCTAssertTrue(lines.contains("2 tensors, 1,001 parameters"), run.stdout)
        XCTAssertTrue(lines.contains("15 tensors, 72 parameters"), run.stdout)
        XCTAssertEqual(lines.last, "total: 2 files, 17 tensors, 1,073 parameters")
        XCTAssertFalse(run.stdout.contains("notes.txt"))
    }

    func testEveryMalformedFileGivesOneErrorLineAndExitStatusOne() throws {
        let malformed = try FileManager.default.contentsOfDirectory(atPath: fixtures.appendingPathComponent("malformed").path)
            .filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertGreaterThanOrEqual(malformed.count, 20)
        for name in malformed {
            let run = try LetheProcess.run(["inspect", fixtures.appendingPathComponent("malformed/\(name)").path])
            assertBadInput(run, mentioning: name)
        }
    }

    func testBadFileInsideAFolderIsNamed() throws {
        let folder = try temporaryDirectory()
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("reference.safetensors"),
                                         to: folder.appendingPathComponent("a.safetensors"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("malformed/truncated_data.safetensors"),
                                         to: folder.appendingPathComponent("b.safetensors"))
        assertBadInput(try LetheProcess.run(["inspect", folder.path]), mentioning: "b.safetensors")
    }

    func testMissingPathAndEmptyFolder() throws {
        let folder = try temporaryDirectory()
        let missing = folder.appendingPathComponent("nothing-here.safetensors").path
        let run = try LetheProcess.run(["inspect", missing])
        assertBadInput(run, mentioning: missing)
        XCTAssertTrue(run.stderr.contains("no such file or directory"), run.stderr)

        let empty = try LetheProcess.run(["inspect", folder.path])
        assertBadInput(empty, mentioning: folder.path)
        XCTAssertTrue(empty.stderr.contains("no .safetensors files"), empty.stderr)
    }

    func testFIFODoesNotHang() throws {
        let fifo = try temporaryDirectory().appendingPathComponent("pipe.safetensors")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        assertBadInput(try LetheProcess.run(["inspect", fifo.path], timeout: 10), mentioning: "pipe.safetensors")
    }
}
