import Foundation
import LetheCore
import LetheModels
import LetheUnlearn
import XCTest

final class EncoderTransferTests: XCTestCase {
    /// A private copy of a model folder with one JSON value changed.
    func copy(_ folder: URL, editing file: String? = nil, key: String = "", value: Any = 0) throws -> URL {
        let dir = try TinyWorld.scratch().appendingPathComponent("model")
        try FileManager.default.copyItem(at: folder, to: dir)
        if let file {
            let url = dir.appendingPathComponent(file)
            var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            json[key] = value
            try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: url)
        }
        return dir
    }

    func assertRefused(_ source: URL, into target: URL, property: String, values: (String, String),
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let out = try TinyWorld.scratch().appendingPathComponent("out")
        XCTAssertThrowsError(try EncoderTransfer.plan(encoder: source, into: target).write(to: out), file: file, line: line) { error in
            guard let mismatch = error as? TransferMismatch else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(mismatch.property, property, file: file, line: line)
            XCTAssertEqual(mismatch.sourceValue, values.0, file: file, line: line)
            XCTAssertEqual(mismatch.targetValue, values.1, file: file, line: line)
            XCTAssertTrue(mismatch.description.contains(values.0) && mismatch.description.contains(values.1), file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing may be written", file: file, line: line)
        let siblings = try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path)
        XCTAssertEqual(siblings, [], file: file, line: line)
    }

    func testTransfersAnImageEncoderIntoAVideoModel() throws {
        let image = try TinyWorld.folder(video: false, encoderSeed: 2)
        let video = try TinyWorld.folder(video: true)
        for source in [image, image.appendingPathComponent("text_encoder")] {
            let out = try TinyWorld.scratch().appendingPathComponent("video-erased")
            let plan = try EncoderTransfer.plan(encoder: source, into: video)
            XCTAssertEqual(plan.tokenizerDirectory?.standardizedFileURL, image.appendingPathComponent("tokenizer").standardizedFileURL)
            try plan.write(to: out)
            let weights = "text_encoder/model.safetensors", unet = "unet/diffusion_pytorch_model.safetensors"
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(weights)), try Data(contentsOf: image.appendingPathComponent(weights)))
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(unet)), try Data(contentsOf: video.appendingPathComponent(unet)))
            let model = try DiffusionModel.load(directory: out)
            XCTAssertTrue(model.isVideo)
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("transfer.json"))) as? [String: Any])
            let written = try XCTUnwrap((report["encoder_weights"] as? [[String: String]])?.first)
            XCTAssertEqual(written["file"], "model.safetensors")
            XCTAssertEqual(written["sha256"], try SHA256.hex(fileAt: image.appendingPathComponent(weights)))
            let replaced = try XCTUnwrap((report["replaced_encoder_weights"] as? [[String: String]])?.first)
            XCTAssertEqual(replaced["sha256"], try SHA256.hex(fileAt: video.appendingPathComponent(weights)))
            XCTAssertNotEqual(written["sha256"], replaced["sha256"])
            XCTAssertEqual(report["target_model"] as? String, video.path)
            XCTAssertEqual((report["checked"] as? [String: Any])?["hidden_size"] as? Int, 8)
        }
    }

    func testRefusesAnEncoderOfAnotherWidth() throws {
        try assertRefused(try TinyWorld.folder(video: false), into: try TinyWorld.folder(video: true, hidden: 16),
                          property: "hidden_size", values: ("8", "16"))
    }

    func testRefusesOtherTokenizerPositionsVocabularyOrCrossAttention() throws {
        let image = try TinyWorld.folder(video: false), video = try TinyWorld.folder(video: true)
        try assertRefused(image, into: try copy(video, editing: "tokenizer/tokenizer_config.json", key: "model_max_length", value: 20),
                          property: "tokenizer model_max_length", values: ("16", "20"))
        try assertRefused(image, into: try copy(video, editing: "text_encoder/config.json", key: "max_position_embeddings", value: 32),
                          property: "max_position_embeddings", values: ("16", "32"))
        try assertRefused(image, into: try copy(video, editing: "text_encoder/config.json", key: "vocab_size", value: 2000),
                          property: "vocab_size", values: ("1032", "2000"))
        try assertRefused(image, into: try copy(video, editing: "unet/config.json", key: "cross_attention_dim", value: 16),
                          property: "hidden_size vs the target UNet's cross_attention_dim", values: ("8", "16"))
    }
}
