import CFFmpeg
import Foundation

/// Encodes one frame as a PNG file image; `path` only names the file in error messages.
public func encodePNG(_ frame: RGBFrame, path: String = "PNG image") throws -> Data {
    guard let encoder = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
        throw MediaError(path: path, operation: "cannot write PNG", reason: "this FFmpeg build has no PNG encoder")
    }
    var codec = avcodec_alloc_context3(encoder)
    defer { avcodec_free_context(&codec) }
    var packet = av_packet_alloc()
    defer { av_packet_free(&packet) }
    guard let codec, let packet else {
        throw MediaError(path: path, operation: "cannot write PNG", reason: "out of memory")
    }
    codec.pointee.width = Int32(frame.width)
    codec.pointee.height = Int32(frame.height)
    codec.pointee.pix_fmt = AV_PIX_FMT_RGB24
    codec.pointee.time_base = AVRational(num: 1, den: 1)
    try check(avcodec_open2(codec, encoder, nil), "opening the PNG encoder", path: path)

    let image = try makeAVFrame(frame, path: path)
    defer { freeFrame(image) }
    image.pointee.pts = 0
    // A PNG packet is the complete file, signature to IEND.
    var data = Data()
    let append: (UnsafeMutablePointer<AVPacket>) -> Void = { packet in
        data.append(packet.pointee.data, count: Int(packet.pointee.size))
    }
    try encode(codec, frame: image, packet: packet, path: path, sink: append)
    try encode(codec, frame: nil, packet: packet, path: path, sink: append)
    guard !data.isEmpty else {
        throw MediaError(path: path, operation: "encoding PNG", reason: "the encoder produced no data")
    }
    return data
}

/// Writes `frame` as a lossless PNG, atomically.
public func writePNG(_ frame: RGBFrame, to url: URL) throws {
    let output = AtomicOutput(url)
    try output.checkDirectory()
    try output.write(try encodePNG(frame, path: url.path))
}
