import XCTest
@testable import LetheModels

final class RecipeTests: XCTestCase {
    struct Demo: Recipe, Equatable {
        static let keys = ["steps", "lr", "concepts", "ema"]
        var steps: Int
        var lr: Double
        var concepts: [String]
        var ema: Bool?
    }

    func testDecodesKnownKeys() throws {
        let r = try RecipeLoader.decode(Demo.self, yaml: "steps: 10\nlr: 1.0e-5\nconcepts: [circle, star]\n", file: "a.yaml")
        XCTAssertEqual(r, Demo(steps: 10, lr: 1e-5, concepts: ["circle", "star"], ema: nil))
    }

    func testErrorsNameFileAndKey() {
        func message(_ yaml: String) -> String {
            do { _ = try RecipeLoader.decode(Demo.self, yaml: yaml, file: "r.yaml"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message("steps: 10\nlr: 1\nconcepts: []\nlearning_rate: 3\n"),
                       "r.yaml: unknown key 'learning_rate' (known keys: concepts, ema, lr, steps)")
        XCTAssertEqual(message("steps: ten\nlr: 1\nconcepts: []\n"), "r.yaml: key 'steps': expected an integer")
        XCTAssertEqual(message("lr: 1\nconcepts: []\n"), "r.yaml: missing key 'steps'")
        XCTAssertTrue(message("steps: [\n").hasPrefix("r.yaml: not valid YAML"))
        XCTAssertEqual(message("- 1\n- 2\n"), "r.yaml: expected a mapping of settings at the top level")
    }
}
