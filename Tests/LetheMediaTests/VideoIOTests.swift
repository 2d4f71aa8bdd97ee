import Foundation
import XCTest
@testable import LetheMedia

final class VideoIOTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-media-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // x264 announces its settings at info level on every file.
        savedLogLevel = FFmpegLog.level
        FFmpegLog.level = .error
    }

    override func tearDownWithError() throws {
        FFmpegLog.level = savedLogLevel
        try? FileManager.default.removeItem(at: directory)
    }

    private var savedLogLevel = FFmpegLog.Level.info

    private func meanAbsoluteError(_ a: RGBFrame, _ b: RGBFrame) -> Double {
        precondition(a.pixels.count == b.pixels.count)
        let total = zip(a.pixels, b.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        return Double(total) / Double(a.pixels.count)
    }

    private func assertNear(_ a: RGBColor, _ b: RGBColor, tolerance: Int, _ message: String = "",
                            file: StaticString = #filePath, line: UInt = #line) {
        let d = max(abs(Int(a.r) - Int(b.r)), abs(Int(a.g) - Int(b.g)), abs(Int(a.b) - Int(b.b)))
        XCTAssertLessThanOrEqual(d, tolerance, "\(a) vs \(b) \(message)", file: file, line: line)
    }

    /// Files in the test directory, so tests can check no temporary file was left behind.
    private func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    func testMP4RoundTrip() throws {
        let clip = movingSquareClip().map { $0.upscaled(by: 4) }
        let url = directory.appendingPathComponent("clip.mp4")
        try writeMP4(frames: clip, fps: 8, to: url)
        XCTAssertEqual(try listing(), ["clip.mp4"])

        let (frames, fps) = try readVideo(url)
        XCTAssertEqual(frames.count, 8)
        XCTAssertEqual(fps, 8, accuracy: 1e-6)
        for (t, (decoded, original)) in zip(frames, clip).enumerated() {
            XCTAssertEqual(decoded.width, 128)
            XCTAssertEqual(decoded.height, 128)
            // About 1.2 with crf 18; decoding with the wrong colour matrix gives about 4.8.
            XCTAssertLessThan(meanAbsoluteError(decoded, original), 3, "frame \(t)")
            // Inside flat areas, away from edges where chroma subsampling blurs.
            assertNear(decoded[120, 4], background, tolerance: 6, "background, frame \(t)")
            let centre = (4 * (2 + 3 * t + 4), 4 * (4 + 2 * t + 4))
            assertNear(decoded[centre.0, centre.1], square, tolerance: 6, "square, frame \(t)")
        }
    }

    func testMP4StreamAsSeenByFFprobe() throws {
        guard let ffprobe = ["/usr/bin/ffprobe", "/usr/local/bin/ffprobe"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw XCTSkip("ffprobe is not installed") }
        let url = directory.appendingPathComponent("probe.mp4")
        try writeMP4(frames: movingSquareClip().map { $0.upscaled(by: 4) }, fps: 8, to: url)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: ffprobe)
        process.arguments = ["-v", "error", "-select_streams", "v:0", "-show_entries",
                             "stream=codec_name,pix_fmt,nb_frames,width,height", "-of", "json", url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: output) as? [String: Any])
        let stream = try XCTUnwrap((json["streams"] as? [[String: Any]])?.first)
        XCTAssertEqual(stream["codec_name"] as? String, "h264")
        XCTAssertEqual(stream["pix_fmt"] as? String, "yuv420p")
        XCTAssertEqual(stream["nb_frames"] as? String, "8")
        XCTAssertEqual(stream["width"] as? Int, 128)
        XCTAssertEqual(stream["height"] as? Int, 128)
    }

    func testOddSizedMP4IsPaddedToEven() throws {
        let frames = (0..<3).map { _ in RGBFrame(width: 33, height: 17, fill: RGBColor(200, 200, 40)) }
        let url = directory.appendingPathComponent("odd.mp4")
        try writeMP4(frames: frames, fps: 12, to: url)
        let decoded = try readVideo(url).frames
        XCTAssertEqual(decoded.count, 3)
        XCTAssertEqual(decoded[0].width, 34)
        XCTAssertEqual(decoded[0].height, 18)
        assertNear(decoded[2][33, 17], RGBColor(200, 200, 40), tolerance: 12)
    }

    func testGIFRoundTripLoopsAndKeepsColours() throws {
        let clip = movingSquareClip().map { $0.upscaled(by: 2) }
        let url = directory.appendingPathComponent("clip.gif")
        try writeGIF(frames: clip, fps: 10, to: url)
        XCTAssertEqual(try listing(), ["clip.gif"])

        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(String(decoding: bytes.prefix(6), as: UTF8.self), "GIF89a")
        XCTAssertNotNil(bytes.range(of: Data("NETSCAPE2.0".utf8)), "no looping extension")

        let (frames, fps) = try readVideo(url)
        XCTAssertEqual(frames.count, 8)
        XCTAssertEqual(fps, 10, accuracy: 0.5)
        for (decoded, original) in zip(frames, clip) {
            XCTAssertEqual(decoded.width, 64)
            XCTAssertEqual(decoded.height, 64)
            // Two colours fit the palette exactly.
            XCTAssertEqual(decoded, original)
        }
    }

    func testGIFWithManyColoursIsClose() throws {
        let clip = (0..<3).map { t -> RGBFrame in
            var f = RGBFrame(width: 48, height: 48)
            for y in 0..<48 { for x in 0..<48 { f[x, y] = RGBColor(UInt8(x * 5), UInt8(y * 5), UInt8(t * 80)) } }
            return f
        }
        let url = directory.appendingPathComponent("gradient.gif")
        try writeGIF(frames: clip, fps: 4, to: url)
        let frames = try readVideo(url).frames
        XCTAssertEqual(frames.count, 3)
        for (decoded, original) in zip(frames, clip) {
            XCTAssertLessThan(meanAbsoluteError(decoded, original), 8)
        }
    }

    func testPNGIsLossless() throws {
        var image = RGBFrame(width: 37, height: 21)
        for y in 0..<21 { for x in 0..<37 { image[x, y] = RGBColor(UInt8(x * 7), UInt8(y * 12), UInt8((x * y) % 256)) } }
        image.draw(text: "PNG", x: 2, y: 2, color: .white)
        let url = directory.appendingPathComponent("image.png")
        try writePNG(image, to: url)
        XCTAssertEqual(try listing(), ["image.png"])
        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(try readImage(url), image)
    }

    func testOverwriteReplacesTheOldFile() throws {
        let url = directory.appendingPathComponent("image.png")
        try writePNG(RGBFrame(width: 4, height: 4, fill: .white), to: url)
        try writePNG(RGBFrame(width: 4, height: 4, fill: .black), to: url)
        XCTAssertEqual(try readImage(url), RGBFrame(width: 4, height: 4, fill: .black))
        XCTAssertEqual(try listing(), ["image.png"])
    }

    func testWritingIntoMissingDirectoryThrows() {
        let url = directory.appendingPathComponent("missing/sub/clip.mp4")
        let clip = movingSquareClip(frames: 2)
        for write in [{ try writeMP4(frames: clip, fps: 8, to: url) },
                      { try writeGIF(frames: clip, fps: 8, to: url) },
                      { try writePNG(clip[0], to: url) }] {
            XCTAssertThrowsError(try write()) { error in
                let media = error as? MediaError
                XCTAssertEqual(media?.path, url.path)
                XCTAssertTrue("\(error)".contains(url.path), "\(error)")
            }
        }
    }

    func testBadArgumentsThrow() throws {
        let url = directory.appendingPathComponent("bad.mp4")
        XCTAssertThrowsError(try writeMP4(frames: [], fps: 8, to: url))
        XCTAssertThrowsError(try writeMP4(frames: movingSquareClip(frames: 1), fps: 0, to: url))
        XCTAssertThrowsError(try writeMP4(frames: movingSquareClip(frames: 1), fps: .nan, to: url))
        let mixed = movingSquareClip(frames: 2) + [RGBFrame(width: 16, height: 16)]
        XCTAssertThrowsError(try writeMP4(frames: mixed, fps: 8, to: url)) { error in
            XCTAssertTrue("\(error)".contains("16x16"), "\(error)")
        }
        XCTAssertEqual(try listing(), [], "a failed write left files behind")
    }

    func testUnfinishedWriterLeavesNothing() throws {
        let url = directory.appendingPathComponent("partial.mp4")
        do {
            let writer = try VideoWriter(url: url, container: .mp4, width: 32, height: 32, fps: 8)
            try writer.append(movingSquareClip(frames: 1)[0])
            XCTAssertEqual(try listing().count, 1)  // the temporary file
        }
        XCTAssertEqual(try listing(), [])
    }

    func testStreamingWriterMatchesFrameCount() throws {
        let url = directory.appendingPathComponent("stream.gif")
        let writer = try VideoWriter(url: url, container: .gif, width: 32, height: 32, fps: 5)
        for frame in movingSquareClip(frames: 5) { try writer.append(frame) }
        XCTAssertEqual(writer.frameCount, 5)
        try writer.finish()
        XCTAssertThrowsError(try writer.append(movingSquareClip(frames: 1)[0]))
        XCTAssertEqual(try readVideo(url).frames, movingSquareClip(frames: 5))
    }

    func testReadingNonVideoThrows() throws {
        FFmpegLog.level = .quiet  // the demuxers complain about the broken files on stderr
        let text = directory.appendingPathComponent("notes.mp4")
        try Data("this is not a video, just some words\n".utf8).write(to: text)
        XCTAssertThrowsError(try readVideo(text)) { error in
            XCTAssertTrue("\(error)".contains(text.path), "\(error)")
            XCTAssertTrue("\(error)".contains("Invalid data found"), "no FFmpeg reason in \(error)")
        }
        let empty = directory.appendingPathComponent("empty.gif")
        try Data().write(to: empty)
        XCTAssertThrowsError(try readVideo(empty))
        let truncated = directory.appendingPathComponent("truncated.mp4")
        try writeMP4(frames: movingSquareClip(frames: 4), fps: 8, to: truncated)
        let bytes = try Data(contentsOf: truncated)
        try bytes.prefix(bytes.count / 3).write(to: truncated)
        XCTAssertThrowsError(try readVideo(truncated))
        XCTAssertThrowsError(try readVideo(directory.appendingPathComponent("absent.mp4"))) { error in
            XCTAssertTrue("\(error)".contains("absent.mp4"), "\(error)")
        }
    }

    func testMaxFramesStopsEarly() throws {
        let url = directory.appendingPathComponent("clip.gif")
        try writeGIF(frames: movingSquareClip(), fps: 8, to: url)
        XCTAssertEqual(try readVideo(url, maxFrames: 3).frames, Array(movingSquareClip().prefix(3)))
    }
}

final class FFmpegLogTests: XCTestCase {
    func testLevelRoundTrips() {
        let saved = FFmpegLog.level
        defer { FFmpegLog.level = saved }
        for level in [FFmpegLog.Level.quiet, .error, .warning, .debug] {
            FFmpegLog.level = level
            XCTAssertEqual(FFmpegLog.level, level)
        }
    }
}
