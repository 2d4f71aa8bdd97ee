import XCTest
@testable import LetheCore

final class OptimizerTests: XCTestCase {
    struct Fixture: Decodable {
        struct Clip: Decodable { let norm: Float; let a: [Float]; let b: [Float]; let a_in: [Float]; let b_in: [Float] }
        struct Cases: Decodable { let adamw: [[Float]]; let sgd_momentum: [[Float]]; let sgd_plain: [[Float]]; let clip: Clip }
        let p0: [Float]
        let grads: [[Float]]
        let cases: Cases
    }

    func loadFixture() throws -> Fixture {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/optimizers.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func run(_ fx: Fixture, _ make: ([Tensor]) -> Optimizer, expected: [[Float]]) {
        let p = Tensor(shape: [fx.p0.count], data: fx.p0, requiresGrad: true)
        let opt = make([p])
        for (step, g) in fx.grads.enumerated() {
            opt.zeroGrad()
            p.grad = Tensor(shape: [g.count], data: g)
            opt.step()
            assertClose(p, expected[step], tolerance: 1e-5)
        }
    }

    func testAdamWMatchesTorch() throws {
        let fx = try loadFixture()
        run(fx, { AdamW(parameters: $0, learningRate: 1e-2, betas: (0.9, 0.98), eps: 1e-8, weightDecay: 1e-2) }, expected: fx.cases.adamw)
    }

    func testSGDMatchesTorch() throws {
        let fx = try loadFixture()
        run(fx, { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3) }, expected: fx.cases.sgd_momentum)
        run(fx, { SGD(parameters: $0, learningRate: 0.1) }, expected: fx.cases.sgd_plain)
    }

    func testClipGradientNormMatchesTorch() throws {
        let c = try loadFixture().cases.clip
        let a = Tensor.zeros([c.a_in.count]), b = Tensor.zeros([c.b_in.count])
        a.grad = Tensor(shape: [c.a_in.count], data: c.a_in)
        b.grad = Tensor(shape: [c.b_in.count], data: c.b_in)
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, c.norm, accuracy: 1e-4 * c.norm)
        assertClose(a.grad!, c.a, tolerance: 1e-5)
        assertClose(b.grad!, c.b, tolerance: 1e-5)
    }

    func testEMA() {
        let p = Tensor(shape: [2], data: [1, 2])
        let ema = ExponentialMovingAverage(parameters: [p], decay: 0.9)
        p.assign(Tensor(shape: [2], data: [11, 12]))
        ema.update()
        assertClose(ema.shadow[0], [2, 3])
        ema.copyToParameters()
        assertClose(p, [2, 3])
    }

    func testModuleStateDictRoundTripAndErrors() throws {
        final class Leaf: Module {
            override init() { super.init(); parameter("weight", Tensor.zeros([2, 3])); parameter("bias", Tensor.zeros([2])) }
        }
        final class Tree: Module {
            override init() { super.init(); child("proj", Leaf()); children("layers", [Leaf(), Leaf()]) }
        }
        let m = Tree()
        XCTAssertEqual(m.namedParameters().map(\.key),
                       ["proj.weight", "proj.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        var sd = m.stateDict().mapValues { Tensor(repeating: 3, shape: $0.shape) }
        try m.load(stateDict: sd, source: "x")
        XCTAssertEqual(m.parameters.first!.scalars, [3, 3, 3, 3, 3, 3])
        sd["layers.1.bias"] = Tensor.zeros([5])
        XCTAssertThrowsError(try m.load(stateDict: sd, source: "f.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("layers.1.bias") && "\(e)".contains("f.safetensors"))
        }
        sd["layers.1.bias"] = nil
        XCTAssertThrowsError(try m.load(stateDict: sd, source: "f")) { XCTAssertTrue("\($0)".contains("missing")) }
        XCTAssertNotNil(m.module(at: "layers.1"))
    }

    /// A buffer (torch's persistent register_buffer) is saved and loaded under its key like a
    /// parameter, but is not a parameter: never trainable, not counted, untouched by setTrainable.
    func testModuleBuffersAreInTheStateDictButNotTrained() throws {
        final class Leaf: Module {
            override init() { super.init(); parameter("weight", Tensor.zeros([2])); buffer("pe", Tensor.ones([1, 3])) }
        }
        final class Tree: Module {
            override init() { super.init(); children("blocks", [Leaf()]) }
        }
        let m = Tree()
        XCTAssertEqual(m.namedParameters().map(\.key), ["blocks.0.weight"])
        XCTAssertEqual(m.namedBuffers().map(\.key), ["blocks.0.pe"])
        XCTAssertEqual(Set(m.stateDict().keys), ["blocks.0.weight", "blocks.0.pe"])
        XCTAssertEqual(m.parameterCount, 2)
        m.setTrainable(true)
        XCTAssertFalse(m.namedBuffers()[0].tensor.requiresGrad)
        XCTAssertEqual(m.trainableParameters.count, 1)

        var sd = m.stateDict().mapValues { Tensor(repeating: 5, shape: $0.shape) }
        try m.load(stateDict: sd, source: "x")
        XCTAssertEqual(m.namedBuffers()[0].tensor.scalars, [5, 5, 5])
        sd["blocks.0.pe"] = nil
        XCTAssertThrowsError(try m.load(stateDict: sd, source: "f")) { XCTAssertTrue("\($0)".contains("blocks.0.pe")) }
        sd["blocks.0.pe"] = Tensor.zeros([1, 4])
        XCTAssertThrowsError(try m.load(stateDict: sd, source: "f")) { XCTAssertTrue("\($0)".contains("blocks.0.pe")) }
    }

    /// A parameter with learning-rate scale k moves exactly as under an optimizer with lr·k.
    func testAdamWLearningRateScalesActPerParameter() {
        func run(lr: Float, scales: [Float]?) -> [Tensor] {
            let a = Tensor(shape: [3], data: [1, -2, 0.5]), b = Tensor(shape: [2], data: [0.3, 4])
            let opt = AdamW(parameters: [a, b], learningRate: lr, weightDecay: 0.1)
            opt.learningRateScales = scales
            for step in 0..<3 {
                a.grad = Tensor(shape: [3], data: [0.1, Float(step), -0.4])
                b.grad = Tensor(shape: [2], data: [1, -Float(step) - 1])
                opt.step()
            }
            return [a, b]
        }
        let scaled = run(lr: 0.01, scales: [1, 3])
        let plain = run(lr: 0.01, scales: nil), fast = run(lr: 0.03, scales: nil)
        for i in 0..<3 { XCTAssertEqual(scaled[0][flat: i], plain[0][flat: i], accuracy: 1e-7) }
        for i in 0..<2 { XCTAssertEqual(scaled[1][flat: i], fast[1][flat: i], accuracy: 1e-7) }
        XCTAssertNotEqual(scaled[1][flat: 0], plain[1][flat: 0])
    }
}
