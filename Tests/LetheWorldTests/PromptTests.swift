import XCTest
import LetheCore
@testable import LetheWorld

final class ConceptCatalogTests: XCTestCase {
    let catalog = PromptCatalog.v1

    func testEveryConceptHasEveryKindOfPhrasing() {
        XCTAssertGreaterThanOrEqual(ObjectKind.allCases.count, 8)
        XCTAssertGreaterThanOrEqual(ColorKind.allCases.count, 6)
        XCTAssertGreaterThanOrEqual(StyleKind.allCases.count, 5)
        XCTAssertGreaterThanOrEqual(MotionKind.allCases.count, 6)
        for concept in catalog.concepts.all {
            XCTAssertEqual(concept.phrasings(.keyword).count, 1, concept.keyword)
            XCTAssertFalse(concept.phrasings(.synonym).isEmpty, concept.keyword)
            XCTAssertFalse(concept.phrasings(.description).isEmpty, concept.keyword)
            XCTAssertGreaterThanOrEqual(concept.phrasings(.heldout).count, 2, concept.keyword)
            if concept.family == .object {
                for p in concept.trainPhrasings + concept.heldOutPhrasings {
                    XCTAssertEqual(p.text.components(separatedBy: "{}").count, 2, "'\(p.text)' needs one adjective slot")
                }
            }
        }
        let artists = catalog.concepts.all.compactMap(\.artist)
        XCTAssertGreaterThanOrEqual(artists.count, 2)
        for style in catalog.concepts.all where style.artist != nil {
            XCTAssertTrue(style.phrasings(.synonym).contains { $0.text == "in the style of \(style.artist!)" })
        }
    }

    func testHeldOutPhrasingsAreNewWordingsOfKnownWords() {
        let vocabulary = catalog.trainVocabulary
        let trainPhrasings = catalog.concepts.all.flatMap(\.trainPhrasings)
        for concept in catalog.concepts.all {
            for h in concept.heldOutPhrasings {
                // No training phrasing or template contains it...
                for p in trainPhrasings {
                    XCTAssertFalse(CaptionText.contains(p.words, phrase: h.words), "'\(h.text)' is inside '\(p.text)'")
                }
                for t in catalog.templates where t.split == .train {
                    for fixed in t.fixedWords { XCTAssertFalse(CaptionText.contains(fixed, phrase: h.words)) }
                }
                // ...but a model trained on the world knows every word of it.
                for word in h.words { XCTAssertTrue(vocabulary.contains(word), "'\(word)' of '\(h.text)' is never trained") }
            }
        }
    }

    func testNoPhrasingIsSharedByTwoConcepts() {
        var owner: [String: String] = [:]
        for concept in catalog.concepts.all {
            for p in concept.trainPhrasings + concept.heldOutPhrasings {
                let key = "\(concept.family):\(CaptionText.normalized(p.text))"
                XCTAssertNil(owner[key], "'\(p.text)' belongs to \(owner[key] ?? "") and \(concept.keyword)")
                owner[key] = concept.keyword
            }
        }
    }

    func testCatalogueExportListsEveryPhrasingAndTemplate() throws {
        let json = try JSONSerialization.jsonObject(with: catalog.exportJSON()) as! [String: Any]
        let concepts = json["concepts"] as! [[String: Any]]
        XCTAssertEqual(concepts.count, catalog.concepts.all.count)
        XCTAssertEqual((json["templates"] as! [Any]).count, catalog.templates.count)
        XCTAssertEqual((json["held_out_combos"] as! [Any]).count, catalog.heldOutCombos.count)
        let circle = concepts.first { $0["keyword"] as? String == "circle" }!
        XCTAssertEqual((circle["train"] as! [[String: String]]).map { $0["text"]! },
                       catalog.concepts.concept(ObjectKind.circle).trainPhrasings.map(\.text))
    }
}

final class CaptionTests: XCTestCase {
    let catalog = PromptCatalog.v1

    /// Every concept a caption names is the clip's, worded with one of that concept's phrasings
    /// of the recorded kind, and no other concept of the family is worded in it.
    func testTrainCaptionsDescribeTheirClips() {
        for mode in WorldMode.allCases {
            for (spec, entry) in WorldFixtures.trainCaptions(count: 600, mode: mode, seed: 17) {
                let words = CaptionText.words(entry.prompt)
                XCTAssertLessThanOrEqual(words.count, catalog.maxWords, entry.prompt)
                XCTAssertEqual(entry.kind, mode)
                XCTAssertEqual(entry.objects.count, spec.objects.count)
                var named: [ConceptFamily: Set<String>] = [:]
                for (o, truth) in zip(entry.objects, spec.objects) {
                    XCTAssertEqual(o.object, truth.object, entry.prompt)
                    if let c = o.color { XCTAssertEqual(c, truth.color, entry.prompt) }
                    if let s = o.style { XCTAssertEqual(s, truth.style, entry.prompt) }
                    named[.object, default: []].insert(truth.object.rawValue)
                    named[.color, default: []].insert(truth.color.rawValue)
                    named[.style, default: []].insert(truth.style.rawValue)
                    for (family, keyword, kind) in [(ConceptFamily.object, o.object.rawValue, Optional(o.phrasings.object)),
                                                    (.color, o.color?.rawValue, o.phrasings.color),
                                                    (.style, o.style?.rawValue, o.phrasings.style)] {
                        guard let keyword, let kind else { continue }
                        let concept = catalog.concepts.concept(family: family, keyword: keyword)!
                        XCTAssertTrue(concept.phrasings(kind).contains { caption(words, contains: $0) },
                                      "'\(entry.prompt)' lacks a \(kind) of \(keyword)")
                    }
                }
                if let m = entry.motion {
                    XCTAssertEqual(m, spec.objects[0].motion)
                    XCTAssertTrue(catalog.concepts.concept(m).phrasings(entry.phrasings.motion!).contains { caption(words, contains: $0) })
                }
                named[.motion] = [spec.objects[0].motion.rawValue]
                for concept in catalog.concepts.all where !(named[concept.family]?.contains(concept.keyword) ?? false) {
                    for p in concept.trainPhrasings where caption(words, contains: p) {
                        XCTFail("'\(entry.prompt)' words \(concept.keyword) ('\(p.text)'), which the clip does not show")
                    }
                }
            }
        }
    }

    func testTrainCaptionsNeverUseHeldOutWordingsOrEvalPrompts() {
        let heldOut = catalog.concepts.all.flatMap(\.heldOutPhrasings)
        let captions = WorldFixtures.trainCaptions(count: 1500, mode: .clip, seed: 1)
            + WorldFixtures.trainCaptions(count: 1500, mode: .image, seed: 2)
        var distinct = Set<String>()
        for (_, entry) in captions {
            let normalized = CaptionText.normalized(entry.prompt)
            distinct.insert(normalized)
            XCTAssertFalse(WorldFixtures.exclusions.contains(normalized), "training caption '\(entry.prompt)' is an eval or held-out prompt")
            XCTAssertNotEqual(entry.phrasing, .heldout)
            XCTAssertEqual(catalog.template(id: entry.template)?.split, .train)
            let words = CaptionText.words(entry.prompt)
            for h in heldOut where caption(words, contains: h) {
                XCTFail("training caption '\(entry.prompt)' contains held-out '\(h.text)'")
            }
        }
        XCTAssertGreaterThan(distinct.count, 2500, "training captions should rarely repeat")
    }

    func testColorSwappedCaptionsExchangeThePairsColorsAndNothingElse() {
        func contentWords(_ text: String) -> [String] { CaptionText.words(text).filter { $0 != "a" && $0 != "an" }.sorted() }
        var swappedCount = 0, keywordChecked = 0, eligibleMissing = 0
        for (spec, entry) in WorldFixtures.trainCaptions(count: 800, mode: .image, seed: 23) {
            let objects = entry.objects
            let eligible = spec.objects.count == 2 && objects[0].color != nil && objects[1].color != nil
                && objects[0].color != objects[1].color
            guard let swapped = entry.colorSwappedPrompt else {
                if eligible { eligibleMissing += 1 }  // an awkward, too long or excluded swap
                continue
            }
            swappedCount += 1
            XCTAssertTrue(eligible, "'\(entry.prompt)' should have no swapped caption")
            XCTAssertNotEqual(swapped, entry.prompt)
            XCTAssertEqual(contentWords(swapped), contentWords(entry.prompt), "'\(swapped)' is not '\(entry.prompt)' rearranged")
            XCTAssertFalse(WorldFixtures.exclusions.contains(CaptionText.normalized(swapped)))
            if objects[0].phrasings.color == .keyword && objects[1].phrasings.color == .keyword {
                let c1 = objects[0].color!.rawValue, c2 = objects[1].color!.rawValue
                let before = CaptionText.words(entry.prompt), after = CaptionText.words(swapped)
                XCTAssertLessThan(before.firstIndex(of: c1)!, before.firstIndex(of: c2)!, entry.prompt)
                XCTAssertLessThan(after.firstIndex(of: c2)!, after.firstIndex(of: c1)!, "'\(swapped)' keeps the colors in place")
                keywordChecked += 1
            }
        }
        // About 30% pairs, 85% of objects with a color named, 7 in 8 pairs of different colors.
        XCTAssertGreaterThan(swappedCount, 100)
        XCTAssertGreaterThan(keywordChecked, 5)
        XCTAssertLessThan(eligibleMissing, swappedCount / 4, "most pairs of named, different colors should have a swap")
    }

    func testMotionReversedCaptionsReverseTheDirectionAndNothingElse() throws {
        let concepts = PromptCatalog.v1.concepts
        var reversedCount = 0
        for (_, entry) in WorldFixtures.trainCaptions(count: 400, mode: .clip, seed: 29) {
            guard let reversed = entry.motionReversedPrompt else {
                // Only a caption that names a direction has one (none of this seed's reversals is excluded).
                XCTAssertNil(entry.motion?.reversed, "'\(entry.prompt)' should have a reversed caption")
                continue
            }
            reversedCount += 1
            // The caption with its motion phrasing replaced by the reversed motion's phrasing of the
            // same kind and place: "sliding to the left" by "sliding to the right".
            let motion = try XCTUnwrap(entry.motion), back = try XCTUnwrap(motion.reversed)
            let kind = try XCTUnwrap(entry.phrasings.motion)
            let own = concepts.concept(motion).phrasings(kind), other = concepts.concept(back).phrasings(kind)
            let i = try XCTUnwrap(own.firstIndex { entry.prompt.contains($0.text) }, entry.prompt)
            XCTAssertEqual(reversed, entry.prompt.replacingOccurrences(of: own[i].text, with: other[i].text))
            XCTAssertNotEqual(reversed, entry.prompt)
            XCTAssertFalse(WorldFixtures.exclusions.contains(CaptionText.normalized(reversed)))
        }
        // Half the clips move in a direction and 90% of captions name the motion.
        XCTAssertGreaterThan(reversedCount, 120)
    }

    func testExcludedPromptsAreNeverWritten() {
        // The same draws with the first run's captions excluded produce none of them.
        let first = WorldFixtures.trainCaptions(count: 300, mode: .image, seed: 8, excluded: [])
        let banned = Set(first.map { CaptionText.normalized($0.1.prompt) })
        let second = WorldFixtures.trainCaptions(count: 300, mode: .image, seed: 8, excluded: banned)
        XCTAssertTrue(first.map(\.0) == second.map(\.0), "exclusions must not change which clips are drawn")
        for (_, entry) in second { XCTAssertFalse(banned.contains(CaptionText.normalized(entry.prompt)), entry.prompt) }
    }

    func testNounPhrasesAgreeAndStayReadable() {
        let writer = CaptionWriter()
        let concepts = catalog.concepts
        let orange = concepts.concept(ColorKind.orange).trainPhrasings[0]
        let circle = concepts.concept(ObjectKind.circle)
        let wording = ObjectWording(object: .circle, objectPhrasing: circle.phrasings(.synonym)[1],
                                    color: (.orange, orange), style: nil)
        XCTAssertEqual(writer.nounPhrase(wording), "a round orange disc")
        let outlined = ObjectWording(object: .circle, objectPhrasing: circle.trainPhrasings[0], color: nil,
                                     style: (.outlined, concepts.concept(StyleKind.outlined).trainPhrasings[0]))
        XCTAssertEqual(writer.nounPhrase(outlined), "an outlined circle")
        // Two modifier clauses on one noun are refused.
        let stacked = ObjectWording(object: .circle, objectPhrasing: circle.phrasings(.description)[0], color: nil,
                                    style: (.striped, concepts.concept(StyleKind.striped).phrasings(.description)[0]))
        XCTAssertNil(writer.nounPhrase(stacked))
    }
}

final class PromptSetTests: XCTestCase {
    let catalog = PromptCatalog.v1
    var eval: PromptSet { WorldFixtures.sets.eval }
    var heldout: PromptSet { WorldFixtures.sets.heldout }

    func testEvalSetIsLargeBalancedAndUsesTrainingGrammar() {
        let images = eval.entries.filter { $0.kind == .image }, clips = eval.entries.filter { $0.kind == .clip }
        XCTAssertGreaterThanOrEqual(images.count, 200)
        XCTAssertGreaterThanOrEqual(clips.count, 200)
        for group in [images, clips] {
            for object in ObjectKind.allCases {
                for kind in [PhrasingKind.keyword, .synonym, .description] {
                    XCTAssertGreaterThanOrEqual(group.filter { $0.object == object && $0.phrasings.object == kind }.count, 15)
                }
            }
        }
        XCTAssertGreaterThan(eval.entries.filter { $0.second != nil }.count, 100)
        XCTAssertGreaterThan(eval.entries.filter(\.heldOutCombo).count, 100)
        let heldOut = catalog.concepts.all.flatMap(\.heldOutPhrasings)
        let vocabulary = catalog.trainVocabulary
        for e in eval.entries {
            XCTAssertEqual(catalog.template(id: e.template)?.split, .train)
            XCTAssertNotEqual(e.phrasing, .heldout)
            XCTAssertNotNil(e.color)
            XCTAssertNotNil(e.style)
            XCTAssertEqual(e.motion == nil, e.kind == .image)
            let words = CaptionText.words(e.prompt)
            XCTAssertLessThanOrEqual(words.count, catalog.maxWords)
            XCTAssertTrue(words.allSatisfy(vocabulary.contains), e.prompt)
            XCTAssertFalse(heldOut.contains { caption(words, contains: $0) }, e.prompt)
            XCTAssertEqual(e.heldOutCombo, catalog.heldOutCombos.contains(ObjectCombo(object: e.object, color: e.color!, style: e.style!)))
        }
    }

    func testHeldOutSetWordsEveryConceptInNewWays() {
        let vocabulary = catalog.trainVocabulary
        for concept in catalog.concepts.all {
            for h in concept.heldOutPhrasings {
                let uses = heldout.entries.filter { e in
                    e.phrasing(of: concept.family, keyword: concept.keyword) == .heldout && caption(CaptionText.words(e.prompt), contains: h)
                }
                XCTAssertGreaterThanOrEqual(uses.count, 3, "'\(h.text)'")
            }
        }
        for e in heldout.entries {
            XCTAssertEqual(e.phrasing, .heldout)
            let words = CaptionText.words(e.prompt)
            XCTAssertLessThanOrEqual(words.count, catalog.maxWords)
            XCTAssertTrue(words.allSatisfy(vocabulary.contains), e.prompt)
        }
        XCTAssertTrue(heldout.entries.contains { catalog.template(id: $0.template)?.split == .heldout })
        XCTAssertGreaterThanOrEqual(heldout.entries.count, 200)
    }

    func testSetsAreDisjoint() {
        let evalPrompts = Set(eval.entries.map { CaptionText.normalized($0.prompt) })
        let heldPrompts = Set(heldout.entries.map { CaptionText.normalized($0.prompt) })
        XCTAssertEqual(evalPrompts.count, eval.entries.count, "eval repeats a prompt")
        XCTAssertEqual(heldPrompts.count, heldout.entries.count, "heldout repeats a prompt")
        XCTAssertTrue(evalPrompts.isDisjoint(with: heldPrompts))
        XCTAssertTrue(Set(eval.entries.map(\.id)).isDisjoint(with: heldout.entries.map(\.id)))
    }

    func testGenerationIsDeterministic() {
        let again = PromptSetGenerator.v1()
        XCTAssertEqual(again.eval.entries, eval.entries)
        XCTAssertEqual(again.heldout.entries, heldout.entries)
        let other = PromptSetGenerator(seed: 99).eval(imagePrompts: 20, clipPrompts: 0)
        XCTAssertNotEqual(other.entries.map(\.prompt), Array(eval.entries.prefix(20)).map(\.prompt))
    }

    /// The files under configs/ are what the code generates. Run with LETHE_UPDATE_PROMPTS=1 to
    /// rewrite them (only for a new version: v1's prompts must never change).
    func testCommittedFilesAreCurrent() throws {
        let dir = WorldFixtures.repoRoot.appendingPathComponent("configs/prompts/v1")
        let worldFile = WorldFixtures.repoRoot.appendingPathComponent("configs/world/v1.json")
        let files: [(URL, Data)] = [
            (dir.appendingPathComponent("eval.jsonl"), Data(eval.jsonLines().utf8)),
            (dir.appendingPathComponent("heldout.jsonl"), Data(heldout.jsonLines().utf8)),
            (dir.appendingPathComponent("catalog.json"), try catalog.exportJSON()),
        ]
        if ProcessInfo.processInfo.environment["LETHE_UPDATE_PROMPTS"] == "1" {
            for (url, data) in files { try writeAtomically(data, to: url) }
            try WorldConfig.v1.write(to: worldFile)
        }
        for (url, data) in files {
            XCTAssertEqual(try Data(contentsOf: url), data, "\(url.path) differs from the generator")
        }
        XCTAssertEqual(try WorldConfig.load(worldFile), .v1)
        XCTAssertEqual(try PromptSet.read(dir.appendingPathComponent("eval.jsonl")).entries, eval.entries)
    }

    func testPromptFilesRoundTripAndAnswerConceptQueries() throws {
        let parsed = try PromptSet.parse(heldout.jsonLines(), source: "heldout.jsonl", name: "heldout")
        XCTAssertEqual(parsed.entries, heldout.entries)
        let pair = eval.entries.first { $0.second != nil && $0.second?.color != nil }!
        XCTAssertEqual(pair.phrasing(of: .object, keyword: pair.second!.object.rawValue), pair.second!.phrasings.object)
        XCTAssertTrue(pair.names(.color, pair.second!.color!.rawValue))
        let absent = ObjectKind.allCases.first { $0 != pair.object && $0 != pair.second!.object }!
        XCTAssertFalse(pair.names(.object, absent.rawValue))
    }

    func testHandWrittenPromptFilesNeedOnlyPromptAndObject() throws {
        let text = """
        {"prompt": "a red ball", "object": "circle", "color": "red"}

        {"prompt": "a crimson ball spinning", "object": "circle", "color": "red", "motion": "spin", "phrasings": {"color": "synonym"}}
        """
        let set = try PromptSet.parse(text, source: "mine.jsonl", name: "mine")
        XCTAssertEqual(set.entries.map(\.id), ["mine-1", "mine-3"])
        let (a, b) = (set.entries[0], set.entries[1])
        XCTAssertEqual(a.kind, .image)
        XCTAssertEqual(a.phrasings, PromptPhrasings(object: .keyword, color: .keyword))
        XCTAssertEqual(a.phrasing, .keyword)
        XCTAssertNil(a.style)
        XCTAssertEqual(b.kind, .clip)
        XCTAssertEqual(b.phrasings.color, .synonym)
        XCTAssertEqual(b.phrasing, .synonym)
        XCTAssertEqual(b.query, ClipQuery(first: ObjectQuery(object: .circle, color: .red), motion: .spin, objectCount: 1))
    }

    func testMalformedPromptFilesNameTheLineAndField() {
        let good = eval.entries[0].jsonLine()
        func message(_ text: String) -> String {
            do {
                _ = try PromptSet.parse(text, source: "bad.jsonl", name: "bad")
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(message(good + "\n{\"prompt\": \"x\"}\n").hasPrefix("bad.jsonl:2: missing field"), message(good + "\n{\"prompt\": \"x\"}\n"))
        let hexagon = good.replacingOccurrences(of: "\"object\": \"circle\"", with: "\"object\": \"hexagon\"")
        XCTAssertTrue(message(hexagon).contains("bad.jsonl:1: field 'object': 'hexagon' is not one of circle, square"), message(hexagon))
        let moving = good.replacingOccurrences(of: "\"motion\": null, \"phrasing\"", with: "\"motion\": \"left\", \"phrasing\"")
        XCTAssertTrue(message(moving).contains("an image prompt has no motion"), message(moving))
        XCTAssertTrue(message(good + "\n" + good).contains("used twice"))
        XCTAssertTrue(message("not json").hasPrefix("bad.jsonl:1:"))
    }

    func testWorldConfigErrorsNameFileAndKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-world-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func load(_ json: String) -> String {
            let url = dir.appendingPathComponent("w.json")
            try! Data(json.utf8).write(to: url)
            do { _ = try WorldConfig.load(url); return "ok" } catch { return "\(error)" }
        }
        XCTAssertEqual(load("{\"frame_count\": 4}"), "ok")
        XCTAssertTrue(load("{\"frame_cuont\": 4}").contains("key 'frame_cuont': unknown key"))
        XCTAssertTrue(load("{\"pair_radius\": 5}").contains("key 'pair_radius': expected [low, high]"), load("{\"pair_radius\": 5}"))
        XCTAssertTrue(load("{\"grow_radius\": [7, 20]}").contains("key 'grow_radius'"))
        XCTAssertTrue(load("{\"size\": \"big\"}").contains("key 'size'"))
        XCTAssertTrue(load("[1]").contains("expected a JSON object"))
    }
}

final class WorldDatasetTests: XCTestCase {
    /// A dataset told to stress some motions draws only those, and its captions name no other.
    func testMotionsRestrictTheClipsDrawn() {
        var dataset = WorldDataset(seed: 4, excludedPrompts: WorldFixtures.exclusions)
        dataset.motions = [.left, .up]
        let batch = dataset.batch(0, size: 16, mode: .clip)
        let drawn = Set(batch.specs.flatMap { $0.objects.map(\.motion) })
        XCTAssertEqual(drawn, [.left, .up])
        XCTAssertTrue(batch.prompts.allSatisfy { $0.motion.map { [.left, .up].contains($0) } ?? true }, "\(batch.prompts.map(\.motion))")
        // Images stand still whatever the clips stress.
        XCTAssertEqual(Set(dataset.batch(0, size: 4, mode: .image).specs.flatMap { $0.objects.map(\.motion) }), [.still])
    }

    func testBatchesAreDeterministicAndLabelled() {
        let dataset = WorldDataset(seed: 4, excludedPrompts: WorldFixtures.exclusions)
        let clips = dataset.batch(2, size: 3, mode: .clip)
        XCTAssertEqual(clips.pixels.shape, [3, 3, 8, 32, 32])
        XCTAssertEqual(clips.captions.count, 3)
        XCTAssertEqual(clips.labels.count, 3)
        XCTAssertEqual(clips.pixels.scalars, dataset.batch(2, size: 3, mode: .clip).pixels.scalars)
        XCTAssertNotEqual(clips.captions, dataset.batch(3, size: 3, mode: .clip).captions)
        // Sample i of the batch is the render of spec i.
        let renderer = Renderer()
        let second = renderer.render(clips.specs[1])
        XCTAssertEqual(Array(clips.pixels.scalars[(3 * 8 * 1024)..<(2 * 3 * 8 * 1024)]), second.scalars)
        for (label, spec) in zip(clips.labels, clips.specs) {
            XCTAssertEqual(label.objects.map(\.object), spec.objects.map(\.object))
            XCTAssertEqual(label.motion, spec.objects[0].motion)
        }

        let images = dataset.batch(0, size: 4, mode: .image)
        XCTAssertEqual(images.pixels.shape, [4, 3, 32, 32])
        XCTAssertTrue(images.specs.allSatisfy { $0.frameCount == 1 && $0.objects.allSatisfy { $0.motion == .still } })
        XCTAssertTrue(images.prompts.allSatisfy { $0.motion == nil && $0.kind == .image })
    }

    func testBatchOf32ClipsIsFast() {
        // Release builds must stay well under 100 ms; a debug build (the test default) is allowed
        // far more, but still catches an accidental blow-up.
        let dataset = WorldDataset(seed: 1, excludedPrompts: [])
        _ = dataset.batch(0, size: 2, mode: .clip)
        let start = Date()
        let batch = dataset.batch(1, size: 32, mode: .clip)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(batch.pixels.shape[0], 32)
        #if DEBUG
        XCTAssertLessThan(elapsed, 10)
        #else
        XCTAssertLessThan(elapsed, 0.1)
        #endif
        print("batch of 32 clips: \(Int(elapsed * 1000)) ms")
    }
}
