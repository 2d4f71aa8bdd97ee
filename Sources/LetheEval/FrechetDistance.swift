// Fréchet distance between two feature sets, each summarised as a Gaussian (the FID/FVD
// formula, here over the concept detector's features):
//
//     d² = ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa Σb)^½)
//
// Tr((Σa Σb)^½) is computed as Tr((Σa^½ Σb Σa^½)^½): the inner matrix is symmetric positive
// semi-definite, so both square roots come from eigendecompositions of symmetric matrices and
// no complex arithmetic is needed (scipy's sqrtm of the non-symmetric product, as pytorch-fid
// uses, returns small imaginary parts that have to be thrown away). Everything runs in Double:
// the difference of traces cancels most of their magnitude.

import Foundation
import LetheCore

public struct FrechetDistanceError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public enum FrechetDistance {
    /// Mean and covariance (denominator N − 1, as numpy.cov) of a set of feature vectors.
    public struct Statistics: Sendable {
        public let dimension: Int
        public let count: Int
        public let mean: [Double]
        /// Row-major [dimension, dimension].
        public let covariance: [Double]

        /// Statistics of the rows of `features` ([N, D], N ≥ 2).
        public init(features: Tensor) throws {
            guard features.rank == 2 else {
                throw FrechetDistanceError(message: "Fréchet distance: features must be [N, D], got \(features.shape)")
            }
            let n = features.shape[0], d = features.shape[1]
            guard n >= 2 else {
                throw FrechetDistanceError(message: "Fréchet distance: a covariance needs at least 2 samples, got \(n)")
            }
            let x = features.pointer
            var mean = [Double](repeating: 0, count: d)
            for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
            for j in 0..<d { mean[j] /= Double(n) }
            var centred = [Double](repeating: 0, count: n * d)
            for i in 0..<n { for j in 0..<d { centred[i * d + j] = Double(x[i * d + j]) - mean[j] } }
            var cov = [Double](repeating: 0, count: d * d)
            for i in 0..<n {
                for a in 0..<d {
                    let xa = centred[i * d + a]
                    if xa == 0 { continue }
                    for b in a..<d { cov[a * d + b] += xa * centred[i * d + b] }
                }
            }
            for a in 0..<d {
                for b in a..<d {
                    cov[a * d + b] /= Double(n - 1)
                    cov[b * d + a] = cov[a * d + b]
                }
            }
            self.init(mean: mean, covariance: cov, count: n)
        }

        public init(mean: [Double], covariance: [Double], count: Int) {
            precondition(covariance.count == mean.count * mean.count,
                         "Statistics: covariance of \(covariance.count) values for dimension \(mean.count)")
            dimension = mean.count
            self.count = count
            self.mean = mean
            self.covariance = covariance
        }
    }

    /// The Fréchet distance between the Gaussians fitted to the rows of `featuresA` [N, D] and
    /// `featuresB` [M, D].
    public static func compute(featuresA: Tensor, featuresB: Tensor) throws -> Double {
        try compute(Statistics(features: featuresA), Statistics(features: featuresB))
    }

    /// The Fréchet distance between feature sets `a` [N, D] and `b` [M, D].
    public static func compute(a: Tensor, b: Tensor) throws -> Double {
        try compute(featuresA: a, featuresB: b)
    }

    public static func compute(_ a: Statistics, _ b: Statistics) throws -> Double {
        guard a.dimension == b.dimension else {
            throw FrechetDistanceError(message: "Fréchet distance: features of dimension \(a.dimension) and \(b.dimension)")
        }
        let d = a.dimension
        var meanTerm = 0.0
        for j in 0..<d { meanTerm += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j]) }
        var traces = 0.0
        for j in 0..<d { traces += a.covariance[j * d + j] + b.covariance[j * d + j] }

        let rootA = symmetricSquareRoot(a.covariance, n: d)
        var inner = multiply(multiply(rootA, b.covariance, n: d), rootA, n: d)
        symmetrize(&inner, n: d)
        // Eigenvalues of a PSD matrix can come out slightly negative from rounding; they are 0.
        let crossTrace = SymmetricEigen(inner, n: d).values.reduce(0) { $0 + max($1, 0).squareRoot() }
        // Rounding can leave −1e-12 for identical sets; a distance is never negative.
        return max(meanTerm + traces - 2 * crossTrace, 0)
    }

    /// V·diag(√max(λ, 0))·Vᵀ for a symmetric positive semi-definite `m`.
    static func symmetricSquareRoot(_ m: [Double], n: Int) -> [Double] {
        let eig = SymmetricEigen(m, n: n)
        let roots = eig.values.map { max($0, 0).squareRoot() }
        var out = [Double](repeating: 0, count: n * n)
        let v = eig.vectors
        for i in 0..<n {
            for j in i..<n {
                var s = 0.0
                for k in 0..<n { s += v[i * n + k] * roots[k] * v[j * n + k] }
                out[i * n + j] = s
                out[j * n + i] = s
            }
        }
        return out
    }

    static func multiply(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    for i in 0..<n {
                        for k in 0..<n {
                            let aik = ap[i * n + k]
                            if aik == 0 { continue }
                            for j in 0..<n { cp[i * n + j] += aik * bp[k * n + j] }
                        }
                    }
                }
            }
        }
        return c
    }

    static func symmetrize(_ m: inout [Double], n: Int) {
        for i in 0..<n {
            for j in (i + 1)..<n {
                let s = 0.5 * (m[i * n + j] + m[j * n + i])
                m[i * n + j] = s
                m[j * n + i] = s
            }
        }
    }
}

/// Eigenvalues and eigenvectors of a real symmetric matrix by cyclic Jacobi rotations: slow
/// (O(n³) per sweep, ~10 sweeps) but simple, accurate to rounding, and plenty for the few
/// hundred dimensions of detector features.
struct SymmetricEigen {
    /// Eigenvalues, in no particular order.
    let values: [Double]
    /// Row-major; column k is the unit eigenvector of values[k].
    let vectors: [Double]

    init(_ matrix: [Double], n: Int) {
        precondition(matrix.count == n * n, "SymmetricEigen: \(matrix.count) values for a \(n)×\(n) matrix")
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        var scale = 0.0
        for x in a { scale += x * x }
        a.withUnsafeMutableBufferPointer { a in
            v.withUnsafeMutableBufferPointer { v in
                for _ in 0..<100 {
                    var off = 0.0
                    for p in 0..<n { for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] } }
                    if off <= 1e-30 * scale || off == 0 { break }
                    for p in 0..<n {
                        for q in (p + 1)..<n {
                            let apq = a[p * n + q]
                            if apq == 0 { continue }
                            // The rotation J (J_pp = J_qq = c, J_pq = s, J_qp = −s) with
                            // (JᵀAJ)_pq = 0: t = s/c is the smaller root of t² + 2θt − 1 = 0.
                            let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                            let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                            let c = 1 / (t * t + 1).squareRoot(), s = t * c
                            for k in 0..<n {
                                let akp = a[k * n + p], akq = a[k * n + q]
                                a[k * n + p] = c * akp - s * akq
                                a[k * n + q] = s * akp + c * akq
                            }
                            for k in 0..<n {
                                let apk = a[p * n + k], aqk = a[q * n + k]
                                a[p * n + k] = c * apk - s * aqk
                                a[q * n + k] = s * apk + c * aqk
                            }
                            a[p * n + q] = 0
                            a[q * n + p] = 0
                            for k in 0..<n {
                                let vkp = v[k * n + p], vkq = v[k * n + q]
                                v[k * n + p] = c * vkp - s * vkq
                                v[k * n + q] = s * vkp + c * vkq
                            }
                        }
                    }
                }
            }
        }
        values = (0..<n).map { a[$0 * n + $0] }
        vectors = v
    }
}
