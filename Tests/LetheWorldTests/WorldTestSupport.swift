import Foundation
import LetheCore
@testable import LetheWorld

/// Shared by the LetheWorld tests: the v1 prompt sets (drawn once), the repository's files, and
/// phrase matching against caption words.
enum WorldFixtures {
    static let sets = PromptSetGenerator.v1()
    static let exclusions = PromptSetGenerator.exclusions([sets.eval, sets.heldout])

    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Training captions with their specs, without rendering.
    static func trainCaptions(count: Int, mode: WorldMode, seed: UInt64,
                              excluded: Set<String> = exclusions) -> [(ClipSpec, PromptEntry)] {
        let sampler = WorldSampler(config: .v1, heldOutCombos: Set(PromptCatalog.v1.heldOutCombos))
        let writer = CaptionWriter(catalog: .v1, excluded: excluded)
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in
            var item = rng.fork()
            let spec = sampler.sample(mode, rng: &item)
            return (spec, writer.caption(for: spec, rng: &item))
        }
    }
}

/// Whether `phrasing` occurs in `words`: contiguously, or for an object phrasing with an
/// adjective slot, its part before the slot followed within a few words by the part after it.
func caption(_ words: [String], contains phrasing: Phrasing) -> Bool {
    let (pre, post) = PhrasingParts.of(phrasing)
    if pre.isEmpty { return CaptionText.contains(words, phrase: post) }
    for start in words.indices where words[start...].starts(with: pre) {
        let after = start + pre.count
        for gap in 0...6 where after + gap + post.count <= words.count {
            if words[(after + gap)..<(after + gap + post.count)].elementsEqual(post) { return true }
        }
    }
    return false
}

/// Phrasings split at the adjective slot, cached: the caption checks test thousands of captions.
enum PhrasingParts {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [String: ([String], [String])] = [:]

    static func of(_ p: Phrasing) -> ([String], [String]) {
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[p.text] { return hit }
        let parts = p.text.components(separatedBy: "{}").map(CaptionText.words)
        let value = parts.count == 1 ? ([], parts[0]) : (parts[0], parts[1])
        cache[p.text] = value
        return value
    }
}

/// The mean of each channel over pixels where `weight` > threshold, in [-1, 1] units.
func meanColor(_ clip: Tensor, frame f: Int, where weight: (Int) -> Bool) -> SIMD3<Float> {
    let (frames, plane) = (clip.shape[1], clip.shape[2] * clip.shape[3])
    var sum = SIMD3<Float>.zero, n: Float = 0
    for i in 0..<plane where weight(i) {
        for c in 0..<3 { sum[c] += clip.pointer[(c * frames + f) * plane + i] }
        n += 1
    }
    return sum / max(n, 1)
}

/// Centre of mass of a coverage plane [size, size].
func centroid(_ coverage: UnsafePointer<Float>, size: Int) -> (SIMD2<Float>, Float) {
    var sum = SIMD2<Float>.zero, mass: Float = 0
    for y in 0..<size {
        for x in 0..<size {
            let w = coverage[y * size + x]
            sum += w * SIMD2(Float(x) + 0.5, Float(y) + 0.5)
            mass += w
        }
    }
    return (sum / mass, mass)
}

func maxAbs(_ v: SIMD3<Float>) -> Float { max(abs(v.x), abs(v.y), abs(v.z)) }
