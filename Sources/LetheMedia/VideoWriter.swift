import CFFmpeg
import Foundation

/// Containers the writer produces.
public enum VideoContainer: Sendable {
    /// H.264 (libx264 when present) in yuv420p, the format every browser and player opens.
    case mp4
    /// Looping GIF89a through FFmpeg's gif encoder, at most 256 colours per frame.
    case gif
}

/// Encodes RGB frames one at a time into an MP4 or GIF file. The file appears at `url` only
/// after `finish()` succeeds; until then frames go to a temporary file beside it, which is
/// removed if anything fails or the writer is dropped unfinished.
public final class VideoWriter {
    public let url: URL
    public let container: VideoContainer
    public let width: Int
    public let height: Int
    public let fps: Double
    public private(set) var frameCount = 0

    private let output: AtomicOutput
    // Optional so a failed init and deinit can share one release path.
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var encoderFrame: UnsafeMutablePointer<AVFrame>?
    private var scaler: OpaquePointer?
    private var mapper: PaletteMapper?
    private var finished = false

    /// - Parameters:
    ///   - crf: x264 constant rate factor (0 lossless ... 51 worst); 18 is visually lossless.
    ///   - palette: GIF only: one palette for every frame (see `ColorPalette(frames:)`); without it
    ///     each frame gets its own palette.
    public init(url: URL, container: VideoContainer, width: Int, height: Int, fps: Double, crf: Int = 18,
                palette: ColorPalette? = nil) throws {
        self.url = url
        self.container = container
        self.width = width
        self.height = height
        self.fps = fps
        output = AtomicOutput(url)
        if let palette { mapper = PaletteMapper(palette) }
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw MediaError(path: url.path, operation: "cannot write video",
                             reason: "frame size \(width)x\(height) must be between 1x1 and 16384x16384")
        }
        guard fps.isFinite, fps > 0, fps <= 1000 else {
            throw MediaError(path: url.path, operation: "cannot write video",
                             reason: "frame rate \(fps) must be a positive number of frames per second")
        }
        try output.checkDirectory()
        do {
            try open(crf: crf)
        } catch {
            release()
            output.discard()
            throw error
        }
    }

    deinit {
        release()
        if !finished { output.discard() }
    }

    private var path: String { url.path }

    /// Encoded size: 4:2:0 chroma covers 2×2 blocks, so H.264 frames are padded to even sizes.
    private var encodedSize: (width: Int, height: Int) {
        container == .mp4 ? (width + width % 2, height + height % 2) : (width, height)
    }

    private func open(crf: Int) throws {
        let (codedWidth, codedHeight) = encodedSize
        let rate = av_d2q(fps, 1_000_000)
        try check(avformat_alloc_output_context2(&format, nil, container == .mp4 ? "mp4" : "gif", output.temporary.path),
                  "creating the \(container) muxer", path: path)
        guard let format else { throw MediaError(path: path, operation: "creating the muxer", reason: "out of memory") }

        let encoder: UnsafePointer<AVCodec>?
        switch container {
        case .mp4: encoder = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_H264)
        case .gif: encoder = avcodec_find_encoder(AV_CODEC_ID_GIF)
        }
        guard let encoder else {
            throw MediaError(path: path, operation: "cannot write \(container)",
                             reason: "this FFmpeg build has no \(container == .mp4 ? "H.264" : "GIF") encoder")
        }
        guard let stream = avformat_new_stream(format, nil), let codec = avcodec_alloc_context3(encoder) else {
            throw MediaError(path: path, operation: "creating the video stream", reason: "out of memory")
        }
        self.stream = stream
        self.codec = codec
        codec.pointee.width = Int32(codedWidth)
        codec.pointee.height = Int32(codedHeight)
        codec.pointee.time_base = av_inv_q(rate)
        codec.pointee.framerate = rate
        codec.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        if format.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            codec.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        switch container {
        case .mp4:
            codec.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            // Tag what swscale produces (BT.709, limited range) so players convert back exactly.
            codec.pointee.colorspace = AVCOL_SPC_BT709
            codec.pointee.color_primaries = AVCOL_PRI_BT709
            codec.pointee.color_trc = AVCOL_TRC_BT709
            codec.pointee.color_range = AVCOL_RANGE_MPEG
            // Private options of libx264; other H.264 encoders ignore them.
            av_opt_set(codec.pointee.priv_data, "crf", String(crf), 0)
            av_opt_set(codec.pointee.priv_data, "preset", "medium", 0)
            // x264 reports statistics at info level on every file; keep only its errors.
            av_opt_set(codec.pointee.priv_data, "x264-params", "log=0", 0)
        case .gif:
            codec.pointee.pix_fmt = AV_PIX_FMT_PAL8
        }
        try check(avcodec_open2(codec, encoder, nil), "opening the \(String(cString: encoder.pointee.name)) encoder",
                  path: path)
        try check(avcodec_parameters_from_context(stream.pointee.codecpar, codec), "configuring the video stream",
                  path: path)
        stream.pointee.time_base = codec.pointee.time_base
        stream.pointee.avg_frame_rate = rate

        try check(avio_open(&format.pointee.pb, output.temporary.path, AVIO_FLAG_WRITE), "opening for writing",
                  path: path)
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        if container == .gif {
            av_dict_set(&options, "loop", "0", 0)  // NETSCAPE2.0 extension, repeat forever
        }
        try check(avformat_write_header(format, &options), "writing the \(container) header", path: path)

        guard let packet = av_packet_alloc() else {
            throw MediaError(path: path, operation: "allocating a packet", reason: "out of memory")
        }
        self.packet = packet
        encoderFrame = try allocateFrame(width: codedWidth, height: codedHeight, format: codec.pointee.pix_fmt,
                                         path: path)
        if container == .mp4 {
            scaler = sws_getContext(Int32(codedWidth), Int32(codedHeight), AV_PIX_FMT_RGB24,
                                    Int32(codedWidth), Int32(codedHeight), AV_PIX_FMT_YUV420P,
                                    SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nil, nil, nil)
            guard let scaler else {
                throw MediaError(path: path, operation: "creating the RGB to YUV converter", reason: "unsupported size")
            }
            let bt709 = sws_getCoefficients(SWS_CS_ITU709)
            sws_setColorspaceDetails(scaler, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16)
        }
    }

    /// Encodes the next frame; it must be `width`×`height`.
    public func append(_ frame: RGBFrame) throws {
        guard !finished, let codec, let encoderFrame else {
            throw MediaError(path: path, operation: "appending a frame", reason: "the writer is already finished")
        }
        guard frame.width == width, frame.height == height else {
            throw MediaError(path: path, operation: "appending frame \(frameCount)",
                             reason: "frame is \(frame.width)x\(frame.height), the video is \(width)x\(height)")
        }
        do {
            try check(av_frame_make_writable(encoderFrame), "preparing frame \(frameCount)", path: path)
            switch container {
            case .mp4: try convertToYUV(frame, into: encoderFrame)
            case .gif: fillPalettized(frame, into: encoderFrame)
            }
            encoderFrame.pointee.pts = Int64(frameCount)
            try encode(codec, frame: encoderFrame, packet: packet!, path: path, sink: writePacket)
            frameCount += 1
        } catch {
            abandon()
            throw error
        }
    }

    /// Flushes the encoder, writes the trailer and moves the file into place.
    public func finish() throws {
        guard !finished, let codec, let format else {
            throw MediaError(path: path, operation: "finishing", reason: "the writer is already finished")
        }
        do {
            guard frameCount > 0 else {
                throw MediaError(path: path, operation: "cannot write video", reason: "no frames were given")
            }
            try encode(codec, frame: nil, packet: packet!, path: path, sink: writePacket)
            try check(av_write_trailer(format), "writing the trailer", path: path)
            try check(avio_closep(&format.pointee.pb), "closing", path: path)
            release()
            finished = true
            try output.commit()
        } catch {
            abandon()
            throw error
        }
    }

    private func abandon() {
        release()
        finished = true
        output.discard()
    }

    private func writePacket(_ packet: UnsafeMutablePointer<AVPacket>) throws {
        guard let format, let stream, let codec else { return }
        if packet.pointee.duration == 0 { packet.pointee.duration = 1 }
        av_packet_rescale_ts(packet, codec.pointee.time_base, stream.pointee.time_base)
        packet.pointee.stream_index = stream.pointee.index
        try check(av_interleaved_write_frame(format, packet), "writing a packet", path: path)
    }

    private func convertToYUV(_ frame: RGBFrame, into yuv: UnsafeMutablePointer<AVFrame>) throws {
        let rgb = try makeAVFrame(frame.paddedToEven(), path: path)
        defer { freeFrame(rgb) }
        try check(sws_scale_frame(scaler, yuv, rgb), "converting frame \(frameCount) to YUV", path: path)
    }

    private func fillPalettized(_ frame: RGBFrame, into pal: UnsafeMutablePointer<AVFrame>) {
        var mapper = self.mapper ?? PaletteMapper(ColorPalette(frames: [frame]))
        let indices = mapper.indices(frame)
        if self.mapper != nil { self.mapper = mapper }  // keep the shared palette's lookup cache
        let stride = Int(pal.pointee.linesize.0)
        let data = pal.pointee.data.0!
        indices.withUnsafeBufferPointer { src in
            for y in 0..<height {
                (data + y * stride).update(from: src.baseAddress! + y * width, count: width)
            }
        }
        // PAL8's second plane is 256 native-endian 0xAARRGGBB words; opaque so the encoder does
        // not mistake an entry for GIF transparency.
        let colors = mapper.palette.colors
        let table = UnsafeMutableRawPointer(pal.pointee.data.1!).bindMemory(to: UInt32.self, capacity: 256)
        for i in 0..<256 {
            let c = i < colors.count ? colors[i] : colors[0]
            table[i] = 0xFF00_0000 | UInt32(c.r) << 16 | UInt32(c.g) << 8 | UInt32(c.b)
        }
    }

    private func release() {
        if let format {
            if format.pointee.pb != nil { avio_closep(&format.pointee.pb) }
            avformat_free_context(format)  // also frees the stream
            self.format = nil
            stream = nil
        }
        avcodec_free_context(&codec)
        av_packet_free(&packet)
        av_frame_free(&encoderFrame)
        if let scaler {
            sws_freeContext(scaler)
            self.scaler = nil
        }
    }
}

/// Writes `frames` as an H.264 MP4 at `fps` frames per second. Odd sizes are padded by one
/// repeated row/column, since yuv420p needs even dimensions.
public func writeMP4(frames: [RGBFrame], fps: Double, to url: URL, crf: Int = 18) throws {
    guard let first = frames.first else {
        throw MediaError(path: url.path, operation: "cannot write video", reason: "no frames were given")
    }
    let writer = try VideoWriter(url: url, container: .mp4, width: first.width, height: first.height, fps: fps,
                                 crf: crf)
    for frame in frames { try writer.append(frame) }
    try writer.finish()
}

/// Writes `frames` as a GIF that loops forever, with one palette shared by all frames so
/// colours stay steady. GIF delays are whole hundredths of a second, so `fps` is approximate.
public func writeGIF(frames: [RGBFrame], fps: Double, to url: URL) throws {
    guard let first = frames.first else {
        throw MediaError(path: url.path, operation: "cannot write video", reason: "no frames were given")
    }
    let writer = try VideoWriter(url: url, container: .gif, width: first.width, height: first.height, fps: fps,
                                 palette: ColorPalette(frames: frames))
    for frame in frames { try writer.append(frame) }
    try writer.finish()
}
