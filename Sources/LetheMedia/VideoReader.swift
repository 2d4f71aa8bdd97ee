import CFFmpeg
import Foundation

/// Decodes the first video stream of any file FFmpeg can read (MP4, GIF, PNG, ...) into RGB24
/// frames. `fps` comes from the container, or from the frame timestamps when it states none.
public func readVideo(_ url: URL, maxFrames: Int? = nil) throws -> (frames: [RGBFrame], fps: Double) {
    let path = url.path
    guard FileManager.default.isReadableFile(atPath: path) else {
        throw MediaError(path: path, operation: "cannot read video",
                         reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
    }
    var format: UnsafeMutablePointer<AVFormatContext>?
    try check(avformat_open_input(&format, path, nil, nil), "opening as video", path: path)
    defer { avformat_close_input(&format) }
    try check(avformat_find_stream_info(format, nil), "reading stream information", path: path)

    var decoder: UnsafePointer<AVCodec>?
    let index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
    try check(index, "finding a video stream", path: path)
    guard let decoder, let stream = format!.pointee.streams[Int(index)] else {
        throw MediaError(path: path, operation: "finding a video stream", reason: "no decoder for its codec")
    }

    var codec = avcodec_alloc_context3(decoder)
    defer { avcodec_free_context(&codec) }
    guard let codec else { throw MediaError(path: path, operation: "opening the decoder", reason: "out of memory") }
    try check(avcodec_parameters_to_context(codec, stream.pointee.codecpar), "configuring the decoder", path: path)
    codec.pointee.pkt_timebase = stream.pointee.time_base
    try check(avcodec_open2(codec, decoder, nil), "opening the \(String(cString: decoder.pointee.name)) decoder",
              path: path)

    var packet = av_packet_alloc()
    defer { av_packet_free(&packet) }
    var decoded = av_frame_alloc()
    defer { av_frame_free(&decoded) }
    guard let packet, let decoded else {
        throw MediaError(path: path, operation: "decoding", reason: "out of memory")
    }
    let converter = RGBConverter(path: path)
    var frames: [RGBFrame] = []
    var timestamps: [Int64] = []
    let limit = maxFrames ?? Int.max
    let collect: (UnsafeMutablePointer<AVFrame>) throws -> Void = { frame in
        guard frames.count < limit else { return }
        frames.append(try converter.convert(frame))
        timestamps.append(frame.pointee.best_effort_timestamp)
    }

    while frames.count < limit {
        let status = av_read_frame(format, packet)
        if status == averrorEOF { break }
        try check(status, "reading a packet", path: path)
        defer { av_packet_unref(packet) }
        if packet.pointee.stream_index == index {
            try decode(codec, packet: packet, frame: decoded, path: path, sink: collect)
        }
    }
    if frames.count < limit {
        try decode(codec, packet: nil, frame: decoded, path: path, sink: collect)
    }
    guard !frames.isEmpty else {
        throw MediaError(path: path, operation: "decoding", reason: "the video stream holds no frames")
    }
    let fps = frameRate(stream: stream, timestamps: timestamps)
    return (frames, fps)
}

/// The first frame of an image or video file.
public func readImage(_ url: URL) throws -> RGBFrame {
    try readVideo(url, maxFrames: 1).frames[0]
}

/// Containers state the rate differently: MP4 has an average rate, GIF only per-frame delays.
private func frameRate(stream: UnsafeMutablePointer<AVStream>, timestamps: [Int64]) -> Double {
    let nopts = lethe_av_nopts_value()
    let known = timestamps.filter { $0 != nopts }
    let base = stream.pointee.time_base
    if known.count >= 2, let first = known.first, let last = known.last, last > first {
        let seconds = Double(last - first) * av_q2d(base)
        return Double(known.count - 1) / seconds
    }
    for rate in [stream.pointee.avg_frame_rate, stream.pointee.r_frame_rate] where rate.num > 0 && rate.den > 0 {
        return av_q2d(rate)
    }
    return 0
}

/// Converts decoded frames of any pixel format to RGB24, rebuilding the swscale context only
/// when the input format or size changes.
private final class RGBConverter {
    let path: String
    private var context: OpaquePointer?

    init(path: String) { self.path = path }

    deinit { sws_freeContext(context) }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>) throws -> RGBFrame {
        let width = frame.pointee.width, height = frame.pointee.height
        guard width > 0, height > 0 else {
            throw MediaError(path: path, operation: "decoding", reason: "frame of size \(width)x\(height)")
        }
        let source = AVPixelFormat(rawValue: frame.pointee.format)
        context = sws_getCachedContext(context, width, height, source, width, height, AV_PIX_FMT_RGB24,
                                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nil, nil, nil)
        guard let context else {
            throw MediaError(path: path, operation: "decoding",
                             reason: "cannot convert pixel format \(pixelFormatName(source)) to RGB")
        }
        // Decode with the matrix and range the file declares; untagged video is BT.601, limited.
        let matrix = frame.pointee.colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT
        let fullRange: Int32 = frame.pointee.color_range == AVCOL_RANGE_JPEG ? 1 : 0
        let coefficients = sws_getCoefficients(matrix)
        sws_setColorspaceDetails(context, coefficients, fullRange, coefficients, 1, 0, 1 << 16, 1 << 16)

        let rgb = try allocateFrame(width: Int(width), height: Int(height), format: AV_PIX_FMT_RGB24, path: path)
        defer { freeFrame(rgb) }
        try check(sws_scale_frame(context, rgb, frame), "converting a frame to RGB", path: path)
        return rgbFrame(from: rgb)
    }
}

private func pixelFormatName(_ format: AVPixelFormat) -> String {
    guard let name = av_get_pix_fmt_name(format) else { return "\(format.rawValue)" }
    return String(cString: name)
}
