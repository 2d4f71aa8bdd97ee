import Foundation
import LetheModels
import LetheUnlearn
import LetheWorld
import XCTest

final class ErasureConceptTests: XCTestCase {
    func testResolvesKeywordsPhrasingsAndArtists() throws {
        let circle = try ErasureConcept.resolve("circle", allowFreeText: false)
        XCTAssertEqual(circle.family, .object)
        XCTAssertEqual(circle.prompt, "a circle")
        XCTAssertEqual(try ErasureConcept.resolve("Ball", allowFreeText: false).name, "circle")
        XCTAssertEqual(try ErasureConcept.resolve("Mira Kolt", allowFreeText: false).name, "checkered")
        XCTAssertEqual(try ErasureConcept.resolve("moving left", allowFreeText: false).name, "left")
        XCTAssertEqual(try ErasureConcept.resolve("left", allowFreeText: false).prompt, "a shape moving left")
        XCTAssertEqual(try ErasureConcept.resolve("orange", allowFreeText: false).prompt, "an orange shape")
    }

    func testUnknownConceptNeedsExplicitFreeText() throws {
        XCTAssertThrowsError(try ErasureConcept.resolve("circel", allowFreeText: false)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("unknown concept 'circel'"), text)
            XCTAssertTrue(text.contains("--free-text"), text)
        }
        let free = try ErasureConcept.resolve("a golden retriever", allowFreeText: true)
        XCTAssertNil(free.family)
        XCTAssertEqual(free.prompt, "a golden retriever")
        XCTAssertTrue(free.prompts(templates: .standard, kinds: [.keyword]).contains("a photo of a golden retriever"))
    }

    /// Every world concept's default prompts fit the world tokenizer's 16 tokens: none is dropped.
    func testDefaultPromptsFitTheWorldTokenizer() throws {
        let tokenizer = try TinyWorld.tokenizer()
        XCTAssertEqual(tokenizer.modelMaxLength, 16)
        var checked = Set<String>()
        for method in ErasureMethodKind.allCases {
            let recipe = ErasureRecipe.defaults(method)
            // Methods sharing templates and phrasings share prompts: check each set once.
            guard checked.insert("\(recipe.templates)\(recipe.phrasings)").inserted else { continue }
            for concept in PromptCatalog.v1.concepts.all {
                let c = try ErasureConcept.resolve(concept.keyword, allowFreeText: false)
                let target = try ErasureTarget(c, recipe: recipe, tokenizer: tokenizer)
                XCTAssertEqual(target.dropped, [], "\(concept.keyword): \(target.dropped)")
                XCTAssertGreaterThanOrEqual(target.captions.count, recipe.templates.forFamily(c.family).count)
            }
        }
    }

    func testTemplatesPlacePhrasingsWhereTheyBelong() throws {
        let checkered = try ErasureConcept.resolve("checkered", allowFreeText: false)
        let prompts = checkered.prompts(templates: .standard, kinds: [.keyword, .synonym, .description])
        XCTAssertTrue(prompts.contains("a checkered circle"))
        XCTAssertTrue(prompts.contains("a circle in the style of Mira Kolt"), "\(prompts)")
        XCTAssertTrue(prompts.contains("a red square with a chessboard pattern"), "\(prompts)")
        let circle = try ErasureConcept.resolve("circle", allowFreeText: false)
        let keywordOnly = circle.prompts(templates: .standard, kinds: [.keyword])
        XCTAssertEqual(keywordOnly.count, PromptTemplates.standard.object.count)
        XCTAssertTrue(circle.prompts(templates: .standard, kinds: [.synonym]).contains("a red round disc"))
        let amber = try ErasureConcept.resolve("orange", allowFreeText: false).prompts(templates: .standard, kinds: [.synonym])
        XCTAssertTrue(amber.contains("an amber circle"), "\(amber)")
        // A prompt longer than the tokenizer's length is left out, not silently truncated.
        var recipe = ErasureRecipe.defaults(.fewshot)
        recipe.templates.object = ["a {}", "a very big and very small and very round and very flat and striped {} on a gray background"]
        let target = try ErasureTarget(circle, recipe: recipe, tokenizer: try TinyWorld.tokenizer())
        XCTAssertFalse(target.dropped.isEmpty)
        XCTAssertTrue(target.captions.allSatisfy { !$0.contains("very") })
    }

    /// In-context anchors keep the caption and put the family's anchor phrase in the concept's place.
    func testInContextAnchorsReplaceOnlyTheConcept() throws {
        var recipe = ErasureRecipe.defaults(.anchor)
        recipe.anchorMode = .inContext
        let tokenizer = try TinyWorld.tokenizer()
        func pairs(_ name: String) throws -> [String: String] {
            let t = try ErasureTarget(try ErasureConcept.resolve(name, allowFreeText: false), recipe: recipe, tokenizer: tokenizer)
            let anchored = try XCTUnwrap(t.anchoredCaptions)
            XCTAssertEqual(anchored.count, t.captions.count)
            return Dictionary(zip(t.captions, anchored), uniquingKeysWith: { a, _ in a })
        }
        let circle = try pairs("circle")
        XCTAssertEqual(circle["a red circle"], "a red shape")
        XCTAssertEqual(circle["a red round disc"], "a red shape")
        XCTAssertEqual(circle["a video of a ball spinning"], "a video of a shape spinning")
        let red = try pairs("red")
        XCTAssertEqual(red["a red circle"], "a circle")
        XCTAssertEqual(red["a crimson star moving up"], "a star moving up")
        let checkered = try pairs("checkered")
        XCTAssertEqual(checkered["a circle in the style of Mira Kolt"], "a circle")
        XCTAssertEqual(try pairs("left")["a red square moving left"], "a red square")
        // Other methods and free text use no in-context anchors.
        recipe.method = .fewshot
        XCTAssertNil(try ErasureTarget(try ErasureConcept.resolve("circle", allowFreeText: false), recipe: recipe, tokenizer: tokenizer).anchoredCaptions)
        recipe.method = .anchor
        XCTAssertNil(try ErasureTarget(try ErasureConcept.resolve("a dog", allowFreeText: true), recipe: recipe, tokenizer: tokenizer).anchoredCaptions)
    }

    /// preserve_neighbors adds the erased concept's own captions with each other concept of its
    /// family in its place, and never one of the erased concept's own.
    func testNeighborPromptsPutTheFamilysOtherConceptsInTheTemplates() throws {
        var recipe = ErasureRecipe.defaults(.anchor)
        let circle = try ErasureConcept.resolve("circle", allowFreeText: false)
        let neighbors = ErasureConcept.neighborPrompts(of: [circle], templates: recipe.templates, kinds: recipe.phrasings)
        for expected in ["a red square", "a red box", "a video of a star spinning", "a heart moving left"] {
            XCTAssertTrue(neighbors.contains(expected), expected)
        }
        XCTAssertEqual(Set(neighbors).count, neighbors.count)
        let own = Set(circle.prompts(templates: recipe.templates, kinds: [.keyword, .synonym, .description, .heldout]))
        XCTAssertTrue(neighbors.allSatisfy { !own.contains($0) && !$0.contains("circle") && !$0.contains("ball") })
        XCTAssertFalse(neighbors.contains { $0.contains("crimson circle") })
        // The anchor method adds them to its preservation prompts only when asked.
        let target = try ErasureTarget(circle, recipe: recipe, tokenizer: try TinyWorld.tokenizer())
        let plain = Anchor(targets: [target], recipe: recipe).preservePrompts
        recipe.preserveNeighbors = true
        let widened = Anchor(targets: [target], recipe: recipe).preservePrompts
        XCTAssertFalse(plain.contains("a red square"))
        XCTAssertTrue(widened.contains("a red square"))
        XCTAssertEqual(Array(widened.prefix(plain.count)), plain)
    }
}
