// `lethe train detector` run as a subprocess on a tiny recipe.
import Foundation
import XCTest

final class TrainDetectorCommandTests: XCTestCase {
    static let tinyRecipe = """
        steps: 3
        images_per_batch: 2
        clips_per_batch: 1
        frames_per_clip: 2
        two_object_probability: 0.5
        exclude_held_out_combos: false
        lr: 0.003
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0001
        ema_decay: 0.9
        noise_std: 0.03
        seed: 7
        checkpoint_every: 2
        eval_clips: 2
        eval_images: 2
        eval_seed: 8
        frame_channels: [8, 8]
        frame_strides: [2, 2]
        frame_pooling: max
        motion_channels: [8]
        motion_strides: [2]
        norm_num_groups: 4
        """

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testTrainDetectorWritesTheModelFolder() throws {
        let dir = try temporaryDirectory()
        let recipe = dir.appendingPathComponent("d.yaml")
        try Self.tinyRecipe.write(to: recipe, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("det")
        let run = try LetheProcess.run(["train", "detector", "--config", recipe.path, "--out", out.path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("detector: step 3/3"), run.stderr)
        XCTAssertTrue(run.stdout.hasPrefix("trained \(out.path)"), run.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(files, ["accuracy.json", "config.json", "model.safetensors", "recipe.yaml"])
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("recipe.yaml"), encoding: .utf8), Self.tinyRecipe)
        let config = try String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains("\"frame_pooling\": \"max\"") || config.contains("\"frame_pooling\" : \"max\""), config)
    }

    func testBadRecipesAreOneLineErrorsNamingFileAndKey() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("det")
        for (edit, expected) in [
            (Self.tinyRecipe + "\nbatch: 3", "unknown key 'batch'"),
            (Self.tinyRecipe.replacingOccurrences(of: "steps: 3", with: "steps: many"), "key 'steps': expected an integer"),
            (Self.tinyRecipe.replacingOccurrences(of: "frame_pooling: max", with: "frame_pooling: sum"),
             "key 'frame_pooling': expected max or mean"),
            (Self.tinyRecipe + "\ninit_from: /nonexistent/detector", "key 'init_from': no detector folder"),
        ] {
            let recipe = dir.appendingPathComponent("bad.yaml")
            try edit.write(to: recipe, atomically: true, encoding: .utf8)
            let run = try LetheProcess.run(["train", "detector", "--config", recipe.path, "--out", out.path])
            XCTAssertEqual(run.status, 1, run.stderr)
            XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix("error: \(recipe.path): \(expected)"), run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing is written for a bad recipe")
        }
        let missing = try LetheProcess.run(["train", "detector", "--config", dir.appendingPathComponent("none.yaml").path,
                                            "--out", out.path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.yaml: cannot read the file"), missing.stderr)
        let good = dir.appendingPathComponent("good.yaml")
        try Self.tinyRecipe.write(to: good, atomically: true, encoding: .utf8)
        let resume = try LetheProcess.run(["train", "detector", "--config", good.path, "--out", out.path, "--resume"])
        XCTAssertEqual(resume.status, 1)
        XCTAssertTrue(resume.stderr.hasPrefix("error: --resume: no checkpoint at"), resume.stderr)
    }
}
