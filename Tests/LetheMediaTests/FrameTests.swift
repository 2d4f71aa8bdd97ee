import XCTest
@testable import LetheMedia

final class FrameTests: XCTestCase {
    func testCHWMinusOneToOneMapsToBytes() {
        // 1×2 image, 3 channels: R plane, G plane, B plane.
        let data: [Float] = [-1, 1, 0, 0.5, 2, -3]
        let f = RGBFrame(chw: data, channels: 3, height: 1, width: 2)
        XCTAssertEqual(f.pixels, [0, 128, 255, 255, 191, 0])
    }

    func testCHWZeroToOneGreyAndNaN() {
        let data: [Float] = [0, 0.5, 1, .nan]
        let f = RGBFrame(chw: data, channels: 1, height: 2, width: 2, range: .zeroToOne)
        XCTAssertEqual(f[0, 0], RGBColor(0, 0, 0))
        XCTAssertEqual(f[1, 0], RGBColor(128, 128, 128))
        XCTAssertEqual(f[0, 1], RGBColor(255, 255, 255))
        XCTAssertEqual(f[1, 1], RGBColor(0, 0, 0))
    }

    func testVideoLayoutsAgree() {
        // 3 channels, 2 frames, 1×2 pixels; value encodes (c, f, x) so we can check placement.
        let c = 3, n = 2, w = 2
        func value(_ ch: Int, _ f: Int, _ x: Int) -> Float { Float(ch * 4 + f * 2 + x) / 12 }
        var cfhw = [Float](repeating: 0, count: c * n * w), fchw = cfhw
        for ch in 0..<c { for f in 0..<n { for x in 0..<w {
            cfhw[(ch * n + f) * w + x] = value(ch, f, x)
            fchw[(f * c + ch) * w + x] = value(ch, f, x)
        } } }
        let a = RGBFrame.frames(from: cfhw, layout: .cfhw, channels: c, frames: n, height: 1, width: w, range: .zeroToOne)
        let b = RGBFrame.frames(from: fchw, layout: .fchw, channels: c, frames: n, height: 1, width: w, range: .zeroToOne)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(a[1][1, 0], RGBColor(UInt8((value(0, 1, 1) * 255).rounded()),
                                            UInt8((value(1, 1, 1) * 255).rounded()),
                                            UInt8((value(2, 1, 1) * 255).rounded())))
    }

    func testUpscaleIsNearestNeighbour() {
        let f = RGBFrame(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        let up = f.upscaled(by: 3)
        XCTAssertEqual(up.width, 6)
        XCTAssertEqual(up.height, 3)
        for y in 0..<3 {
            for x in 0..<6 { XCTAssertEqual(up[x, y], x < 3 ? RGBColor(1, 2, 3) : RGBColor(4, 5, 6)) }
        }
        XCTAssertEqual(f.upscaled(by: 1), f)
    }

    func testConcatenationAndGrid() {
        let red = RGBFrame(width: 2, height: 2, fill: RGBColor(255, 0, 0))
        let blue = RGBFrame(width: 3, height: 1, fill: RGBColor(0, 0, 255))
        let h = RGBFrame.hconcat([red, blue], spacing: 1, background: .white)
        XCTAssertEqual(h.width, 6)
        XCTAssertEqual(h.height, 2)
        XCTAssertEqual(h[1, 1], RGBColor(255, 0, 0))
        XCTAssertEqual(h[2, 0], .white)  // spacing
        XCTAssertEqual(h[3, 0], RGBColor(0, 0, 255))
        XCTAssertEqual(h[3, 1], .white)  // padding below the shorter frame

        let v = RGBFrame.vconcat([red, blue], spacing: 2)
        XCTAssertEqual(v.width, 3)
        XCTAssertEqual(v.height, 5)
        XCTAssertEqual(v[2, 0], .black)
        XCTAssertEqual(v[0, 4], RGBColor(0, 0, 255))

        let g = RGBFrame.grid([[red, red], [red, red]], spacing: 1, border: 2, background: .gray)
        XCTAssertEqual(g.width, 2 + 2 + 1 + 2 + 2)
        XCTAssertEqual(g.height, 9)
        XCTAssertEqual(g[0, 0], .gray)
        XCTAssertEqual(g[2, 2], RGBColor(255, 0, 0))
        XCTAssertEqual(g[4, 2], .gray)
        XCTAssertEqual(g[5, 5], RGBColor(255, 0, 0))
    }

    func testPaddedToEvenRepeatsEdges() {
        var f = RGBFrame(width: 3, height: 3)
        f[2, 1] = RGBColor(9, 9, 9)
        f[1, 2] = RGBColor(7, 7, 7)
        f[2, 2] = RGBColor(5, 5, 5)
        let p = f.paddedToEven()
        XCTAssertEqual(p.width, 4)
        XCTAssertEqual(p.height, 4)
        XCTAssertEqual(p.cropped(x: 0, y: 0, width: 3, height: 3), f)
        XCTAssertEqual(p[3, 1], RGBColor(9, 9, 9))
        XCTAssertEqual(p[1, 3], RGBColor(7, 7, 7))
        XCTAssertEqual(p[3, 3], RGBColor(5, 5, 5))
        let even = RGBFrame(width: 4, height: 2)
        XCTAssertEqual(even.paddedToEven(), even)
    }

    func testPaletteKeepsFewColoursExactly() {
        let f = movingSquareClip(frames: 3)
        let palette = ColorPalette(frames: f)
        XCTAssertEqual(Set(palette.colors), [background, square])
        var mapper = PaletteMapper(palette)
        let idx = mapper.indices(f[0])
        XCTAssertEqual(palette.colors[Int(idx[0])], background)
    }

    func testMedianCutApproximatesManyColours() {
        // A smooth gradient with 64·64 distinct colours must be squeezed into 256.
        var f = RGBFrame(width: 64, height: 64)
        for y in 0..<64 { for x in 0..<64 { f[x, y] = RGBColor(UInt8(x * 4), UInt8(y * 4), UInt8((x + y) * 2)) } }
        let palette = ColorPalette(frames: [f])
        XCTAssertLessThanOrEqual(palette.colors.count, 256)
        XCTAssertGreaterThan(palette.colors.count, 200)
        var mapper = PaletteMapper(palette)
        let idx = mapper.indices(f)
        var error = 0.0
        for i in 0..<idx.count {
            let c = palette.colors[Int(idx[i])]
            error += abs(Double(c.r) - Double(f.pixels[3 * i])) + abs(Double(c.g) - Double(f.pixels[3 * i + 1]))
                + abs(Double(c.b) - Double(f.pixels[3 * i + 2]))
        }
        XCTAssertLessThan(error / Double(idx.count * 3), 6)
    }
}

let background = RGBColor(30, 60, 170)
let square = RGBColor(230, 50, 40)

/// 32×32 frames with an 8×8 square moving 3 px right and 2 px down per frame.
func movingSquareClip(frames: Int = 8) -> [RGBFrame] {
    (0..<frames).map { t in
        var f = RGBFrame(width: 32, height: 32, fill: background)
        f.fill(x: 2 + 3 * t, y: 4 + 2 * t, width: 8, height: 8, color: square)
        return f
    }
}
