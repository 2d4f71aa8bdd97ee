import Foundation
import XCTest
import LetheCore
import LetheMedia
@testable import LetheEval

final class DetectorInputTests: XCTestCase {
    func testIntegerUpscaleComesBackExactly() {
        var rng = RandomGenerator(seed: 5)
        let small = RGBFrame(width: 4, height: 4, pixels: (0..<48).map { _ in UInt8(rng.nextInt(256)) })
        let t = DetectorInput.tensor(frames: [small.upscaled(by: 3)], size: 4)
        XCTAssertEqual(t.shape, [1, 3, 4, 4])
        for y in 0..<4 {
            for x in 0..<4 {
                for c in 0..<3 {
                    let expected = Float(small.pixels[(y * 4 + x) * 3 + c]) / 255 * 2 - 1
                    XCTAssertEqual(t[flat: c * 16 + y * 4 + x], expected, accuracy: 1e-6)
                }
            }
        }
    }

    func testOtherSizesAreAreaAveraged() {
        // 3 columns onto 2: each target pixel covers one and a half source pixels.
        let row: [UInt8] = [0, 0, 0, 255, 255, 255, 51, 51, 51]
        let frame = RGBFrame(width: 3, height: 1, pixels: row)
        let t = DetectorInput.tensor(frames: [frame], size: 2)
        let left = (0 * 1.0 + 255 * 0.5) / 1.5, right = (255 * 0.5 + 51 * 1.0) / 1.5
        XCTAssertEqual(Double(t[flat: 0]), left / 255 * 2 - 1, accuracy: 1e-5)
        XCTAssertEqual(Double(t[flat: 1]), right / 255 * 2 - 1, accuracy: 1e-5)
        XCTAssertEqual(t[flat: 2], t[flat: 0], "rows repeat when the height is upsampled")
    }

    func testClipLayout() {
        let frames = Tensor(shape: [2, 3, 1, 1], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(DetectorInput.clip(frames: frames).scalars, [1, 4, 2, 5, 3, 6])
    }
}
