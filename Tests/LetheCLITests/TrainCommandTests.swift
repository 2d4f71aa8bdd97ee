// `lethe train image|video` as a user runs it: a killed run resumes to the same result, bad
// recipes are refused with the file and key named.
import Foundation
import LetheCore
import LetheModels
import XCTest

final class TrainCommandTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lethe-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A model small enough to train a few steps in a debug build.
    private func tinyImageRecipe(in dir: URL, steps: Int = 6, extra: String = "") throws -> URL {
        let url = dir.appendingPathComponent("tiny-image.yaml")
        try """
        kind: image
        steps: \(steps)
        batch_size: 2
        lr: 0.001
        final_lr: 0.0001
        warmup_steps: 2
        weight_decay: 0.0
        ema_decay: 0.9
        max_grad_norm: 1.0
        caption_dropout: 0.5
        seed: 7
        checkpoint_every: 2
        tokenizer: \(repoRoot.appendingPathComponent("configs/world/tokenizer").path)
        text_hidden_size: 16
        text_layers: 1
        text_heads: 2
        text_intermediate_size: 32
        block_out_channels: [8, 16, 16]
        attention_head_dim: 4
        norm_num_groups: 4
        \(extra)
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func losses(_ model: URL) throws -> [Double] {
        let data = try Data(contentsOf: model.appendingPathComponent("training.json"))
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(record["losses"] as? [Double])
    }

    func testKilledRunResumesToTheSameModel() throws {
        let dir = try temporaryDirectory()
        let recipe = try tinyImageRecipe(in: dir, steps: 8)
        let straight = dir.appendingPathComponent("straight")
        let run = try LetheProcess.run(["train", "image", "--config", recipe.path, "--out", straight.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("train image: step 8/8"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: straight.path + ".checkpoint.safetensors"),
                       "a finished run removes its checkpoint")

        // Start again elsewhere and SIGKILL it as soon as its first checkpoint lands.
        let killed = dir.appendingPathComponent("killed")
        let checkpoint = URL(fileURLWithPath: killed.path + ".checkpoint.safetensors")
        let process = Process()
        process.executableURL = try LetheProcess.executable()
        process.arguments = ["train", "image", "--config", recipe.path, "--out", killed.path]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(240)
        while !FileManager.default.fileExists(atPath: checkpoint.path), process.isRunning, Date() < deadline {
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run must be killed mid-way for this test to mean anything")
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed.path), "no model folder before the run finishes")

        // --export makes a model of the checkpoint as it stands and leaves the checkpoint to resume.
        let exported = dir.appendingPathComponent("exported")
        let export = try LetheProcess.run(["train", "image", "--config", recipe.path, "--out", exported.path,
                                           "--checkpoint", checkpoint.path, "--export"], timeout: 120)
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(export.stderr.contains("at step ") && export.stderr.contains(" of 8"), export.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: exported.appendingPathComponent("unet/diffusion_pytorch_model.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.path))
        XCTAssertEqual(try losses(exported), Array(try losses(straight).prefix(try losses(exported).count)),
                       "the exported model's record is the run's loss curve so far")
        let both = try LetheProcess.run(["train", "image", "--config", recipe.path, "--out", exported.path,
                                         "--checkpoint", checkpoint.path, "--export", "--resume"], timeout: 60)
        XCTAssertEqual(both.status, 1)
        XCTAssertTrue(both.stderr.contains("leave out --resume"), both.stderr)

        let refused = try LetheProcess.run(["train", "image", "--config", recipe.path, "--out", killed.path], timeout: 60)
        XCTAssertEqual(refused.status, 1, "an existing checkpoint is not silently overwritten")
        XCTAssertTrue(refused.stderr.contains("--resume"), refused.stderr)

        let resumed = try LetheProcess.run(["train", "image", "--config", recipe.path, "--out", killed.path, "--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resumed from"), resumed.stderr)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp") || $0.contains("partial") }
        XCTAssertEqual(leftovers, [], "no half-written files once the run has finished")
        XCTAssertEqual(try losses(killed), try losses(straight), "the same loss curve as the uninterrupted run")
        for file in ["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: killed.appendingPathComponent(file)),
                           try Data(contentsOf: straight.appendingPathComponent(file)), "\(file) differs after resume")
        }
    }

    /// The shipped models' chain: a text stage, a fresh UNet on its frozen encoder (min-SNR
    /// weighted), then an image stage and a video model beside it, all sharing the text stage's
    /// encoder bit for bit.
    func testTextStageEncoderIsSharedByImageAndVideoModels() throws {
        let dir = try temporaryDirectory()
        let text = dir.appendingPathComponent("text"), image = dir.appendingPathComponent("image")
        let video = dir.appendingPathComponent("video")
        let textRecipe = dir.appendingPathComponent("text.yaml")
        try """
        kind: text
        steps: 3
        batch_size: 8
        lr: 0.001
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0
        caption_dropout: 0.1
        clip_share: 0.5
        seed: 5
        checkpoint_every: 2
        tokenizer: \(repoRoot.appendingPathComponent("configs/world/tokenizer").path)
        text_hidden_size: 16
        text_layers: 1
        text_heads: 2
        text_intermediate_size: 32
        """.write(to: textRecipe, atomically: true, encoding: .utf8)
        var run = try LetheProcess.run(["train", "text", "--config", textRecipe.path, "--out", text.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("train text: step 3/3"), run.stderr)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: text.appendingPathComponent("text_training.json"))) as? [String: Any])
        let evalAccuracy = try XCTUnwrap(record["eval_accuracy"] as? [String: Any])
        XCTAssertNotNil((evalAccuracy["per_slot"] as? [String: Double])?["object"], "\(evalAccuracy)")
        XCTAssertEqual((record["losses"] as? [Double])?.count, 3)

        let imageRecipe = dir.appendingPathComponent("image.yaml")
        try """
        kind: image
        text_encoder_from: \(text.path)
        train_parameters: unet
        snr_gamma: 5
        steps: 2
        batch_size: 2
        lr: 0.001
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0
        ema_decay: 0.9
        max_grad_norm: 1.0
        caption_dropout: 0.1
        seed: 3
        checkpoint_every: 1
        block_out_channels: [8, 16, 16]
        attention_head_dim: 4
        norm_num_groups: 4
        """.write(to: imageRecipe, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "image", "--config", imageRecipe.path, "--out", image.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let videoRecipe = dir.appendingPathComponent("video.yaml")
        try """
        kind: video
        init_from: \(image.path)
        snr_gamma: 5
        temporal_lr_scale: 3
        steps: 1
        batch_size: 1
        lr: 0.001
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0
        ema_decay: 0.0
        max_grad_norm: 1.0
        caption_dropout: 0.1
        seed: 4
        checkpoint_every: 1
        """.write(to: videoRecipe, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "video", "--config", videoRecipe.path, "--out", video.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)

        // An AnimateDiff-style video model from the same image model: the image UNet unchanged,
        // only the motion modules train.
        let motion = dir.appendingPathComponent("motion")
        let motionRecipe = dir.appendingPathComponent("motion.yaml")
        try (String(contentsOf: videoRecipe, encoding: .utf8)
             + "\nvideo_unet: motion\nmotion_num_attention_heads: 2\ntrain_parameters: temporal\ntimestep_range: [100, 1000]\n")
            .replacingOccurrences(of: "temporal_lr_scale: 3\n", with: "")
            .write(to: motionRecipe, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "video", "--config", motionRecipe.path, "--out", motion.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let motionModel = try DiffusionModel.load(directory: motion)
        let motionUNet = try XCTUnwrap(motionModel.unet as? UNetMotionModel)
        XCTAssertEqual(motionUNet.config.motionNumAttentionHeads, .shared(2))
        let imageUNet = try XCTUnwrap(DiffusionModel.load(directory: image).unet as? UNet2DConditionModel)
        let motionWeights = motionUNet.stateDict()
        for (key, weight) in imageUNet.stateDict() {
            XCTAssertEqual(try XCTUnwrap(motionWeights[key], key).scalars, weight.scalars, "\(key): frozen image weight changed")
        }
        let trainedOut = motionWeights.filter { $0.key.hasSuffix(".proj_out.weight") && UNetMotionModel.isTemporalKey($0.key) }
        XCTAssertFalse(trainedOut.isEmpty)
        XCTAssertTrue(trainedOut.allSatisfy { $0.value.scalars.contains { $0 != 0 } }, "the motion modules left the identity")
        // The image model's encoder goes into the motion model (its cross_attention_dim is checked).
        run = try LetheProcess.run(["transfer", "--encoder", image.path, "--into", motion.path,
                                    "--out", dir.appendingPathComponent("transferred").path], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        // Motion heads without a motion UNet are refused, naming the file and key.
        let headsOnly = dir.appendingPathComponent("heads.yaml")
        try (String(contentsOf: videoRecipe, encoding: .utf8) + "\nmotion_num_attention_heads: 2\n").write(to: headsOnly, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "video", "--config", headsOnly.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("heads.yaml") && run.stderr.contains("motion_num_attention_heads"), run.stderr)

        let encoder = "text_encoder/model.safetensors"
        let pretrained = try Data(contentsOf: text.appendingPathComponent(encoder))
        XCTAssertEqual(try Data(contentsOf: image.appendingPathComponent(encoder)), pretrained, "the image UNet trains on the frozen encoder")
        XCTAssertEqual(try Data(contentsOf: video.appendingPathComponent(encoder)), pretrained, "the video model shares it")
        XCTAssertEqual(try Data(contentsOf: motion.appendingPathComponent(encoder)), pretrained, "so does the motion model")
        XCTAssertEqual(try Data(contentsOf: image.appendingPathComponent("tokenizer/vocab.json")),
                       try Data(contentsOf: text.appendingPathComponent("tokenizer/vocab.json")))

        // Both sources of a text encoder at once is refused, naming the file and key.
        let both = dir.appendingPathComponent("both.yaml")
        try (String(contentsOf: imageRecipe, encoding: .utf8) + "\ninit_from: \(image.path)\n").write(to: both, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "image", "--config", both.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("both.yaml") && run.stderr.contains("text_encoder_from"), run.stderr)
        // Temporal layers belong to video recipes only.
        let imageWithTemporal = dir.appendingPathComponent("temporal.yaml")
        try (String(contentsOf: imageRecipe, encoding: .utf8) + "\ntemporal_lr_scale: 2\n").write(to: imageWithTemporal, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "image", "--config", imageWithTemporal.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("temporal.yaml") && run.stderr.contains("temporal_lr_scale"), run.stderr)
        let imageWithMixedNoise = dir.appendingPathComponent("mixed.yaml")
        try (String(contentsOf: imageRecipe, encoding: .utf8) + "\nmixed_noise_alpha: 1\n").write(to: imageWithMixedNoise, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "image", "--config", imageWithMixedNoise.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("mixed.yaml") && run.stderr.contains("mixed_noise_alpha"), run.stderr)
    }

    /// The shipped models' chain: a first image stage, a second that regroups attention heads,
    /// then a UNet-only stage and a video model beside it (and a second video stage), all sharing one text encoder bit for bit.
    func testStagesAndVideoModelShareTheTextEncoder() throws {
        let dir = try temporaryDirectory()
        let stage1 = dir.appendingPathComponent("stage1"), stage2 = dir.appendingPathComponent("stage2")
        let stage3 = dir.appendingPathComponent("stage3"), video = dir.appendingPathComponent("video")
        let first = try tinyImageRecipe(in: dir, steps: 2)
        XCTAssertEqual(try LetheProcess.run(["train", "image", "--config", first.path, "--out", stage1.path], timeout: 300).status, 0)
        func recipe(_ name: String, _ body: String) throws -> URL {
            let url = dir.appendingPathComponent(name)
            try (body + """

            steps: 2
            batch_size: 1
            lr: 0.001
            final_lr: 0.0001
            warmup_steps: 1
            weight_decay: 0.0
            ema_decay: 0.0
            max_grad_norm: 1.0
            caption_dropout: 0.1
            seed: 3
            checkpoint_every: 1
            """).write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        let regroup = try recipe("s2.yaml", "kind: image\ninit_from: \(stage1.path)\nattention_heads_per_block: [2, 4, 4]")
        var run = try LetheProcess.run(["train", "image", "--config", regroup.path, "--out", stage2.path, "--dtype", "float16"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let unetOnly = try recipe("s3.yaml", "kind: image\ninit_from: \(stage2.path)\ntrain_parameters: unet")
        run = try LetheProcess.run(["train", "image", "--config", unetOnly.path, "--out", stage3.path, "--dtype", "float16"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let videoRecipe = try recipe("v.yaml", "kind: video\ninit_from: \(stage2.path)\ntrain_parameters: temporal")
        run = try LetheProcess.run(["train", "video", "--config", videoRecipe.path, "--out", video.path, "--dtype", "float16"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)

        // A second video stage continues the video model: temporal layers only, on the noisy end
        // of the schedule, on mixed frame noise; the spatial weights come through untouched.
        let video2 = dir.appendingPathComponent("video2")
        let continued = try recipe("v2.yaml", "kind: video\ninit_from: \(video.path)\ntrain_parameters: temporal\ntimestep_range: [600, 1000]\nmixed_noise_alpha: 1")
        run = try LetheProcess.run(["train", "video", "--config", continued.path, "--out", video2.path, "--dtype", "float16"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let before = try SafeTensors.load(video.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        let after = try SafeTensors.load(video2.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        XCTAssertEqual(Set(before.keys), Set(after.keys))
        var movedTemporal = 0
        for (key, tensor) in before {
            let same = tensor.scalars == after[key]!.scalars
            if UNet3DConditionModel.isTemporalKey(key) { movedTemporal += same ? 0 : 1 } else { XCTAssertTrue(same, "\(key) is spatial and frozen") }
        }
        XCTAssertGreaterThan(movedTemporal, 0, "the temporal layers train")
        // The prior it trained on travels with it, for sampling; the first stage had none.
        XCTAssertEqual(try SchedulerConfig(contentsOf: video2.appendingPathComponent("scheduler")).mixedFrameNoise, MixedFrameNoise(alpha: 1))
        XCTAssertNil(try SchedulerConfig(contentsOf: video.appendingPathComponent("scheduler")).mixedFrameNoise)
        // temporal_from: stage 3's spatial weights with the video model's temporal layers (a rate
        // too small to move either, so both can be compared with their sources).
        let merged = dir.appendingPathComponent("merged")
        let mergeRecipe = dir.appendingPathComponent("merge.yaml")
        try (String(contentsOf: continued, encoding: .utf8)
            .replacingOccurrences(of: "init_from: \(video.path)", with: "init_from: \(stage3.path)\ntemporal_from: \(video.path)")
            .replacingOccurrences(of: "lr: 0.001", with: "lr: 0.000000001")).write(to: mergeRecipe, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "video", "--config", mergeRecipe.path, "--out", merged.path, "--dtype", "float16"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let spatialSource = try SafeTensors.load(stage3.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        for (key, tensor) in try SafeTensors.load(merged.appendingPathComponent("unet/diffusion_pytorch_model.safetensors")) {
            let source = UNet3DConditionModel.isTemporalKey(key) ? before[key] : spatialSource[key]
            let expected = try XCTUnwrap(source, key)
            XCTAssertEqual(tensor.count, expected.count, key)  // inflation may reshape (1×1 convolutions become linear layers)
            let gap = zip(tensor.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(gap, 1e-3, "\(key) comes from \(UNet3DConditionModel.isTemporalKey(key) ? "temporal_from" : "init_from")")
        }
        // A v-prediction stage: saved so that sampling reads its output as v and starts at t = 999;
        // an ε-loss weighting on top of it is refused, naming the model.
        let vModel = dir.appendingPathComponent("video-v")
        let vRecipe = try recipe("vv.yaml", "kind: video\ninit_from: \(video.path)\nprediction_type: v_prediction\ntimestep_spacing: trailing\nsnr_gamma: 5")
        run = try LetheProcess.run(["train", "video", "--config", vRecipe.path, "--out", vModel.path, "--dtype", "float16"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let vScheduler = try SchedulerConfig(contentsOf: vModel.appendingPathComponent("scheduler"))
        XCTAssertEqual(vScheduler.predictionType, .vPrediction)
        XCTAssertEqual(vScheduler.timestepSpacing, .trailing)
        XCTAssertTrue(try losses(vModel).allSatisfy { $0.isFinite && $0 > 0 })
        let capOnV = try recipe("capv.yaml", "kind: video\ninit_from: \(vModel.path)\nnoisy_end_weight_cap: 10")
        run = try LetheProcess.run(["train", "video", "--config", capOnV.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("video-v") && run.stderr.contains("noisy_end_weight_cap"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("no").path))

        let notVideo = try recipe("nv.yaml", "kind: video\ninit_from: \(stage3.path)\ntemporal_from: \(stage3.path)")
        run = try LetheProcess.run(["train", "video", "--config", notVideo.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("temporal_from must be a video model"), run.stderr)
        let badRange = try recipe("range.yaml", "kind: video\ninit_from: \(video.path)\ntimestep_range: [900, 100]")
        run = try LetheProcess.run(["train", "video", "--config", badRange.path, "--out", dir.appendingPathComponent("no").path], timeout: 60)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("range.yaml") && run.stderr.contains("timestep_range"), run.stderr)

        let encoder = "text_encoder/model.safetensors", unet = "unet/diffusion_pytorch_model.safetensors"
        let shared = try Data(contentsOf: stage2.appendingPathComponent(encoder))
        XCTAssertEqual(try Data(contentsOf: stage3.appendingPathComponent(encoder)), shared, "stage 3 keeps the encoder")
        XCTAssertEqual(try Data(contentsOf: video.appendingPathComponent(encoder)), shared, "the video model shares it")
        XCTAssertEqual(try Data(contentsOf: video2.appendingPathComponent(encoder)), shared, "and so does its second stage")
        XCTAssertNotEqual(try Data(contentsOf: stage3.appendingPathComponent(unet)), try Data(contentsOf: stage2.appendingPathComponent(unet)))
        let config = try String(contentsOf: stage2.appendingPathComponent("unet/config.json"), encoding: .utf8)
        XCTAssertTrue(config.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "\n", with: "").contains("\"attention_head_dim\":[2,4,4]"), config)
    }

    func testRecipeWithUnknownKeyOrWrongTypeIsRefused() throws {
        let dir = try temporaryDirectory()
        let unknown = try tinyImageRecipe(in: dir, extra: "learning_rate: 0.1")
        var run = try LetheProcess.run(["train", "image", "--config", unknown.path, "--out", dir.appendingPathComponent("m").path])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderrLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains(unknown.path) && run.stderr.contains("unknown key 'learning_rate'"), run.stderr)

        let wrongType = dir.appendingPathComponent("wrong.yaml")
        try String(contentsOf: unknown, encoding: .utf8).replacingOccurrences(of: "learning_rate: 0.1", with: "")
            .replacingOccurrences(of: "batch_size: 2", with: "batch_size: two").write(to: wrongType, atomically: true, encoding: .utf8)
        run = try LetheProcess.run(["train", "image", "--config", wrongType.path, "--out", dir.appendingPathComponent("m").path])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("batch_size"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("m").path))
    }

    func testVideoRecipeNeedsAnImageModelFolder() throws {
        let dir = try temporaryDirectory()
        let recipe = dir.appendingPathComponent("video.yaml")
        try """
        kind: video
        init_from: \(dir.appendingPathComponent("no-such-model").path)
        steps: 2
        batch_size: 1
        lr: 0.001
        final_lr: 0.0
        warmup_steps: 1
        weight_decay: 0.0
        ema_decay: 0.0
        max_grad_norm: 1.0
        caption_dropout: 0.1
        seed: 1
        checkpoint_every: 1
        """.write(to: recipe, atomically: true, encoding: .utf8)
        let run = try LetheProcess.run(["train", "video", "--config", recipe.path, "--out", dir.appendingPathComponent("v").path])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("no-such-model"), run.stderr)
        let wrongKind = try LetheProcess.run(["train", "image", "--config", recipe.path, "--out", dir.appendingPathComponent("v").path])
        XCTAssertEqual(wrongKind.status, 1)
        XCTAssertTrue(wrongKind.stderr.contains("lethe train video"), wrongKind.stderr)
    }
}
