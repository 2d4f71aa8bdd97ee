// How far an erasure eval's rates can be trusted. A rate is a mean over trials, and the trials of
// one sample (the two objects of a pair, or a clip's object and color) are not independent, so the
// standard error is taken over samples, not trials: the cluster-robust error of a ratio mean,
//   m = Σ_k S_k / Σ_k n_k,   se² = K/(K−1) · Σ_k (S_k − m·n_k)² / (Σ_k n_k)²,
// with S_k the sum of sample k's trial scores, n_k its trial count and K the number of samples.
// A change (erased − baseline) is measured on the same prompts and noise, so it is paired: S_k is
// the sum of the per-trial differences, which is far less noisy than either rate when most
// samples come out the same.

import Foundation

public enum StandardError {
    /// The standard error of the mean score of `trials`; nil for fewer than two samples.
    public static func of(_ trials: [ConceptTrial]) -> Double? {
        clustered(trials.map { ($0.sample, $0.score) })
    }

    /// The standard error of mean(erased) − mean(baseline), paired trial by trial. Both lists must
    /// hold the same (sample, family, concept) trials in the same order, as two models scored on
    /// the same cases do; nil otherwise, or for fewer than two samples.
    public static func ofChange(erased: [ConceptTrial], baseline: [ConceptTrial]) -> Double? {
        guard erased.count == baseline.count,
              zip(erased, baseline).allSatisfy({ $0.sample == $1.sample && $0.family == $1.family && $0.concept == $1.concept })
        else { return nil }
        return clustered(zip(erased, baseline).map { ($0.sample, $0.score - $1.score) })
    }

    /// A change of a rate in points with its standard error when known: "−2.6 pp ± 2.1".
    public static func changeText(_ change: Double, error: Double?) -> String {
        (String(format: "%+.1f pp", change * 100) + (error.map { String(format: " ± %.1f", $0 * 100) } ?? ""))
            .replacingOccurrences(of: "-", with: "−")
    }

    static func clustered(_ values: [(cluster: Int, value: Double)]) -> Double? {
        var sums: [Int: (sum: Double, count: Double)] = [:]
        for (k, v) in values { sums[k, default: (0, 0)].sum += v; sums[k, default: (0, 0)].count += 1 }
        let clusters = Double(sums.count), total = Double(values.count)
        guard clusters >= 2 else { return nil }
        let mean = values.reduce(0) { $0 + $1.value } / total
        let spread = sums.values.reduce(0) { $0 + ($1.sum - mean * $1.count) * ($1.sum - mean * $1.count) }
        return (clusters / (clusters - 1) * spread).squareRoot() / total
    }
}
