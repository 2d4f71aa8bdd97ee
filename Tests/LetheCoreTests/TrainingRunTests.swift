import XCTest
@testable import LetheCore

final class TrainingRunTests: XCTestCase {
    struct Crash: Error {}

    /// A tiny regression problem with per-step random data, so the loss curve depends on the
    /// per-step generator, the parameters and the optimizer state.
    func makeRun(steps: Int, checkpoint: URL?, resume: Bool, seed: UInt64 = 5) -> (TrainingRun, Tensor) {
        var init_ = RandomGenerator(seed: 1)
        let w = Tensor.randn([4, 3], rng: &init_)
        w.requiresGrad = true
        let opt = AdamW(parameters: [w], learningRate: 0.05)
        let ema = ExponentialMovingAverage(parameters: [w], decay: 0.9)
        var options = TrainingOptions(steps: steps, seed: seed, checkpoint: checkpoint, checkpointEvery: 10, resume: resume)
        options.progressInterval = 1e9
        let run = TrainingRun(parameters: [("w", w)], optimizer: opt, ema: ema, options: options, metadata: ["recipe": "test"])
        run.log = { _ in }
        return (run, w)
    }

    func step(_ w: Tensor, crashAt: Int? = nil) -> (Int, inout RandomGenerator) throws -> Float {
        return { i, rng in
            if i == crashAt { throw Crash() }
            let x = Tensor.randn([8, 3], rng: &rng)
            let target = Tensor.randn([8, 4], rng: &rng)
            let loss = x.linear(weight: w, bias: nil).mseLoss(target)
            loss.backward()
            return loss.item
        }
    }

    func tempURL() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString).safetensors")
    }

    func testResumeAfterCrashRetracesTheLossCurveExactly() throws {
        let (full, wFull) = makeRun(steps: 30, checkpoint: nil, resume: false)
        let reference = try full.run(step(wFull)).losses

        let url = tempURL()
        let (first, w1) = makeRun(steps: 30, checkpoint: url, resume: false)
        XCTAssertThrowsError(try first.run(step(w1, crashAt: 17)))  // dies after the step-10 checkpoint
        let (second, w2) = makeRun(steps: 30, checkpoint: url, resume: true)
        let result = try second.run(step(w2))
        XCTAssertEqual(result.resumedFrom, 10)
        XCTAssertEqual(result.losses, reference, "bit-identical loss curve after resume")
        XCTAssertEqual(w2.scalars, wFull.scalars)
    }

    func testRefusesForeignOrDamagedCheckpointsWithoutTouchingTheModel() throws {
        let url = tempURL()
        let (first, w1) = makeRun(steps: 10, checkpoint: url, resume: false)
        _ = try first.run(step(w1))

        let (again, w2) = makeRun(steps: 20, checkpoint: url, resume: false)
        XCTAssertThrowsError(try again.run(step(w2))) { XCTAssertTrue("\($0)".contains("--resume")) }

        let (otherSeed, w3) = makeRun(steps: 20, checkpoint: url, resume: true, seed: 6)
        let before = w3.scalars
        XCTAssertThrowsError(try otherSeed.run(step(w3))) { XCTAssertTrue("\($0)".contains("seed")) }
        XCTAssertEqual(w3.scalars, before)

        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 7).write(to: url)
        let (damaged, w4) = makeRun(steps: 20, checkpoint: url, resume: true)
        let before4 = w4.scalars
        XCTAssertThrowsError(try damaged.run(step(w4))) { XCTAssertTrue("\($0)".contains(url.lastPathComponent)) }
        XCTAssertEqual(w4.scalars, before4)
    }

    func testNonFiniteLossStopsWithAClearError() {
        let (run, _) = makeRun(steps: 5, checkpoint: nil, resume: false)
        XCTAssertThrowsError(try run.run { _, _ in .nan }) { XCTAssertTrue("\($0)".contains("learning rate")) }
    }
}
