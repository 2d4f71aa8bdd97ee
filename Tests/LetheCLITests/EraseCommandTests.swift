// `lethe erase` and `lethe transfer` as a user runs them, on the pipeline fixtures' tiny models.
import Foundation
import LetheCore
import XCTest

final class EraseCommandTests: XCTestCase {
    let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LetheModelsTests/Fixtures/pipeline")

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-erase-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func errorLines(_ run: LetheRun) -> [Substring] {
        run.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
    }

    /// Every mistake is reported in one line, with status 1, before the model is read: the model
    /// path given does not exist, and no error mentions it.
    func testErrorsComeBeforeAnyModelIsLoaded() throws {
        let dir = try scratch()
        let badRecipe = dir.appendingPathComponent("bad.yaml")
        try "steps: 3\nlearning_rate: 0.1\n".write(to: badRecipe, atomically: true, encoding: .utf8)
        let base = ["erase", "--model", "/no/such/model", "--out", dir.appendingPathComponent("out").path]
        for (extra, mention) in [
            (["--concept", "circel"], "unknown concept 'circel'"),
            (["--concept", "circle", "--method", "uce"], "--method uce"),
            (["--concept", "circle", "--params", "unet"], "--params unet"),
            (["--concept", "circle", "--config", badRecipe.path], "unknown key 'learning_rate'"),
            (["--concept", "circle", "--steps", "0"], "key 'steps'"),
            (["--concept", "circle", "--concept", "ball"], "given twice"),
            (["--concept", "circle", "--method", "esd", "--anchor", "a box"], "--anchor applies"),
        ] {
            let run = try LetheProcess.run(base + extra, timeout: 30)
            XCTAssertEqual(run.status, 1, "\(extra): \(run.stderr)")
            let lines = errorLines(run)
            XCTAssertEqual(lines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(mention), "\(extra): \(run.stderr)")
            XCTAssertFalse(run.stderr.contains("/no/such/model"), "\(extra): the model was looked at: \(run.stderr)")
            if extra.contains(badRecipe.path) { XCTAssertTrue(run.stderr.contains(badRecipe.path), run.stderr) }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    }

    func testEraseWritesTheModelAndItsReport() throws {
        let dir = try scratch()
        let sd = pipelines.appendingPathComponent("sd_tiny")
        let recipe = dir.appendingPathComponent("small.yaml")
        try "method: fewshot\nsteps: 2\nimages: 1\ngeneration_steps: 2\nbatch_size: 1\n".write(to: recipe, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("erased")
        let args = ["erase", "--model", sd.path, "--concept", "a golden retriever", "--free-text", "--config", recipe.path,
                    "--seed", "3", "--out", out.path]
        let run = try LetheProcess.run(args, timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        for part in ["unet/diffusion_pytorch_model.safetensors", "unet/config.json", "vae/diffusion_pytorch_model.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(part)), try Data(contentsOf: sd.appendingPathComponent(part)), part)
        }
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("erase.json"))) as? [String: Any])
        XCTAssertEqual(report["method"] as? String, "fewshot")
        XCTAssertEqual(report["seed"] as? Int, 3)
        XCTAssertEqual((report["losses"] as? [Double])?.count, 2)
        XCTAssertEqual(((report["concepts"] as? [[String: Any]])?.first)?["family"] as? String, "free-text")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("erased.checkpoint.safetensors").path))
        XCTAssertTrue(run.stderr.contains("erase fewshot: step 2/2"), run.stderr)

        let again = try LetheProcess.run(args, timeout: 30)
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        let resume = try LetheProcess.run(["erase", "--model", sd.path, "--concept", "circle", "--out", dir.appendingPathComponent("other").path,
                                           "--resume"], timeout: 30)
        XCTAssertEqual(resume.status, 1)
        XCTAssertTrue(resume.stderr.contains("no checkpoint"), resume.stderr)
    }

    /// `--anchor TEXT` names the prompt every caption is pulled to, so it overrides a recipe's
    /// in-context anchoring (which would ignore it); erase.json records what ran.
    func testAnchorOptionSwitchesToPromptAnchoring() throws {
        let dir = try scratch()
        let recipe = dir.appendingPathComponent("small.yaml")
        try "method: anchor\nanchor_mode: in-context\nsteps: 1\nimages: 1\ngeneration_steps: 2\nbatch_size: 1\n"
            .write(to: recipe, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("erased")
        let run = try LetheProcess.run(["erase", "--model", pipelines.appendingPathComponent("sd_tiny").path,
                                        "--concept", "a golden retriever", "--free-text", "--config", recipe.path,
                                        "--anchor", "a dog", "--out", out.path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("erase.json"))) as? [String: Any])
        let recorded = try XCTUnwrap(report["recipe"] as? [String: Any])
        XCTAssertEqual(recorded["anchor"] as? String, "a dog")
        XCTAssertEqual(recorded["anchor_mode"] as? String, "prompt")
    }

    func testTransferCopiesTheEncoderOrRefusesNamingBothValues() throws {
        let dir = try scratch()
        let sd = pipelines.appendingPathComponent("sd_tiny"), t2v = pipelines.appendingPathComponent("t2v_tiny")
        let out = dir.appendingPathComponent("video")
        let ok = try LetheProcess.run(["transfer", "--encoder", sd.path, "--into", t2v.path, "--out", out.path], timeout: 60)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("text_encoder/model.safetensors")),
                       try Data(contentsOf: sd.appendingPathComponent("text_encoder/model.safetensors")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("transfer.json").path))

        let wide = dir.appendingPathComponent("wide")
        try FileManager.default.copyItem(at: t2v, to: wide)
        let config = wide.appendingPathComponent("unet/config.json")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        json["cross_attention_dim"] = 1024
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        let refused = dir.appendingPathComponent("refused")
        let run = try LetheProcess.run(["transfer", "--encoder", sd.path, "--into", wide.path, "--out", refused.path], timeout: 60)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(errorLines(run).count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("cross_attention_dim") && run.stderr.contains("has 8") && run.stderr.contains("has 1024"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
    }

    /// Ctrl-C stops after the current step with a checkpoint and writes no model; --resume then
    /// finishes with exactly the weights of an uninterrupted run.
    func testInterruptedEraseResumesToTheUninterruptedResult() throws {
        try assertStoppedEraseResumes(signal: SIGINT)
    }

    /// SIGKILL gives the run no chance to save: it resumes from its last periodic checkpoint.
    func testKilledEraseResumesToTheUninterruptedResult() throws {
        try assertStoppedEraseResumes(signal: SIGKILL)
    }

    private func assertStoppedEraseResumes(signal: Int32) throws {
        let dir = try scratch()
        let sd = pipelines.appendingPathComponent("sd_tiny")
        let recipe = dir.appendingPathComponent("steps.yaml")
        try "method: fewshot\nsteps: 24\ncheckpoint_every: 1\nimages: 1\ngeneration_steps: 2\nbatch_size: 1\nlr: 1.0e-3\n"
            .write(to: recipe, atomically: true, encoding: .utf8)
        func args(_ out: URL) -> [String] { ["erase", "--model", sd.path, "--concept", "star", "--config", recipe.path, "--out", out.path] }

        let straight = dir.appendingPathComponent("straight")
        XCTAssertEqual(try LetheProcess.run(args(straight), timeout: 120).status, 0)

        let stopped = dir.appendingPathComponent("stopped")
        let checkpoint = dir.appendingPathComponent("stopped.checkpoint.safetensors")
        let process = Process()
        process.executableURL = try LetheProcess.executable()
        process.arguments = args(stopped)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint.path) && process.isRunning && Date() < deadline { usleep(20_000) }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        if signal == SIGINT {
            XCTAssertEqual(process.terminationStatus, 130, "the run should stop on SIGINT before its 24 steps")
        } else {
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run must be killed before its 24 steps")
        }

        XCTAssertFalse(FileManager.default.fileExists(atPath: stopped.path), "an interrupted run writes no model")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.path))

        let resumed = try LetheProcess.run(args(stopped) + ["--resume"], timeout: 120)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp") || $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "no half-written files or folders once the run has finished")
        XCTAssertTrue(resumed.stderr.contains("resumed from"), resumed.stderr)
        let weights = "text_encoder/model.safetensors"
        XCTAssertEqual(try Data(contentsOf: stopped.appendingPathComponent(weights)), try Data(contentsOf: straight.appendingPathComponent(weights)))
        let a = try JSONSerialization.jsonObject(with: Data(contentsOf: stopped.appendingPathComponent("erase.json"))) as? [String: Any]
        let b = try JSONSerialization.jsonObject(with: Data(contentsOf: straight.appendingPathComponent("erase.json"))) as? [String: Any]
        XCTAssertEqual(a?["losses"] as? [Double], b?["losses"] as? [Double])
        XCTAssertNotNil(a?["resumed_from"] as? Int)
    }
}
