// One self-contained HTML page from an eval JSON: the numbers, charts drawn as inline SVG and the
// sample clips embedded as data URIs, so the page can be mailed or archived as a single file and
// still show everything years later. No scripts, no external resources.

import Foundation

/// An eval JSON the report cannot use; `field` is the JSON path of the offending value.
public struct HTMLReportError: Error, CustomStringConvertible {
    public let field: String?
    public let message: String

    public init(field: String?, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.map { "field '\($0)': \(message)" } ?? message }
}

public enum HTMLReport {
    /// The report for the JSON of a `ModelEvaluation` or an `ErasureEvaluation` ("kind" tells which).
    /// Sample paths are resolved against `baseDirectory` (the JSON file's folder).
    public static func render(_ data: Data, baseDirectory: URL) throws -> String {
        struct Kind: Decodable { var kind: String? }
        let kind = try decode(Kind.self, from: data).kind
        switch kind {
        case "model": return try render(decode(ModelEvaluation.self, from: data))
        case "erasure": return try render(decode(ErasureEvaluation.self, from: data), baseDirectory: baseDirectory)
        case nil: throw HTMLReportError(field: "kind", "missing; expected \"model\" or \"erasure\"")
        case let other?: throw HTMLReportError(field: "kind", "expected \"model\" or \"erasure\", got \"\(other)\"")
        }
    }

    public static func render(_ e: ModelEvaluation) throws -> String {
        try checkRates(e)
        let families = orderedFamilies(Array(e.metrics.keys))
        var rows: [TableRow] = []
        for f in families {
            let m = e.metrics[f]!
            rows.append(TableRow(label: "\(f): accuracy", values: [m.accuracy], format: .rate, better: .higher))
            if let k = m.keywordAccuracy {
                rows.append(TableRow(label: "\(f): accuracy, keyword prompts", values: [k], format: .rate, better: .higher))
            }
            if let p = m.paraphraseAccuracy {
                rows.append(TableRow(label: "\(f): accuracy, paraphrased prompts", values: [p], format: .rate, better: .higher))
            }
            if let one = m.oneObjectAccuracy, let two = m.twoObjectAccuracy {
                rows.append(TableRow(label: "\(f): accuracy, one-object prompts", values: [one], format: .rate, better: .higher))
                rows.append(TableRow(label: "\(f): accuracy, two-object prompts", values: [two], format: .rate, better: .higher))
            }
        }
        if let fd = e.frechetDistance {
            rows.append(TableRow(label: "Fréchet distance to ground truth", values: [fd], format: .distance, better: .lower))
        }
        if let tc = e.temporalConsistency {
            rows.append(TableRow(label: "temporal consistency", values: [tc], format: .similarity, better: .higher))
        }
        let charts = families.map { f in
            BarChart(title: "\(f): detector accuracy per concept", series: [.accuracy],
                     rows: e.metrics[f]!.perConcept.sorted { $0.key < $1.key }.map { ($0.key, [$0.value]) }).svg()
        }
        let title = "Evaluation of \(e.model)"
        let facts: [(String, String)] = [
            ("model", e.model), ("kind", e.video ? "video" : "image"), ("prompts", "\(e.prompts) (\(e.promptCount))"),
            ("seeds", "\(e.seeds)"), ("steps", "\(e.steps)"), ("guidance", number(e.guidance)),
            ("detector", e.detector), ("time", duration(e.seconds)),
        ]
        var tables = table(columns: ["value"], rows: rows, change: false)
        for f in families { if let counts = e.metrics[f]!.confusion { tables += confusionTable(family: f, counts) } }
        return page(title: title, subtitle: "detector accuracy on the prompts' concepts", facts: facts,
                    table: tables, charts: charts, samples: "", legend: modelLegend)
    }

    /// Asked concept per row, what the detector read per column, hits on the diagonal marked.
    static func confusionTable(family: String, _ counts: [String: [String: Int]]) -> String {
        let asked = counts.keys.sorted()
        let read = Set(counts.values.flatMap(\.keys)).union(asked).sorted()
        var out = "<h3>\(escape(family)): what was read when a concept was asked (samples)</h3>\n"
        out += "<table class=\"confusion\">\n<thead><tr><th>asked \\ read</th>"
        for r in read { out += "<th>\(escape(r))</th>" }
        out += "</tr></thead>\n<tbody>\n"
        for a in asked {
            out += "<tr><th>\(escape(a))</th>"
            for r in read {
                let n = counts[a]?[r] ?? 0
                out += "<td class=\"num\(r == a ? " hit" : "")\">\(n == 0 ? "·" : String(n))</td>"
            }
            out += "</tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }

    public static func render(_ e: ErasureEvaluation, baseDirectory: URL) throws -> String {
        try checkRates(e)
        // The number of trials behind a rate, so a reader sees how coarse it is.
        func n(_ count: Int?) -> String { count.map { ", n = \($0)" } ?? "" }
        let se = e.standardErrors
        var rows = [
            TableRow(label: "erased concept still shown (keyword prompts\(n(e.trials?.target)))", values: [e.erasure.targetBaseline, e.erasure.target],
                     format: .rate, better: .lower, changeError: se?.targetChange),
        ]
        if let p = e.erasure.paraphrase {
            rows.append(TableRow(label: "erased concept still shown (paraphrases\(n(e.trials?.paraphrase)))", values: [e.erasure.paraphraseBaseline, p],
                                 format: .rate, better: .lower, changeError: se?.paraphraseChange))
        }
        rows += [
            TableRow(label: "retention, same family (in-domain\(n(e.trials?.inDomain)))", values: [e.retention.inDomainBaseline, e.retention.inDomain],
                     format: .rate, better: .higher, changeError: se?.inDomainChange),
            TableRow(label: "retention, other families (cross-domain\(n(e.trials?.crossDomain)))",
                     values: [e.retention.crossDomainBaseline, e.retention.crossDomain], format: .rate, better: .higher,
                     changeError: se?.crossDomainChange),
        ]
        let q = e.quality
        if q.frechetDistance != nil || q.frechetDistanceBaseline != nil {
            rows.append(TableRow(label: "Fréchet distance to ground truth", values: [q.frechetDistanceBaseline, q.frechetDistance],
                                 format: .distance, better: .lower))
        }
        if q.temporalConsistency != nil || q.temporalConsistencyBaseline != nil {
            rows.append(TableRow(label: "temporal consistency", values: [q.temporalConsistencyBaseline, q.temporalConsistency],
                                 format: .similarity, better: .higher))
        }
        var charts = [
            BarChart(title: "Headline rates: original vs erased", series: [.baseline, .model("erased")],
                     rows: rows.filter { $0.format == .rate }.map { ($0.label, $0.values) }).svg(),
        ]
        let families = orderedFamilies(Array(Set(e.perConcept.map(\.family))))
        for f in families {
            let scores = e.perConcept.filter { $0.family == f }
            charts.append(BarChart(title: "\(f): detector accuracy per concept, original vs erased",
                                   series: [.baseline, .model("erased")],
                                   rows: scores.map { s in
                                       (e.erased.contains(s.concept) ? "\(s.concept) (erased)" : s.concept,
                                        [s.accuracyBaseline, s.accuracy])
                                   }).svg())
        }
        let erased = e.erased.joined(separator: ", ")
        let facts: [(String, String)] = [
            ("erased", erased), ("family", e.family), ("model", e.model), ("baseline", e.baseline),
            ("kind", e.video ? "video" : "image"), ("seeds", "\(e.seeds)"), ("steps", "\(e.steps)"),
            ("guidance", number(e.guidance)), ("detector", e.detector), ("time", duration(e.seconds)),
        ]
        return page(title: "Erasure of \(erased)", subtitle: "\(e.model) against \(e.baseline)", facts: facts,
                    table: table(columns: ["original", "erased"], rows: rows, change: true), charts: charts,
                    samples: try samples(e.samples, baseDirectory: baseDirectory), legend: erasureLegend)
    }

    // MARK: - Decoding and checks

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw explain(error)
        }
    }

    static func path(_ codingPath: [CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out
    }

    static func explain(_ error: DecodingError) -> HTMLReportError {
        switch error {
        case let .keyNotFound(key, c):
            let parent = path(c.codingPath)
            return HTMLReportError(field: parent.isEmpty ? key.stringValue : "\(parent).\(key.stringValue)", "missing")
        case let .valueNotFound(type, c):
            return HTMLReportError(field: path(c.codingPath), "expected \(describe(type)), got null")
        case let .typeMismatch(type, c):
            return HTMLReportError(field: path(c.codingPath), "expected \(describe(type))")
        case let .dataCorrupted(c):
            if c.codingPath.isEmpty { return HTMLReportError(field: nil, "not valid JSON") }
            return HTMLReportError(field: path(c.codingPath), c.debugDescription)
        @unknown default:
            return HTMLReportError(field: nil, "\(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }

    static func checkRate(_ value: Double?, _ field: String) throws {
        guard let value else { return }
        guard value.isFinite, (0...1).contains(value) else {
            throw HTMLReportError(field: field, "\(value) is not a rate in [0, 1]")
        }
    }

    static func checkRates(_ e: ModelEvaluation) throws {
        for (f, m) in e.metrics {
            try checkRate(m.accuracy, "metrics.\(f).accuracy")
            try checkRate(m.keywordAccuracy, "metrics.\(f).keyword_accuracy")
            try checkRate(m.paraphraseAccuracy, "metrics.\(f).paraphrase_accuracy")
            try checkRate(m.oneObjectAccuracy, "metrics.\(f).one_object_accuracy")
            try checkRate(m.twoObjectAccuracy, "metrics.\(f).two_object_accuracy")
            for (c, v) in m.perConcept { try checkRate(v, "metrics.\(f).per_concept.\(c)") }
            for (asked, row) in m.confusion ?? [:] {
                for (read, n) in row where n < 0 {
                    throw HTMLReportError(field: "metrics.\(f).confusion.\(asked).\(read)", "\(n) is not a count of samples")
                }
            }
        }
    }

    static func checkRates(_ e: ErasureEvaluation) throws {
        try checkRate(e.erasure.target, "erasure.target")
        try checkRate(e.erasure.targetBaseline, "erasure.target_baseline")
        try checkRate(e.erasure.paraphrase, "erasure.paraphrase")
        try checkRate(e.erasure.paraphraseBaseline, "erasure.paraphrase_baseline")
        try checkRate(e.retention.inDomain, "retention.in_domain")
        try checkRate(e.retention.inDomainBaseline, "retention.in_domain_baseline")
        try checkRate(e.retention.crossDomain, "retention.cross_domain")
        try checkRate(e.retention.crossDomainBaseline, "retention.cross_domain_baseline")
        for (i, s) in e.perConcept.enumerated() {
            try checkRate(s.accuracy, "per_concept[\(i)].accuracy")
            try checkRate(s.accuracyBaseline, "per_concept[\(i)].accuracy_baseline")
        }
    }

    /// The world's family order first, anything else after it alphabetically.
    static func orderedFamilies(_ names: [String]) -> [String] {
        let known = ["object", "color", "style", "motion"]
        return known.filter(names.contains) + names.filter { !known.contains($0) }.sorted()
    }

    // MARK: - Page parts

    enum ValueFormat { case rate, distance, similarity }
    enum Better { case higher, lower }

    struct TableRow {
        var label: String
        var values: [Double?]
        var format: ValueFormat
        var better: Better
        /// The standard error of the change, shown beside it when known.
        var changeError: Double? = nil
    }

    static func format(_ v: Double?, _ f: ValueFormat) -> String {
        guard let v else { return "—" }
        switch f {
        case .rate: return String(format: "%.1f%%", v * 100)
        case .distance: return String(format: "%.2f", v)
        case .similarity: return String(format: "%.3f", v)
        }
    }

    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(format: "%g", v) }

    static func duration(_ s: Double) -> String {
        s < 120 ? String(format: "%.1f s", s) : String(format: "%.1f min", s / 60)
    }

    /// The change from the first value to the last, with a class saying whether it is for the better.
    static func change(_ row: TableRow) -> String {
        guard let a = row.values.first ?? nil, let b = row.values.last ?? nil else { return "<td>—</td>" }
        let d = b - a
        let text: String
        switch row.format {
        case .rate: text = StandardError.changeText(d, error: row.changeError)
        case .distance: text = String(format: "%+.2f", d)
        case .similarity: text = String(format: "%+.3f", d)
        }
        let small = abs(d) < (row.format == .rate ? 0.005 : 1e-3)
        let good = row.better == .higher ? d > 0 : d < 0
        return "<td class=\"\(small ? "same" : good ? "good" : "bad")\">\(escape(text.replacingOccurrences(of: "-", with: "−")))</td>"
    }

    static func table(columns: [String], rows: [TableRow], change showChange: Bool) -> String {
        var out = "<table>\n<thead><tr><th>measure</th>"
        for c in columns { out += "<th>\(escape(c))</th>" }
        if showChange { out += "<th>change</th>" }
        out += "<th>better</th></tr></thead>\n<tbody>\n"
        for row in rows {
            out += "<tr><td>\(escape(row.label))</td>"
            for v in row.values { out += "<td class=\"num\">\(escape(format(v, row.format)))</td>" }
            if showChange { out += change(row) }
            out += "<td>\(row.better == .higher ? "higher" : "lower")</td></tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }

    static func samples(_ samples: [ErasureEvaluation.Sample], baseDirectory: URL) throws -> String {
        guard !samples.isEmpty else { return "" }
        var out = "<h2>Samples</h2>\n<p class=\"note\">Same prompt, same seed, same initial noise: left the original model, right the erased one.</p>\n<div class=\"samples\">\n"
        for (i, s) in samples.enumerated() {
            let base = try embed(s.baseline, field: "samples[\(i)].baseline", baseDirectory: baseDirectory)
            let model = try embed(s.model, field: "samples[\(i)].model", baseDirectory: baseDirectory)
            out += "<figure class=\"sample\"><figcaption>\(escape(s.prompt)) <span class=\"seed\">seed \(s.seed)</span></figcaption>\n"
            out += "<div class=\"pair\"><div><div class=\"tag\">original</div>\(base)</div><div><div class=\"tag\">erased</div>\(model)</div></div></figure>\n"
        }
        return out + "</div>\n"
    }

    /// An <img> (or <video> for MP4/WebM) holding the file's bytes as a data URI.
    static func embed(_ relative: String, field: String, baseDirectory: URL) throws -> String {
        let url = relative.hasPrefix("/") ? URL(fileURLWithPath: relative) : baseDirectory.appendingPathComponent(relative)
        let ext = url.pathExtension.lowercased()
        let types = ["gif": "image/gif", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                     "webp": "image/webp", "mp4": "video/mp4", "webm": "video/webm"]
        guard let mime = types[ext] else {
            throw HTMLReportError(field: field, "\(relative): expected a .gif, .png, .jpg, .webp, .mp4 or .webm file")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "no such file"
            throw HTMLReportError(field: field, "\(url.path): \(reason)")
        }
        let uri = "data:\(mime);base64,\(data.base64EncodedString())"
        if mime.hasPrefix("video/") {
            return "<video src=\"\(uri)\" autoplay loop muted playsinline title=\"\(escape(relative))\"></video>"
        }
        return "<img src=\"\(uri)\" alt=\"\(escape(relative))\">"
    }

    static func page(title: String, subtitle: String, facts: [(String, String)], table: String, charts: [String],
                     samples: String, legend: [(String, String)]) -> String {
        var out = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) — Lethe report</title>
        <style>\(css)</style>
        </head>
        <body>
        <header><h1>\(escape(title))</h1><p class="subtitle">\(escape(subtitle))</p></header>
        <dl class="facts">
        """
        out += "\n"
        for (k, v) in facts { out += "<div><dt>\(escape(k))</dt><dd>\(escape(v))</dd></div>\n" }
        out += "</dl>\n<h2>Headline numbers</h2>\n" + table
        out += "<h2>Charts</h2>\n<div class=\"charts\">\n"
        for c in charts { out += "<figure class=\"chart\">\(c)</figure>\n" }
        out += "</div>\n" + samples
        out += "<h2>What the numbers mean</h2>\n<dl class=\"legend\">\n"
        for (k, v) in legend { out += "<dt>\(escape(k))</dt><dd>\(escape(v))</dd>\n" }
        out += "</dl>\n<footer>Made by lethe report.</footer>\n</body>\n</html>\n"
        return out
    }

    static let erasureLegend: [(String, String)] = [
        ("erased concept still shown", "Share of samples in which the concept detector still finds the erased concept, on prompts that ask for it by its keyword, and on held-out paraphrases (synonyms and descriptions never used while erasing). Lower is better; paraphrases staying high means only the word was erased, not the concept."),
        ("retention, same family", "Detector accuracy on prompts for the other concepts of the erased concept's family (erasing \"circle\" should keep \"square\"). Should stay near the original."),
        ("retention, other families", "Detector accuracy on the concepts of the other families (colours, styles, motions). Should stay near the original."),
        ("Fréchet distance", "Distance between the detector features of the samples and of ground-truth renders of the same prompts. Lower means closer to the true pictures."),
        ("temporal consistency", "Mean cosine similarity of the detector features of consecutive frames (clips only). Higher means steadier clips."),
        ("n", "The number of trials behind a rate: one per sample and concept it names (for a clip, the share of its frames that show the concept). A rate over n trials moves in steps of 1/n, so a change smaller than that is noise."),
        ("change", "Erased minus original, in percentage points (pp) for rates; green when it moves the way the better column says, red otherwise."),
        ("same noise", "Both models render every prompt from the same seed and initial noise, so differences come from the models, not the sampler."),
    ]

    static let modelLegend: [(String, String)] = [
        ("accuracy", "Share of prompts naming a concept of the family whose sample shows that concept, as judged by the concept detector."),
        ("keyword / paraphrased prompts", "The same split by how the prompt words the concept: by its keyword, or by a synonym or description."),
        ("per concept", "Accuracy on the prompts naming each concept."),
        ("Fréchet distance", "Distance between the detector features of the samples and of ground-truth renders of the same prompts. Lower means closer to the true pictures."),
        ("temporal consistency", "Mean cosine similarity of the detector features of consecutive frames (clips only). Higher means steadier clips."),
        ("what was read when a concept was asked", "For motions (clips only): how many clips asked for each motion the detector's clip head read as each motion. The diagonal holds the hits; the rest of a row says what the model draws instead."),
    ]

    static let css = """
    body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2329;background:#fff;max-width:1180px;margin:0 auto;padding:24px 32px}
    h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #dde2e7;padding-bottom:4px}
    .subtitle{color:#56606b;margin:0 0 14px}
    .facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0}.facts div{display:flex;gap:6px}.facts dt{color:#56606b}.facts dd{margin:0;font-weight:600}
    table{border-collapse:collapse;min-width:640px}th,td{padding:6px 12px;border-bottom:1px solid #e4e8ec;text-align:left}
    th{background:#f3f5f7;font-weight:600}td.num,td.good,td.bad,td.same{text-align:right;font-variant-numeric:tabular-nums}
    h3{font-size:16px;margin:20px 0 8px}table.confusion{min-width:0}td.hit{background:#e8f4ea;font-weight:600}
    td.good{color:#1e7b34;font-weight:600}td.bad{color:#b3261e;font-weight:600}td.same{color:#56606b}
    .charts{display:flex;flex-wrap:wrap;gap:18px}.chart{margin:0;border:1px solid #e4e8ec;border-radius:6px;padding:8px}
    .samples{display:flex;flex-wrap:wrap;gap:16px}.sample{margin:0;border:1px solid #e4e8ec;border-radius:6px;padding:8px;max-width:560px}
    .sample figcaption{font-size:14px;margin-bottom:6px}.seed{color:#56606b;font-size:12px}
    .pair{display:flex;gap:8px}.pair img,.pair video{display:block;image-rendering:pixelated;max-width:256px;min-width:128px}
    .tag{font-size:12px;color:#56606b}.note{color:#56606b}
    .legend dt{font-weight:600;margin-top:8px}.legend dd{margin:2px 0 0 16px;color:#333b44}
    footer{margin-top:32px;color:#8a949e;font-size:12px}
    """

    /// Text made safe for HTML element content and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// A horizontal grouped bar chart of rates in [0, 1], drawn as inline SVG.
struct BarChart {
    struct Series {
        var name: String
        var color: String
        static let baseline = Series(name: "original", color: "#8c9bab")
        static func model(_ name: String) -> Series { Series(name: name, color: "#c0392b") }
        /// One model on its own: a neutral colour, since red means "erased" in erasure reports.
        static let accuracy = Series(name: "accuracy", color: "#2f6db5")
    }

    var title: String
    var series: [Series]
    var rows: [(label: String, values: [Double?])]

    func svg() -> String {
        let e = HTMLReport.escape
        // Sized to the longest label: SVG text does not wrap, and a fixed column cut off the
        // headline labels on the left. 7 px per character over-estimates 12 px sans-serif.
        let longestLabel = rows.map { $0.label.count }.max() ?? 0
        let labelWidth = max(120, 7 * longestLabel + 16), plotWidth = 360, valueWidth = 60
        let width = labelWidth + plotWidth + valueWidth + 10
        let bar = 14, gap = 12, top = 54
        let rowHeight = series.count * bar + gap
        let height = top + max(1, rows.count) * rowHeight + 24
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(e(title))\" font-family=\"system-ui,Helvetica,Arial,sans-serif\" font-size=\"12\">\n"
        out += "<title>\(e(title))</title>\n"
        out += "<text x=\"0\" y=\"16\" font-size=\"14\" font-weight=\"600\" fill=\"#1d2329\">\(e(title))</text>\n"
        var legendX = labelWidth
        for s in series {
            out += "<rect x=\"\(legendX)\" y=\"26\" width=\"12\" height=\"12\" fill=\"\(s.color)\"/>"
            out += "<text x=\"\(legendX + 16)\" y=\"36\" fill=\"#1d2329\">\(e(s.name))</text>\n"
            legendX += 24 + 7 * s.name.count
        }
        let plotBottom = top + rows.count * rowHeight
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            let x = labelWidth + Int(tick * Double(plotWidth))
            out += "<line x1=\"\(x)\" y1=\"\(top - 4)\" x2=\"\(x)\" y2=\"\(plotBottom)\" stroke=\"#e4e8ec\"/>"
            out += "<text x=\"\(x)\" y=\"\(plotBottom + 16)\" text-anchor=\"middle\" fill=\"#56606b\">\(Int(tick * 100))%</text>\n"
        }
        for (r, row) in rows.enumerated() {
            let y0 = top + r * rowHeight
            out += "<text x=\"\(labelWidth - 8)\" y=\"\(y0 + series.count * bar / 2 + 4)\" text-anchor=\"end\" fill=\"#1d2329\">\(e(row.label))</text>\n"
            for (k, s) in series.enumerated() {
                let y = y0 + k * bar
                guard k < row.values.count, let v = row.values[k] else {
                    out += "<text x=\"\(labelWidth + 4)\" y=\"\(y + bar - 3)\" fill=\"#8a949e\">no data</text>\n"
                    continue
                }
                let w = max(0, min(1, v)) * Double(plotWidth)
                out += "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(String(format: "%.1f", w))\" height=\"\(bar - 2)\" fill=\"\(s.color)\"><title>\(e("\(row.label), \(s.name): \(HTMLReport.format(v, .rate))"))</title></rect>"
                out += "<text x=\"\(labelWidth + Int(w) + 4)\" y=\"\(y + bar - 3)\" fill=\"#1d2329\">\(e(HTMLReport.format(v, .rate)))</text>\n"
            }
        }
        out += "<line x1=\"\(labelWidth)\" y1=\"\(top - 4)\" x2=\"\(labelWidth)\" y2=\"\(plotBottom)\" stroke=\"#56606b\"/>\n"
        return out + "</svg>"
    }
}
