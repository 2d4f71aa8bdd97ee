import XCTest
@testable import LetheModels

final class JSONConfigTests: XCTestCase {
    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testTypedReadsAndRoundTrip() throws {
        let url = try write(#"{"a": 3, "b": 0.5, "c": true, "d": "x", "e": [1, 2], "f": null, "g": 1e-4, "h": [32, 64]}"#)
        let c = try JSONConfig(contentsOf: url)
        XCTAssertEqual(try c.int("a"), 3)
        XCTAssertEqual(try c.double("b"), 0.5)
        XCTAssertEqual(try c.bool("c"), true)
        XCTAssertEqual(try c.string("d"), "x")
        XCTAssertEqual(try c.intArray("e"), [1, 2])
        XCTAssertEqual(try c.int("f", default: 7), 7)
        XCTAssertEqual(try c.intOrIntArray("a", count: 2), [3, 3])
        XCTAssertEqual(try c.intOrIntArray("h", count: 2), [32, 64])
        let out = url.deletingPathExtension().appendingPathExtension("out.json")
        try c.write(to: out)
        let again = try JSONConfig(contentsOf: out)
        XCTAssertEqual(again.values, c.values, "ints, floats, booleans and null survive a round trip")
    }

    func testErrorsNameFileAndKey() throws {
        let url = try write(#"{"a": "three", "c": 1, "e": [1, "x"]}"#)
        let c = try JSONConfig(contentsOf: url)
        XCTAssertThrowsError(try c.int("a")) { XCTAssertEqual("\($0)", "\(url.path): a: expected an integer, found a string (\"three\")") }
        XCTAssertThrowsError(try c.bool("c")) { XCTAssertTrue("\($0)".contains("c: expected true or false")) }
        XCTAssertThrowsError(try c.intArray("e")) { XCTAssertTrue("\($0)".contains("list of integers")) }
        XCTAssertThrowsError(try c.int("missing")) { XCTAssertTrue("\($0)".contains("missing: missing")) }
        XCTAssertThrowsError(try JSONConfig(contentsOf: try write("{nope"))) { XCTAssertTrue("\($0)".contains("not valid JSON")) }
        XCTAssertThrowsError(try JSONConfig(contentsOf: try write("[1]"))) { XCTAssertTrue("\($0)".contains("JSON object")) }
    }
}
