// A quick look at rendered frames without any image library: clips as rows, frames as columns,
// enlarged by pixel repetition, written as a binary PPM (P6) that any viewer or ffmpeg reads.

import Foundation
import LetheCore

public struct FrameGrid {
    public let width: Int
    public let height: Int
    /// RGB bytes, row-major.
    public let bytes: [UInt8]

    /// `clips` are [3, F, H, W] (or [3, H, W] images) with values in [-1, 1], all the same size.
    public init(clips: [Tensor], scale: Int = 4, gap: Int = 2) {
        precondition(!clips.isEmpty && scale >= 1 && gap >= 0, "a grid needs clips and a positive scale")
        let shapes = clips.map { $0.rank == 3 ? [3, 1, $0.shape[1], $0.shape[2]] : $0.shape }
        precondition(shapes.allSatisfy { $0.count == 4 && $0[0] == 3 && $0[2] == shapes[0][2] && $0[3] == shapes[0][3] },
                     "grid clips must be [3, F, H, W] of one size: \(shapes)")
        let (h, w) = (shapes[0][2], shapes[0][3])
        let columns = shapes.map { $0[1] }.max()!
        let cellW = w * scale + gap, cellH = h * scale + gap
        width = columns * cellW + gap
        height = clips.count * cellH + gap
        var bytes = [UInt8](repeating: 255, count: width * height * 3)
        for (row, clip) in clips.enumerated() {
            let frames = shapes[row][1], plane = h * w
            for f in 0..<frames {
                for y in 0..<(h * scale) {
                    for x in 0..<(w * scale) {
                        let src = (y / scale) * w + x / scale
                        let dst = ((gap + row * cellH + y) * width + gap + f * cellW + x) * 3
                        for c in 0..<3 {
                            let v = clip.pointer[(c * frames + f) * plane + src]
                            bytes[dst + c] = UInt8((min(max(v, -1), 1) + 1) * 127.5 + 0.5)
                        }
                    }
                }
            }
        }
        self.bytes = bytes
    }

    public var ppm: Data { Data("P6\n\(width) \(height)\n255\n".utf8) + Data(bytes) }

    public func writePPM(to url: URL) throws { try writeAtomically(ppm, to: url) }
}
