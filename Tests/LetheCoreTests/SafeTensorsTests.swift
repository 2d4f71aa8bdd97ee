// The safetensors reader and writer against files and verdicts of the reference Python library
// (scripts/fixtures/safetensors_fixtures.py).
import Foundation
import XCTest
@testable import LetheCore

private let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/safetensors")

private struct ExpectedFile: Decodable {
    struct Entry: Decodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
        let bits: [UInt32]?
    }
    let metadata: [String: String]
    let tensors: [Entry]
}

private struct MalformedCase: Decodable {
    let file: String
    let kind: String
    let mentions: String
    let reference_error: String?
}

private struct WriteInput: Decodable {
    struct Entry: Decodable {
        let name: String
        let shape: [Int]
        let bits: [UInt32]
    }
    let metadata: [String: String]
    let tensors: [Entry]

    var tensorsByName: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: tensors.map {
            ($0.name, Tensor(shape: $0.shape, data: $0.bits.map(Float.init(bitPattern:))))
        })
    }
}

private func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
}

private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

/// A fresh empty directory, removed at the end of the test.
private func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-safetensors-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// The SafeTensorsError `body` throws, failing the test if it throws nothing or something else.
private func safeTensorsError(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> SafeTensorsError? {
    do {
        try body()
        XCTFail("no error thrown", file: file, line: line)
    } catch let error as SafeTensorsError {
        return error
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
    return nil
}

final class SafeTensorsTests: XCTestCase {
    func testReadsReferenceFilesExactly() throws {
        let expected = try decode([String: ExpectedFile].self, "valid.json")
        XCTAssertEqual(Set(expected.keys), ["reference.safetensors", "unaligned.safetensors"])
        let reference = try XCTUnwrap(expected["reference.safetensors"]).tensors
        for dtype in ["F32", "F16", "BF16"] {
            XCTAssertTrue(reference.contains { $0.dtype == dtype && $0.shape == [] }, "fixture lacks a \(dtype) scalar")
        }
        XCTAssertTrue(reference.contains { $0.shape.contains(0) }, "fixture lacks a zero-size tensor")
        for (fileName, want) in expected {
            let file = try SafeTensorsFile(url: fixtures.appendingPathComponent(fileName))
            XCTAssertEqual(file.metadata, want.metadata, fileName)
            XCTAssertEqual(file.tensorNames, want.tensors.map(\.name).sorted(), fileName)
            for entry in want.tensors {
                let info = try XCTUnwrap(file.info(entry.name), entry.name)
                XCTAssertEqual(info.dtype.rawValue, entry.dtype, entry.name)
                XCTAssertEqual(info.shape, entry.shape, entry.name)
                XCTAssertEqual([info.dataOffsets.lowerBound, info.dataOffsets.upperBound], entry.data_offsets, entry.name)
                if let wantBits = entry.bits {
                    let tensor = try file.tensor(entry.name)
                    XCTAssertEqual(tensor.shape, entry.shape, entry.name)
                    XCTAssertEqual(bits(tensor), wantBits, "\(fileName) \(entry.name)")
                } else {
                    let error = safeTensorsError { _ = try file.tensor(entry.name) }
                    XCTAssertEqual(error?.kind, .unsupportedDType, entry.name)
                    XCTAssertTrue(error?.description.contains("\(fileName): tensor \"\(entry.name)\" is \(entry.dtype)") ?? false,
                                  error?.description ?? "")
                }
            }
        }
    }

    func testAlignedF32BorrowsTheMappingAndOutlivesTheFile() throws {
        let directory = try temporaryDirectory(self)
        let url = directory.appendingPathComponent("copy.safetensors")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("reference.safetensors"), to: url)
        let name = "text_model.embeddings.token_embedding.weight"
        var file: SafeTensorsFile? = try SafeTensorsFile(url: url)
        let weight = try file!.tensor(name)
        let original = weight.scalars
        XCTAssertTrue(file!.isBorrowed(weight))
        XCTAssertFalse(file!.isBorrowed(try file!.tensor("unet.conv_in.weight")), "F16 is converted into owned memory")
        file = nil
        // The tensor keeps the mapping alive; writing it copies the page and leaves the file alone.
        XCTAssertEqual(weight.scalars, original)
        weight[flat: 0] = 42
        XCTAssertEqual(weight[flat: 0], 42)
        XCTAssertEqual(try SafeTensorsFile(url: url).tensor(name).scalars, original)

        let unaligned = try SafeTensorsFile(url: fixtures.appendingPathComponent("unaligned.safetensors"))
        XCTAssertFalse(unaligned.isBorrowed(try unaligned.tensor("b.single")), "unaligned F32 is copied")
    }

    func testMalformedFilesAreRejectedWithOneLineNamingTheFile() throws {
        let cases = try decode([MalformedCase].self, "malformed.json")
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for c in cases {
            let url = fixtures.appendingPathComponent("malformed/\(c.file)")
            guard let error = safeTensorsError({ _ = try SafeTensorsFile(url: url) }) else { continue }
            XCTAssertEqual("\(error.kind)", c.kind, "\(c.file): \(error)")
            XCTAssertTrue(error.description.hasPrefix(url.path + ": "), error.description)
            XCTAssertTrue(error.description.contains(c.mentions), "\(c.file): \(error) should mention \(c.mentions)")
            XCTAssertFalse(error.description.contains("\n"), error.description)
        }
    }

    func testMissingFileAndDirectoryAreRejected() throws {
        let directory = try temporaryDirectory(self)
        let missing = directory.appendingPathComponent("missing.safetensors")
        let error = safeTensorsError { _ = try SafeTensorsFile(url: missing) }
        XCTAssertEqual(error?.kind, .cannotOpen)
        XCTAssertEqual(error?.description, "\(missing.path): cannot open: No such file or directory")
        XCTAssertEqual(safeTensorsError { _ = try SafeTensorsFile(url: directory) }?.kind, .cannotOpen)
    }

    func testFIFOIsRejectedWithoutWaiting() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("pipe.safetensors")
        XCTAssertEqual(mkfifo(url.path, 0o600), 0)
        let error = safeTensorsError { _ = try SafeTensorsFile(url: url) }
        XCTAssertEqual(error?.description, "\(url.path): is not a regular file")
    }

    func testUnknownTensorName() throws {
        let file = try SafeTensorsFile(url: fixtures.appendingPathComponent("reference.safetensors"))
        XCTAssertNil(file.info("nope"))
        XCTAssertEqual(safeTensorsError { _ = try file.tensor("nope") }?.kind, .tensorNotFound)
    }

    func testHeaderEscapesAndWhitespace() throws {
        // "é😀" spelled with \u escapes (a surrogate pair), whitespace around every token.
        let header = #" { "\u00e9\ud83d\ude00" : { "data_offsets" : [ 0 , 4 ] , "dtype" : "F32" , "shape" : [ ] , "extra": [true, null, -1.5e3, {"k": "\"\\\/\b\f\n\r\t"}] } }  "#
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init)
        bytes += Array(header.utf8)
        bytes += withUnsafeBytes(of: Float(3.5).bitPattern.littleEndian, Array.init)
        let url = try temporaryDirectory(self).appendingPathComponent("escapes.safetensors")
        try Data(bytes).write(to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(file.tensorNames, ["é😀"])
        XCTAssertEqual(try file.tensor("é😀").scalars, [3.5])
    }

    func testFloat16ConversionsAreExactAndRoundToNearestEven() {
        // Every half survives half → float → half (NaNs stay NaN).
        for h in 0...UInt16.max {
            let f = float16BitsToFloat(h)
            if f.isNaN {
                XCTAssertTrue(float16BitsToFloat(floatToFloat16Bits(f)).isNaN)
            } else {
                XCTAssertEqual(floatToFloat16Bits(f), h, "half 0x\(String(h, radix: 16))")
            }
        }
        XCTAssertEqual(floatToFloat16Bits(1 + 0x1p-11), 0x3c00, "tie rounds to even (down)")
        XCTAssertEqual(floatToFloat16Bits(1 + 3 * 0x1p-11), 0x3c02, "tie rounds to even (up)")
        XCTAssertEqual(floatToFloat16Bits(65519), 0x7bff)
        XCTAssertEqual(floatToFloat16Bits(65520), 0x7c00, "halfway to 2^16 rounds to infinity")
        XCTAssertEqual(floatToFloat16Bits(0x1p-25), 0, "halfway to the smallest subnormal rounds to even zero")
        XCTAssertEqual(floatToFloat16Bits(3 * 0x1p-26), 1)
        XCTAssertEqual(floatToFloat16Bits(-0.0), 0x8000)
        XCTAssertEqual(bfloat16BitsToFloat(0x3f80), 1)
        #if arch(x86_64) && os(Linux)
        // Against the platform's own conversion over many random floats.
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<200_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard !f.isNaN else { continue }
            XCTAssertEqual(floatToFloat16Bits(f), Float16(f).bitPattern, "\(f)")
        }
        #endif
    }

    func testWriteThenReadRoundTrips() throws {
        let directory = try temporaryDirectory(self)
        var rng = RandomGenerator(seed: 11)
        let tensors = ["w": Tensor.randn([5, 7], rng: &rng), "b": Tensor.randn([7], rng: &rng),
                       "s": Tensor.scalar(-2.25), "e": Tensor.zeros([3, 0])]
        let url = directory.appendingPathComponent("out.safetensors")
        for dtype in [SafeTensors.WriteDType.f32, .f16] {
            try SafeTensors.write(tensors, metadata: ["step": "12"], dtype: dtype, to: url)
            let file = try SafeTensorsFile(url: url)
            XCTAssertEqual(file.metadata, ["step": "12"])
            XCTAssertEqual(file.tensorNames, ["b", "e", "s", "w"])
            for (name, tensor) in tensors {
                XCTAssertEqual(file.info(name)?.dtype, dtype.dtype)
                let loaded = try file.tensor(name)
                XCTAssertEqual(loaded.shape, tensor.shape)
                let want = dtype == .f32 ? tensor.scalars : tensor.scalars.map { float16BitsToFloat(floatToFloat16Bits($0)) }
                XCTAssertEqual(loaded.scalars, want, name)
            }
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
            let dataLength = try XCTUnwrap(file.entries.last).dataOffsets.upperBound
            XCTAssertEqual((size - dataLength) % 8, 0, "data buffer starts at a multiple of 8")
        }
        // Atomic replacement leaves no temporary files behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["out.safetensors"])
        XCTAssertEqual(try SafeTensors.load(url).keys.sorted(), ["b", "e", "s", "w"])
    }

    func testWriterReproducesCommittedFiles() throws {
        // These files were checked by the reference library (the fixture script's --check); equal
        // bytes keep that check valid for the current writer.
        let input = try decode(WriteInput.self, "lethe_write_input.json")
        let directory = try temporaryDirectory(self)
        let output = ProcessInfo.processInfo.environment["LETHE_FIXTURE_OUTPUT"].map { URL(fileURLWithPath: $0) }
        for (dtype, name) in [(SafeTensors.WriteDType.f32, "lethe_written_f32"), (.f16, "lethe_written_f16")] {
            let url = directory.appendingPathComponent("\(name).safetensors")
            try SafeTensors.write(input.tensorsByName, metadata: input.metadata, dtype: dtype, to: url)
            let written = try Data(contentsOf: url)
            if let output {
                try written.write(to: output.appendingPathComponent(url.lastPathComponent))
            }
            guard let committed = try? Data(contentsOf: fixtures.appendingPathComponent(url.lastPathComponent)) else {
                XCTFail("\(name).safetensors is not committed; see scripts/fixtures/safetensors_fixtures.py")
                continue
            }
            XCTAssertEqual(written, committed, "\(name): writer output changed; regenerate and re-check with the fixture script")
            let file = try SafeTensorsFile(url: url)
            XCTAssertEqual(file.metadata, input.metadata)
            for entry in input.tensors {
                let want = dtype == .f32 ? entry.bits : entry.bits.map { float16BitsToFloat(floatToFloat16Bits(Float(bitPattern: $0))).bitPattern }
                XCTAssertEqual(bits(try file.tensor(entry.name)), want, entry.name)
            }
        }
    }

    func testWriteErrorsNameTheFile() throws {
        let directory = try temporaryDirectory(self)
        let reserved = directory.appendingPathComponent("reserved.safetensors")
        let error = safeTensorsError { try SafeTensors.write(["__metadata__": .zeros([1])], to: reserved) }
        XCTAssertEqual(error?.kind, .invalidName)
        XCTAssertTrue(error?.description.hasPrefix(reserved.path + ": ") ?? false)

        let nowhere = directory.appendingPathComponent("missing/dir/out.safetensors")
        let writeError = safeTensorsError { try SafeTensors.write(["a": .zeros([1])], to: nowhere) }
        XCTAssertEqual(writeError?.kind, .writeFailed)
        XCTAssertTrue(writeError?.description.hasPrefix(nowhere.path + ": ") ?? false, writeError?.description ?? "")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }
}
