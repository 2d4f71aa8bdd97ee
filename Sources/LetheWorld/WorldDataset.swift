// Training batches drawn on the fly: rendered images or clips, their captions and their labels.
// Batch i of a dataset depends only on (seed, mode, i), so a resumed training run sees exactly
// the batches it would have seen.

import Foundation
import LetheCore

public struct WorldBatch {
    /// [B, 3, size, size] for images, [B, 3, frames, size, size] for clips; values in [-1, 1].
    public let pixels: Tensor
    public let captions: [String]
    /// Each caption's ground truth (what it names and how).
    public let prompts: [PromptEntry]
    public let specs: [ClipSpec]
    /// What each sample shows, named or not.
    public let labels: [ClipLabels]
    /// When asked for: how much of each pixel each object covers, [B, K, frames, size, size]
    /// with K the most objects of any sample (zero for objects a sample does not have).
    public var coverage: Tensor? = nil
}

public struct WorldDataset: Sendable {
    public let seed: UInt64
    public let sampler: WorldSampler
    public let renderer: Renderer
    public let writer: CaptionWriter
    /// Clips draw their motion from these alone; nil: from every motion.
    public var motions: [MotionKind]?

    /// A dataset whose captions avoid `excludedPrompts` (normalized prompts, see
    /// `PromptSetGenerator.exclusions`).
    public init(seed: UInt64, config: WorldConfig = .v1, catalog: PromptCatalog = .v1,
                captionOptions: CaptionOptions = CaptionOptions(), excludedPrompts: Set<String>) {
        self.seed = seed
        sampler = WorldSampler(config: config, heldOutCombos: Set(catalog.heldOutCombos))
        renderer = Renderer(config: config)
        writer = CaptionWriter(catalog: catalog, options: captionOptions, excluded: excludedPrompts)
    }

    /// The version-1 world, its captions kept apart from the v1 eval and held-out prompts.
    public static func v1(seed: UInt64, config: WorldConfig = .v1) -> WorldDataset {
        let sets = PromptSetGenerator.v1()
        return WorldDataset(seed: seed, config: config, catalog: .v1,
                            excludedPrompts: PromptSetGenerator.exclusions([sets.eval, sets.heldout]))
    }

    /// Captions only (no rendering), for training a text encoder: batch `index` of `size`, a
    /// share `clipShare` of them written for clips (with motions), the rest for images.
    public func captions(_ index: Int, size: Int, clipShare: Float) -> [PromptEntry] {
        precondition(size > 0 && index >= 0, "caption batch \(index) of size \(size)")
        var rng = RandomGenerator(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) ^ 0x7E47)
        return (0..<size).map { _ in
            var item = rng.fork()
            let mode: WorldMode = item.nextFloat() < clipShare ? .clip : .image
            return writer.caption(for: sampler.sample(mode, rng: &item), rng: &item)
        }
    }

    /// Batch number `index` of `size` samples. Specs and captions are drawn in order from one
    /// generator; rendering runs on all cores.
    public func batch(_ index: Int, size: Int, mode: WorldMode, coverage withCoverage: Bool = false) -> WorldBatch {
        precondition(size > 0 && index >= 0, "batch \(index) of size \(size)")
        var rng = RandomGenerator(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) ^ (mode == .clip ? 0xC1D : 0x1A6))
        var specs: [ClipSpec] = []
        var prompts: [PromptEntry] = []
        for _ in 0..<size {
            var item = rng.fork()
            let spec: ClipSpec
            if mode == .clip, let motions {
                spec = sampler.sample(mode, motions: motions, rng: &item)
            } else {
                spec = sampler.sample(mode, rng: &item)
            }
            specs.append(spec)
            prompts.append(writer.caption(for: spec, rng: &item))
        }
        let config = sampler.config
        let perSample = 3 * (mode == .clip ? config.frameCount : 1) * config.size * config.size
        let shape = mode == .clip ? [size, 3, config.frameCount, config.size, config.size] : [size, 3, config.size, config.size]
        let pixels = Tensor(uninitializedShape: shape)
        let base = pixels.pointer
        let objects = specs.map(\.objects.count).max() ?? 1, plane = perSample / 3
        let coverage = withCoverage ? Tensor.zeros([size, objects, plane / (config.size * config.size), config.size, config.size]) : nil
        let cover = coverage?.pointer
        parallelForEach(size) { i in
            renderer.render(specs[i], into: base + i * perSample, coverage: cover.map { $0 + i * objects * plane })
        }
        return WorldBatch(pixels: pixels, captions: prompts.map(\.prompt), prompts: prompts, specs: specs,
                          labels: specs.map(renderer.labels), coverage: coverage)
    }
}
