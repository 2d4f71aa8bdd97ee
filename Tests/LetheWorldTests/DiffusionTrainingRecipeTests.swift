import XCTest
@testable import LetheModels
@testable import LetheWorld

final class DiffusionTrainingRecipeTests: XCTestCase {
    func recipe(_ extra: String) throws -> DiffusionTrainingRecipe {
        let yaml = """
        kind: video
        init_from: models/image
        steps: 10
        batch_size: 1
        lr: 0.001
        final_lr: 0.0001
        warmup_steps: 1
        weight_decay: 0.0
        ema_decay: 0.0
        max_grad_norm: 1.0
        caption_dropout: 0.1
        seed: 3
        checkpoint_every: 5
        \(extra)
        """
        let r = try RecipeLoader.decode(DiffusionTrainingRecipe.self, yaml: yaml, file: "v.yaml")
        try r.validate(file: "v.yaml")
        return r
    }

    /// Resuming compares fingerprints: the default video UNet named or not is the same run, a
    /// different UNet or noise prior is not.
    func testFingerprintTreatsTheDefaultVideoUNetAsAbsent() throws {
        let plain = try recipe("")
        XCTAssertEqual(try recipe("video_unet: unet3d").fingerprint, plain.fingerprint)
        XCTAssertNotEqual(try recipe("video_unet: motion").fingerprint, plain.fingerprint)
        XCTAssertNotEqual(try recipe("mixed_noise_alpha: 1").fingerprint, plain.fingerprint)
    }

    func testMixedNoiseAlphaMustBeANonNegativeNumber() throws {
        XCTAssertEqual(try recipe("mixed_noise_alpha: 0.5").mixedNoiseAlpha, 0.5)
        XCTAssertThrowsError(try recipe("mixed_noise_alpha: -1")) {
            XCTAssertTrue("\($0)".contains("v.yaml") && "\($0)".contains("mixed_noise_alpha"), "\($0)")
        }
    }
}
