// The HTML report of eval JSONs: self-contained, escaped, one chart per family, and errors that
// name the JSON field at fault.
import Foundation
@testable import LetheEval
import LetheMedia
import XCTest

final class HTMLReportTests: XCTestCase {
    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url.appendingPathComponent("samples"), withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A two-frame GIF of one colour, so the original and erased samples differ.
    func writeSampleGIF(_ color: RGBColor, to url: URL) throws -> Data {
        var moved = RGBFrame(width: 16, height: 16, fill: color)
        moved.fill(x: 4, y: 4, width: 6, height: 6, color: .white)
        try writeGIF(frames: [RGBFrame(width: 16, height: 16, fill: color), moved], fps: 4, to: url)
        return try Data(contentsOf: url)
    }

    func erasureEvaluation() -> ErasureEvaluation {
        ErasureEvaluation(
            model: "out/erased <video>", baseline: "models/video", erased: ["circle"], family: "object", video: true,
            seeds: 1, steps: 25, guidance: 5, detector: "models/detector",
            erasure: .init(target: 0.05, targetBaseline: 0.9, paraphrase: 0.2, paraphraseBaseline: 0.85),
            retention: .init(inDomain: 0.9, inDomainBaseline: 0.92, crossDomain: 0.95, crossDomainBaseline: 0.96),
            quality: .init(frechetDistance: 14, frechetDistanceBaseline: 12, temporalConsistency: 0.96,
                           temporalConsistencyBaseline: 0.97),
            perConcept: [
                .init(family: "object", concept: "circle", accuracy: 0.05, accuracyBaseline: 0.9),
                .init(family: "object", concept: "square", accuracy: 0.88, accuracyBaseline: 0.93),
                .init(family: "color", concept: "red", accuracy: 0.97, accuracyBaseline: 0.98),
            ],
            samples: [.init(prompt: "a red circle <script>alert('x')</script> & \"friends\"", seed: 3,
                            baseline: "samples/0000-base.gif", model: "samples/0000-erased.gif")],
            seconds: 321,
            standardErrors: .init(target: 0.02, targetChange: 0.03, paraphrase: nil, paraphraseChange: nil,
                                  inDomain: 0.04, inDomainChange: 0.025, crossDomain: 0.01, crossDomainChange: 0.005))
    }

    func occurrences(of needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func testErasureReportIsSelfContainedEscapedWithOneSVGPerChart() throws {
        let dir = try scratch()
        let base = try writeSampleGIF(RGBColor(200, 30, 30), to: dir.appendingPathComponent("samples/0000-base.gif"))
        let erased = try writeSampleGIF(RGBColor(30, 30, 200), to: dir.appendingPathComponent("samples/0000-erased.gif"))
        let html = try HTMLReport.render(try JSONEncoder().encode(erasureEvaluation()), baseDirectory: dir)

        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<title>Erasure of circle — Lethe report</title>"))
        // Headline rates, then one chart per concept family in per_concept (object, color).
        XCTAssertEqual(occurrences(of: "<svg", in: html), 3)
        XCTAssertEqual(occurrences(of: "</svg>", in: html), 3)
        XCTAssertTrue(html.contains("data:image/gif;base64,\(base.base64EncodedString())"))
        XCTAssertTrue(html.contains("data:image/gif;base64,\(erased.base64EncodedString())"))
        // User text arrives escaped, and nothing is loaded from elsewhere.
        XCTAssertTrue(html.contains("a red circle &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;friends&quot;"))
        XCTAssertTrue(html.contains("out/erased &lt;video&gt;"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<video>"))
        for external in ["src=\"http", "href=", "<link", "@import", "url("] {
            XCTAssertFalse(html.contains(external), external)
        }
        // The numbers of the table: target 90% → 5%, a drop of 85 points, which is for the better.
        // A change carries its standard error where the report has one.
        XCTAssertTrue(html.contains("<td class=\"num\">90.0%</td><td class=\"num\">5.0%</td><td class=\"good\">−85.0 pp ± 3.0</td>"))
        XCTAssertTrue(html.contains("<td class=\"num\">92.0%</td><td class=\"num\">90.0%</td><td class=\"bad\">−2.0 pp ± 2.5</td>"))
        XCTAssertTrue(html.contains("<td class=\"num\">85.0%</td><td class=\"num\">20.0%</td><td class=\"good\">−65.0 pp</td>"))
        XCTAssertTrue(html.contains("<td class=\"num\">12.00</td><td class=\"num\">14.00</td><td class=\"bad\">+2.00</td>"))
        XCTAssertTrue(html.contains("circle (erased)"))
        XCTAssertTrue(html.contains("What the numbers mean"))
    }

    func testModelReportHasOneChartPerFamilyAndNoSamples() throws {
        let json = """
        {"kind": "model", "model": "models/image", "video": false, "prompts": "configs/prompts/v1/eval.jsonl",
         "prompt_count": 200, "seeds": 1, "steps": 25, "guidance": 5.0, "detector": "models/detector",
         "metrics": {"style": {"accuracy": 0.7, "per_concept": {"flat": 0.8, "striped": 0.6}},
                     "object": {"accuracy": 0.93, "per_concept": {"circle": 0.95, "<star>": 0.9},
                                "keyword_accuracy": 0.94, "paraphrase_accuracy": 0.91},
                     "color": {"accuracy": 0.8, "per_concept": {"red": 0.85}}},
         "frechet_distance": 12.3, "temporal_consistency": null, "seconds": 123.4}
        """
        let html = try HTMLReport.render(Data(json.utf8), baseDirectory: URL(fileURLWithPath: "/nonexistent"))
        XCTAssertEqual(occurrences(of: "<svg", in: html), 3)
        XCTAssertFalse(html.contains("data:"))
        XCTAssertTrue(html.contains("&lt;star&gt;"))
        XCTAssertFalse(html.contains("<star>"))
        // Families in the world's order whatever the JSON's order.
        let order = ["object: detector accuracy", "color: detector accuracy", "style: detector accuracy"]
            .map { html.range(of: $0)!.lowerBound }
        XCTAssertEqual(order, order.sorted())
        XCTAssertTrue(html.contains("<td>object: accuracy, paraphrased prompts</td><td class=\"num\">91.0%</td>"))
        XCTAssertFalse(html.contains("temporal consistency</td>"), "no row for a null measure")
    }

    func testVideoReportTabulatesWhatTheClipHeadReadForEachAskedMotion() throws {
        let json = """
        {"kind": "model", "model": "models/video", "video": true, "prompts": "p.jsonl", "prompt_count": 5, "seeds": 1,
         "steps": 25, "guidance": 2.5, "detector": "models/detector",
         "metrics": {"motion": {"accuracy": 0.4, "per_concept": {"left": 0.5, "still": 0.0},
                                "confusion": {"left": {"left": 1, "right": 1}, "still": {"spin": 2}}}},
         "frechet_distance": null, "temporal_consistency": 0.9, "seconds": 1}
        """
        let html = try HTMLReport.render(Data(json.utf8), baseDirectory: URL(fileURLWithPath: "/nonexistent"))
        // Rows asked, columns read (asked ones included though never read): left, right, spin, still.
        XCTAssertTrue(html.contains("<th>asked \\ read</th><th>left</th><th>right</th><th>spin</th><th>still</th></tr>"))
        XCTAssertTrue(html.contains("<tr><th>left</th><td class=\"num hit\">1</td><td class=\"num\">1</td><td class=\"num\">·</td><td class=\"num\">·</td></tr>"))
        XCTAssertTrue(html.contains("<tr><th>still</th><td class=\"num\">·</td><td class=\"num\">·</td><td class=\"num\">2</td><td class=\"num hit\">·</td></tr>"))
        let negative = json.replacingOccurrences(of: "\"spin\": 2", with: "\"spin\": -2")
        XCTAssertEqual(reportError(negative), "field 'metrics.motion.confusion.still.spin': -2 is not a count of samples")
    }

    /// SVG text does not wrap: a label drawn right-aligned at x must have room to its left, or
    /// the browser cuts it off (the headline labels were, at a fixed 290 px column).
    func testBarChartLabelColumnFitsTheLongestLabel() throws {
        let long = String(repeating: "erased concept still shown (keyword prompts, n = 4) ", count: 2)
        let svg = BarChart(title: "t", series: [.baseline, .model("erased")],
                           rows: [("short", [0.5, 0.2]), (long, [0.9, nil])]).svg()
        let pattern = try NSRegularExpression(pattern: #"<text x="(\d+)" y="\d+" text-anchor="end"[^>]*>([^<]*)</text>"#)
        let matches = pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg))
        XCTAssertEqual(matches.count, 2)
        for m in matches {
            let x = Int(svg[Range(m.range(at: 1), in: svg)!])!
            let label = svg[Range(m.range(at: 2), in: svg)!]
            // 6.5 px per character is about what 12 px sans-serif needs on average.
            XCTAssertGreaterThanOrEqual(Double(x), 6.5 * Double(label.count), String(label))
        }
        let widthPattern = try NSRegularExpression(pattern: #"<svg [^>]*width="(\d+)""#)
        let w = try XCTUnwrap(widthPattern.firstMatch(in: svg, range: NSRange(svg.startIndex..., in: svg)))
        XCTAssertGreaterThan(Int(svg[Range(w.range(at: 1), in: svg)!])!, 6 * long.count + 360)
    }

    func reportError(_ json: String, baseDirectory: URL = URL(fileURLWithPath: "/nonexistent")) -> String {
        do {
            _ = try HTMLReport.render(Data(json.utf8), baseDirectory: baseDirectory)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testMalformedJSONNamesTheField() throws {
        let good = String(decoding: try JSONEncoder().encode(erasureEvaluation()), as: UTF8.self)
        func edited(_ transform: (inout [String: Any]) -> Void) throws -> String {
            var object = try JSONSerialization.jsonObject(with: Data(good.utf8)) as! [String: Any]
            transform(&object)
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        XCTAssertEqual(reportError("{\"kind\": "), "not valid JSON")
        XCTAssertEqual(reportError("{}"), "field 'kind': missing; expected \"model\" or \"erasure\"")
        XCTAssertEqual(reportError("{\"kind\": \"erasures\"}"), "field 'kind': expected \"model\" or \"erasure\", got \"erasures\"")
        XCTAssertEqual(reportError(try edited { $0["erasure"] = ["target": "low", "target_baseline": 0.9] }),
                       "field 'erasure.target': expected a number")
        XCTAssertEqual(reportError(try edited { $0["retention"] = nil }), "field 'retention': missing")
        XCTAssertEqual(reportError(try edited {
            var scores = $0["per_concept"] as! [[String: Any]]
            scores[1]["accuracy_baseline"] = nil
            $0["per_concept"] = scores
        }), "field 'per_concept[1].accuracy_baseline': missing")
        XCTAssertEqual(reportError(try edited {
            var scores = $0["per_concept"] as! [[String: Any]]
            scores[2]["accuracy"] = 1.5
            $0["per_concept"] = scores
        }), "field 'per_concept[2].accuracy': 1.5 is not a rate in [0, 1]")
        XCTAssertEqual(reportError(good), "field 'samples[0].baseline': /nonexistent/samples/0000-base.gif: no such file")
        XCTAssertEqual(reportError(try edited { $0["samples"] = [["prompt": "p", "seed": 0, "baseline": "a.txt", "model": "b.gif"]] }),
                       "field 'samples[0].baseline': a.txt: expected a .gif, .png, .jpg, .webp, .mp4 or .webm file")
        XCTAssertEqual(reportError("{\"kind\": \"model\", \"model\": \"m\"}"), "field 'video': missing")
    }
}
