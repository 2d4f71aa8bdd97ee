// `lethe encode` / `lethe generate` / `lethe inspect DIR` on the model folders diffusers saved for
// the pipeline fixtures, compared with diffusers' own numbers.
import XCTest
import LetheCore

final class GenerateCommandTests: XCTestCase {
    /// The pipeline fixtures live with the models' tests; test targets cannot share resources.
    let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LetheModelsTests/Fixtures/pipeline")

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-gen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
        XCTAssertEqual(a.shape, b.shape)
        var d = 0.0, n = 0.0
        for i in 0..<min(a.count, b.count) {
            let x = Double(a[flat: i]), y = Double(b[flat: i])
            d += (x - y) * (x - y)
            n += y * y
        }
        return (d / max(n, 1e-30)).squareRoot()
    }

    func testEncodeAndGenerateFromInitNoiseMatchDiffusers() throws {
        let refs = try SafeTensors.load(pipelines.appendingPathComponent("references.safetensors"))
        let dir = try scratch()
        let prompts = ["a red circle", "a photo of a cat"]
        let enc = dir.appendingPathComponent("h.safetensors")
        let e = try LetheProcess.run(["encode", "--model", pipelines.appendingPathComponent("sd_tiny").path,
                                      "--prompt", prompts[0], "--prompt", prompts[1], "--out", enc.path], timeout: 120)
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertLessThan(relativeError(try SafeTensors.load(enc)["last_hidden_state"]!, refs["image.last_hidden_state"]!), 1e-4)

        for (kind, model, noiseKey, sampleKey, ps, frames) in [
            ("image", "sd_tiny", "image.init_noise", "image.sample", prompts, "8"),
            ("video", "t2v_tiny", "video.init_noise", "video.sample", [prompts[0]], "4"),
        ] {
            let noise = dir.appendingPathComponent("\(kind)-noise.safetensors")
            try SafeTensors.write(["noise": refs[noiseKey]!], to: noise)
            let out = dir.appendingPathComponent("\(kind).safetensors")
            var args = ["generate", "--model", pipelines.appendingPathComponent(model).path, "--init-noise", noise.path,
                        "--steps", "10", "--guidance", "3", "--negative-prompt", "low quality", "--frames", frames, "--out", out.path]
            for p in ps { args += ["--prompt", p] }
            let g = try LetheProcess.run(args, timeout: 300)
            XCTAssertEqual(g.status, 0, g.stderr)
            XCTAssertLessThan(relativeError(try SafeTensors.load(out)["sample"]!, refs[sampleKey]!), 1e-3, kind)
        }
    }

    func testGenerateWritesMP4GIFAndPNG() throws {
        let dir = try scratch()
        for (model, file) in [("t2v_tiny", "c.mp4"), ("t2v_tiny", "c.gif"), ("sd_tiny", "i.png")] {
            let out = dir.appendingPathComponent(file)
            let run = try LetheProcess.run(["generate", "--model", pipelines.appendingPathComponent(model).path, "--prompt", "a red circle",
                                            "--steps", "2", "--frames", "8", "--out", out.path], timeout: 120)
            XCTAssertEqual(run.status, 0, run.stderr)
            let head = try Data(contentsOf: out).prefix(8)
            switch out.pathExtension {
            case "gif": XCTAssertEqual(Array(head.prefix(6)), Array("GIF89a".utf8))
            case "png": XCTAssertEqual(Array(head), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            default:
                XCTAssertEqual(String(decoding: head.suffix(4), as: UTF8.self), "ftyp")
                try assertProbe(out, codec: "h264", frames: 8, size: 32)
            }
        }
    }

    /// What ffprobe (a standard tool, when installed) reads from the file.
    func assertProbe(_ url: URL, codec: String, frames: Int, size: Int) throws {
        let probe = URL(fileURLWithPath: "/usr/bin/ffprobe")
        guard FileManager.default.isExecutableFile(atPath: probe.path) else { return }
        let p = Process()
        p.executableURL = probe
        p.arguments = ["-v", "error", "-select_streams", "v:0", "-show_entries",
                       "stream=codec_name,pix_fmt,nb_frames,width,height", "-of", "csv=p=0", url.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "\(codec),\(size),\(size),yuv420p,\(frames)")
    }

    func testBadInputGivesOneLineAndStatusOne() throws {
        let sd = pipelines.appendingPathComponent("sd_tiny").path
        for (args, mention) in [
            (["generate", "--model", "/no/such/model", "--prompt", "a", "--out", "/tmp/x.png"], "/no/such/model"),
            (["generate", "--model", sd, "--prompt", "a", "--out", "/tmp/x.mp4"], "image model"),
            (["generate", "--model", sd, "--prompt", "a", "--out", "/tmp/x.txt"], "--out"),
            (["encode", "--model", sd, "--prompt", "a", "--out", "/tmp/x.bin"], "safetensors"),
        ] {
            let run = try LetheProcess.run(args, timeout: 60)
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.reason, .exit)
            XCTAssertTrue(run.stderr.contains(mention), "\(args): \(run.stderr)")
            XCTAssertEqual(run.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.isEmpty && !$0.hasPrefix("  ") && !$0.hasPrefix("See ") }.count, 1, run.stderr)
        }
    }

    func testInspectModelFolderShowsComponents() throws {
        let run = try LetheProcess.run(["inspect", pipelines.appendingPathComponent("t2v_tiny").path])
        XCTAssertEqual(run.status, 0, run.stderr)
        for needle in ["== unet: UNet3DConditionModel", "== text_encoder: CLIPTextModel", "== vae: AutoencoderKL (not run by Lethe",
                       "cross_attention_dim: 8", "parameters:"] {
            XCTAssertTrue(run.stdout.contains(needle), needle)
        }
    }
}
