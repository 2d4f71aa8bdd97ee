import CFFmpeg
import Foundation

/// A failure reading or writing a media file, naming the file, the step, and FFmpeg's (or the
/// system's) reason, e.g. "/out/clip.mp4: cannot open for writing: No such file or directory".
public struct MediaError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let path: String
    public let operation: String
    public let reason: String
    /// The negative FFmpeg error code (AVERROR), when the failure came from FFmpeg.
    public let code: Int32?

    public init(path: String, operation: String, reason: String, code: Int32? = nil) {
        self.path = path
        self.operation = operation
        self.reason = reason
        self.code = code
    }

    /// Wraps an FFmpeg return code, turning it into av_strerror's text.
    init(path: String, operation: String, ffmpegCode: Int32) {
        self.init(path: path, operation: operation, reason: MediaError.ffmpegMessage(ffmpegCode), code: ffmpegCode)
    }

    public var description: String { "\(path): \(operation): \(reason)" }
    public var errorDescription: String? { description }

    static func ffmpegMessage(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(AV_ERROR_MAX_STRING_SIZE))
        if av_strerror(code, &buffer, buffer.count) < 0 {
            return "FFmpeg error \(code)"
        }
        return String(cString: buffer)
    }
}

/// FFmpeg functions return negative AVERROR codes; this turns them into thrown errors while
/// passing non-negative results (counts, indices) through.
@discardableResult
func check(_ code: Int32, _ operation: @autoclosure () -> String, path: String) throws -> Int32 {
    guard code >= 0 else { throw MediaError(path: path, operation: operation(), ffmpegCode: code) }
    return code
}

let averrorEAGAIN = lethe_averror(EAGAIN)
let averrorEOF = lethe_averror_eof()

/// Sends one frame (nil flushes) to an encoder and hands every packet it has ready to `sink`.
/// Draining after each send means send_frame never sees EAGAIN.
func encode(_ context: UnsafeMutablePointer<AVCodecContext>, frame: UnsafePointer<AVFrame>?,
            packet: UnsafeMutablePointer<AVPacket>, path: String,
            sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
    try check(avcodec_send_frame(context, frame), frame == nil ? "flushing the encoder" : "encoding a frame",
              path: path)
    while true {
        let status = avcodec_receive_packet(context, packet)
        if status == averrorEAGAIN || status == averrorEOF { return }
        try check(status, "receiving an encoded packet", path: path)
        defer { av_packet_unref(packet) }
        try sink(packet)
    }
}

/// Sends one packet (nil flushes) to a decoder and hands every decoded frame to `sink`.
/// A corrupt packet is reported rather than skipped: half-decoded clips would skew metrics.
func decode(_ context: UnsafeMutablePointer<AVCodecContext>, packet: UnsafePointer<AVPacket>?,
            frame: UnsafeMutablePointer<AVFrame>, path: String,
            sink: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws {
    try check(avcodec_send_packet(context, packet), packet == nil ? "flushing the decoder" : "decoding a packet",
              path: path)
    while true {
        let status = avcodec_receive_frame(context, frame)
        if status == averrorEAGAIN || status == averrorEOF { return }
        try check(status, "receiving a decoded frame", path: path)
        defer { av_frame_unref(frame) }
        try sink(frame)
    }
}

/// An RGB24 AVFrame holding a copy of `frame`'s pixels, for handing to swscale or an encoder.
func makeAVFrame(_ frame: RGBFrame, path: String) throws -> UnsafeMutablePointer<AVFrame> {
    let av = try allocateFrame(width: frame.width, height: frame.height, format: AV_PIX_FMT_RGB24, path: path)
    let stride = Int(av.pointee.linesize.0)
    let base = av.pointee.data.0!
    frame.pixels.withUnsafeBufferPointer { src in
        for y in 0..<frame.height {
            (base + y * stride).update(from: src.baseAddress! + y * frame.width * 3, count: frame.width * 3)
        }
    }
    return av
}

func allocateFrame(width: Int, height: Int, format: AVPixelFormat,
                   path: String) throws -> UnsafeMutablePointer<AVFrame> {
    guard let av = av_frame_alloc() else {
        throw MediaError(path: path, operation: "allocating a frame", reason: "out of memory")
    }
    av.pointee.width = Int32(width)
    av.pointee.height = Int32(height)
    av.pointee.format = format.rawValue
    let status = av_frame_get_buffer(av, 0)
    if status < 0 {
        var dead: UnsafeMutablePointer<AVFrame>? = av
        av_frame_free(&dead)
        throw MediaError(path: path, operation: "allocating a \(width)x\(height) frame", ffmpegCode: status)
    }
    return av
}

func freeFrame(_ frame: UnsafeMutablePointer<AVFrame>?) {
    var f = frame
    av_frame_free(&f)
}

/// Copies an RGB24 AVFrame (padded rows) into a tightly packed RGBFrame.
func rgbFrame(from av: UnsafePointer<AVFrame>) -> RGBFrame {
    let width = Int(av.pointee.width), height = Int(av.pointee.height)
    let stride = Int(av.pointee.linesize.0)
    let base = UnsafePointer(av.pointee.data.0!)
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    pixels.withUnsafeMutableBufferPointer { dst in
        for y in 0..<height {
            (dst.baseAddress! + y * width * 3).update(from: base + y * stride, count: width * 3)
        }
    }
    return RGBFrame(width: width, height: height, pixels: pixels)
}
