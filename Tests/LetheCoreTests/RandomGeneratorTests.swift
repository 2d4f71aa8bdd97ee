import XCTest
@testable import LetheCore

final class RandomGeneratorTests: XCTestCase {
    func testSameSeedSameNumbers() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42)
        for _ in 0..<100 { XCTAssertEqual(a.next(), b.next()) }
        var c = RandomGenerator(seed: 43), d = RandomGenerator(seed: 42)
        XCTAssertNotEqual(d.next(), c.next())
    }

    func testKnownFirstValuesPinTheStream() {
        // xoshiro256** seeded by SplitMix64(0), values from an independent Python implementation:
        // a change to the generator would change every shipped sample.
        var r = RandomGenerator(seed: 0)
        XCTAssertEqual((0..<3).map { _ in r.next() }, [11091344671253066420, 13793997310169335082, 1900383378846508768])
    }

    func testNormalMoments() {
        var r = RandomGenerator(seed: 7)
        let t = Tensor.randn([100_000], rng: &r)
        let mean = t.scalars.reduce(0, +) / Float(t.count)
        let varc = t.scalars.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(t.count)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(varc, 1, accuracy: 0.02)
    }
}
