import Foundation
import LetheModels
import LetheUnlearn
import LetheWorld
import XCTest

final class ErasureRecipeTests: XCTestCase {
    func decode(_ yaml: String, method: ErasureMethodKind? = nil) throws -> ErasureRecipe {
        let file = try RecipeLoader.decode(ErasureRecipeFile.self, yaml: yaml, file: "test.yaml")
        return try ErasureRecipe.resolve(file, source: "test.yaml", method: method)
    }

    func assertError(_ yaml: String, method: ErasureMethodKind? = nil, mentions words: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(yaml, method: method), file: file, line: line) { error in
            let text = String(describing: error)
            for w in words { XCTAssertTrue(text.contains(w), "\(text) should mention \(w)", file: file, line: line) }
        }
    }

    /// configs/erase/<method>.yaml and the built-in defaults are the same recipe, key for key.
    func testShippedRecipesEqualBuiltInDefaults() throws {
        for method in ErasureMethodKind.allCases {
            let url = TinyWorld.repoRoot.appendingPathComponent("configs/erase/\(method.rawValue).yaml")
            let loaded = try ErasureRecipe.load(url, method: nil)
            XCTAssertEqual(loaded, ErasureRecipe.defaults(method), method.rawValue)
            // The file spells out every key the method reads, so it can be tuned without reading Swift.
            let keys = try XCTUnwrap(try topLevelKeys(url))
            for key in ["method", "params", "steps", "lr", "batch_size", "seed", "checkpoint_every", "templates"] {
                XCTAssertTrue(keys.contains(key), "\(method.rawValue).yaml lacks \(key)")
            }
        }
    }

    private func topLevelKeys(_ url: URL) throws -> Set<String>? {
        let text = try String(contentsOf: url, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line -> String? in
            guard let first = line.first, first.isLetter, let colon = line.firstIndex(of: ":") else { return nil }
            return String(line[..<colon])
        })
    }

    func testPartialFileKeepsTheMethodsDefaults() throws {
        let r = try decode("method: esd\nsteps: 7\nlr: 2.0e-5\neta: 3\ntemplates:\n  object: [\"a {} shape\"]\n")
        var expected = ErasureRecipe.defaults(.esd)
        expected.steps = 7
        expected.lr = 2e-5
        expected.eta = 3
        expected.templates.object = ["a {} shape"]
        XCTAssertEqual(r, expected)
        XCTAssertEqual(try decode("steps: 4\n", method: .sdd).method, .sdd)
        XCTAssertEqual(try decode("steps: 4\n").method, ErasureMethodKind.standard)
    }

    func testBadRecipesNameFileAndKey() {
        assertError("stpes: 3\n", mentions: ["test.yaml", "unknown key 'stpes'"])
        assertError("steps: many\n", mentions: ["test.yaml", "key 'steps'", "integer"])
        assertError("steps: 0\n", mentions: ["test.yaml", "key 'steps'"])
        assertError("params: unet\n", mentions: ["test.yaml", "key 'params'", "unet-xattn"])
        assertError("method: uce\n", mentions: ["key 'method'", "uce"])
        assertError("method: esd\n", method: .sdd, mentions: ["key 'method'", "--method sdd"])
        assertError("templates:\n  objcet: [\"a {}\"]\n", mentions: ["templates.objcet"])
        assertError("templates:\n  object: [\"a circle\"]\n", mentions: ["templates.object", "{}"])
        assertError("phrasings: [heldout]\n", mentions: ["key 'phrasings'", "held-out"])
        assertError("betas: [0.9]\n", mentions: ["key 'betas'"])
        assertError("ddim_steps: 2\n", mentions: ["key 'ddim_steps'"])
        assertError("anchor_mode: nearby\n", mentions: ["key 'anchor_mode'", "in-context"])
        assertError("anchor_phrases: {shape: \"x\"}\n", mentions: ["anchor_phrases.shape"])
        assertError("method: fewshot\nparams: unet-xattn\n", mentions: ["key 'params'", "text encoder only"])
    }

    /// Resuming must refuse a checkpoint made with other settings, but not one made with another step count.
    func testFingerprintIgnoresStepsOnly() {
        var a = ErasureRecipe.defaults(.anchor), b = a
        b.steps += 10
        b.checkpointEvery += 1
        XCTAssertEqual(a.fingerprint, b.fingerprint)
        a.lr *= 2
        XCTAssertNotEqual(a.fingerprint, b.fingerprint)
    }
}
