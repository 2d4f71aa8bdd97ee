import Foundation
import XCTest
import LetheCore
@testable import LetheEval

final class FrechetDistanceTests: XCTestCase {
    static func features(_ n: Int, _ d: Int, _ f: (Double, Double) -> Double) -> Tensor {
        Tensor(shape: [n, d], data: (0..<(n * d)).map { Float(f(Double($0 / d), Double($0 % d))) })
    }
    let a = features(9, 4) { i, j in sin(1.3 * i * (j + 1) + 0.7 * j) + 0.1 * j }
    let b = features(7, 4) { i, j in cos(0.9 * i * (j + 2) - 0.4 * j) * (1 + 0.2 * j) + 0.5 }

    func testMatchesScipyReference() throws {
        // The pytorch-fid formula with scipy (features rounded to float32 as here):
        // python3 -c "import numpy as np; from scipy import linalg; f32=lambda m: m.astype(np.float32).astype(np.float64);
        //   a=f32(np.array([[np.sin(1.3*i*(j+1)+0.7*j)+0.1*j for j in range(4)] for i in range(9)]));
        //   b=f32(np.array([[np.cos(0.9*i*(j+2)-0.4*j)*(1+0.2*j)+0.5 for j in range(4)] for i in range(7)]));
        //   s1,s2=np.cov(a,rowvar=False),np.cov(b,rowvar=False); d=a.mean(0)-b.mean(0);
        //   print(repr(d@d+np.trace(s1)+np.trace(s2)-2*np.trace(linalg.sqrtm(s1@s2).real)))"
        // (mpmath at 50 digits on the same covariances agrees to 2e-15; both covariances are
        // well conditioned, smallest eigenvalues 0.084 and 0.44.)
        let reference = 0.9475604917010383
        XCTAssertEqual(try FrechetDistance.compute(featuresA: a, featuresB: b), reference, accuracy: 1e-9)
        XCTAssertEqual(try FrechetDistance.compute(a: b, b: a), reference, accuracy: 1e-9)
    }

    func testIdenticalSetsAreAtDistanceZero() throws {
        XCTAssertEqual(try FrechetDistance.compute(featuresA: a, featuresB: a), 0, accuracy: 1e-10)
        // Fewer samples than dimensions: a singular covariance is still fine.
        let wide = Self.features(3, 6) { i, j in sin(i * j + 0.3) }
        XCTAssertEqual(try FrechetDistance.compute(featuresA: wide, featuresB: wide), 0, accuracy: 1e-10)
    }

    func testAShiftAddsOnlyTheSquaredMeanDifference() throws {
        let delta: [Float] = [0.5, -1, 2, 0.25]
        let shifted = a.zipMap(Tensor(shape: [9, 4], data: (0..<36).map { delta[$0 % 4] })) { $0 + $1 }
        let expected = delta.reduce(0.0) { $0 + Double($1 * $1) }
        XCTAssertEqual(try FrechetDistance.compute(featuresA: a, featuresB: shifted), expected, accuracy: 1e-5)
    }

    func testJacobiEigenDecomposition() {
        let m: [Double] = [4, 1, -2, 0.5,
                           1, 3, 0, 1,
                           -2, 0, 5, -1,
                           0.5, 1, -1, 2]
        let eig = SymmetricEigen(m, n: 4)
        // numpy.linalg.eigvalsh(m).
        let expected = [1.04713864, 2.36094543, 3.6025744, 6.98934153]
        for (value, reference) in zip(eig.values.sorted(), expected) { XCTAssertEqual(value, reference, accuracy: 1e-8) }
        for k in 0..<4 {
            // M v = λ v for every column.
            for i in 0..<4 {
                let mv = (0..<4).reduce(0.0) { $0 + m[i * 4 + $1] * eig.vectors[$1 * 4 + k] }
                XCTAssertEqual(mv, eig.values[k] * eig.vectors[i * 4 + k], accuracy: 1e-12)
            }
        }
    }

    func testRejectsMismatchedOrTooFewFeatures() {
        XCTAssertThrowsError(try FrechetDistance.compute(featuresA: a, featuresB: Self.features(5, 3) { i, _ in i })) {
            XCTAssertTrue("\($0)".contains("dimension 4 and 3"))
        }
        XCTAssertThrowsError(try FrechetDistance.compute(featuresA: Self.features(1, 4) { _, _ in 0 }, featuresB: a)) {
            XCTAssertTrue("\($0)".contains("at least 2 samples"))
        }
    }
}
