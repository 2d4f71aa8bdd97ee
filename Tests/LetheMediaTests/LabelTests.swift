import XCTest
@testable import LetheMedia

final class LabelTests: XCTestCase {
    let font = BitmapFont.standard

    func testEveryPrintableGlyphIsDistinctAndLit() {
        var seen: [[Bool]: Character] = [:]
        for code in 32...126 {
            let c = Character(UnicodeScalar(UInt8(code)))
            let bits = (0..<font.glyphHeight).flatMap { y in (0..<font.glyphWidth).map { x in font.isLit(c, x: x, y: y) } }
            XCTAssertEqual(bits.contains(true), c != " ", "glyph '\(c)'")
            if let other = seen[bits] { XCTFail("'\(c)' looks like '\(other)'") }
            seen[bits] = c
        }
        // The crossbar of 'A' and the stem of 'I'.
        XCTAssertTrue((0..<5).allSatisfy { font.isLit("A", x: $0, y: 3) })
        XCTAssertTrue((1..<6).allSatisfy { font.isLit("I", x: 2, y: $0) })
        XCTAssertFalse(font.isLit("A", x: 2, y: 4))
        // Anything outside printable ASCII is drawn as '?'.
        for y in 0..<7 { for x in 0..<5 { XCTAssertEqual(font.isLit("é", x: x, y: y), font.isLit("?", x: x, y: y)) } }
    }

    func testTextChangesOnlyItsBox() {
        let base = RGBFrame(width: 64, height: 32, fill: RGBColor(10, 20, 30))
        var drawn = base
        drawn.draw(text: "Hi!", x: 5, y: 9, color: .white, scale: 2)
        let (w, h) = font.size(of: "Hi!", scale: 2)
        XCTAssertEqual(w, (3 * 6 - 1) * 2)
        XCTAssertEqual(h, 14)
        var lit = 0
        for y in 0..<base.height {
            for x in 0..<base.width where drawn[x, y] != base[x, y] {
                XCTAssertTrue(x >= 5 && x < 5 + w && y >= 9 && y < 9 + h, "pixel (\(x), \(y)) changed")
                XCTAssertEqual(drawn[x, y], .white)
                lit += 1
            }
        }
        XCTAssertGreaterThan(lit, 40)
        // 'H' at scale 2: its left stem covers x = 5...6 on every glyph row.
        XCTAssertEqual(drawn[5, 9], .white)
        XCTAssertEqual(drawn[6, 9 + 13], .white)
        XCTAssertEqual(drawn[7, 9], base[7, 9])  // 'H' is hollow at the top
    }

    func testTextIsClippedAtFrameEdges() {
        var f = RGBFrame(width: 8, height: 4)
        f.draw(text: "WWWW", x: -3, y: -2, color: .white)
        XCTAssertTrue(f.pixels.contains(255))
    }

    func testLabelledFrameKeepsImageBelowBar() {
        let image = movingSquareClip(frames: 1)[0].upscaled(by: 4)
        var style = LabelStyle()
        style.maxCaptionLines = 2
        let labelled = image.labelled(title: "ZeroScope (erased)", caption: "a cat walking in the snow", style: style)
        XCTAssertEqual(image.labelled(title: " ", caption: ""), image)
        XCTAssertEqual(labelled.width, image.width)
        let barHeight = labelled.height - image.height
        // margin 3 + title + two caption lines (9 px apart, 7 px tall) + margin 3
        XCTAssertEqual(barHeight, 3 + 9 + 9 + 7 + 3)
        XCTAssertEqual(labelled.cropped(x: 0, y: barHeight, width: image.width, height: image.height), image)
        let bar = labelled.cropped(x: 0, y: 0, width: image.width, height: barHeight)
        XCTAssertTrue(Set((0..<bar.width * bar.height).map { bar[$0 % bar.width, $0 / bar.width] })
            .isSuperset(of: [style.background, style.titleColor, style.captionColor]))
    }

    func testWrapBreaksWordsAndTruncates() {
        XCTAssertEqual(TextLayout.wrap("a cat walking in the snow", columns: 10, maxLines: 5),
                       ["a cat", "walking in", "the snow"])
        XCTAssertEqual(TextLayout.wrap("a cat walking in the snow", columns: 10, maxLines: 2),
                       ["a cat", "walking..."])
        XCTAssertEqual(TextLayout.wrap("supercalifragilistic", columns: 8, maxLines: 3),
                       ["supercal", "ifragili", "stic"])
        XCTAssertEqual(TextLayout.wrap("  spaced   out  ", columns: 20, maxLines: 1), ["spaced out"])
        XCTAssertEqual(TextLayout.wrap("", columns: 20, maxLines: 1), [])
        XCTAssertEqual(TextLayout.truncate("Stable Diffusion v1.4", columns: 12), "Stable Di...")
        XCTAssertEqual(TextLayout.truncate("SD 1.4", columns: 12), "SD 1.4")
        for line in TextLayout.wrap(String(repeating: "word ", count: 50), columns: 7, maxLines: 3) {
            XCTAssertLessThanOrEqual(line.count, 7)
        }
    }

    func testComparisonClipAlignsColumns() {
        let clip = movingSquareClip(frames: 4).map { $0.upscaled(by: 4) }
        let columns = [
            LabelledColumn(title: "original", caption: "a red square", frames: clip),
            LabelledColumn(title: "erased", caption: "a red square moving diagonally across a blue field",
                           frames: Array(clip.prefix(2))),
        ]
        let out = comparisonClip(columns, spacing: 4)
        XCTAssertEqual(out.count, 4)
        XCTAssertEqual(out[0].width, 128 * 2 + 4)
        let barHeight = out[0].height - 128
        XCTAssertEqual(barHeight, LabelStyle().barHeight(lineCount: 4))  // longest caption wraps to 3 lines
        for t in 0..<4 {
            XCTAssertEqual(out[t].cropped(x: 0, y: barHeight, width: 128, height: 128), clip[t])
            XCTAssertEqual(out[t].cropped(x: 132, y: barHeight, width: 128, height: 128), clip[min(t, 1)])
        }
    }
}
