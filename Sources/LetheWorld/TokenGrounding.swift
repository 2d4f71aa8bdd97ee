// TokenCompose's grounding targets for one training batch (`grounding_loss_weight` in a recipe):
// which caption tokens name which object, and where that object is at each cross-attention
// map's resolution. The clip world knows both exactly: the caption writer records where each
// object's noun phrase sits, and the renderer how much of each pixel each object covers.

import Foundation
import LetheCore
import LetheModels

public struct TokenGrounding {
    /// [B, T, K]: 1/terms where token i of sample b's caption names object k, else 0, so the
    /// loss is the mean of (1 − r)² over every (sample, token, object) term.
    public let weights: Tensor
    /// [B, K, frames, size, size], the batch's coverage.
    public let coverage: Tensor
    /// How many (sample, token, object) terms there are; 0 when no caption names a placed object.
    public let terms: Int

    /// `captioned[b]` is false where sample b's caption was dropped for classifier-free guidance.
    /// A phrase's first token (its article, "a" or "an") is left out: it says nothing about the
    /// object. Tokens cut off by the encoder's length are left out too.
    public init(prompts: [PromptEntry], captioned: [Bool], tokenizer: CLIPTokenizer, coverage: Tensor) {
        precondition(coverage.rank == 5 && coverage.shape[0] == prompts.count && captioned.count == prompts.count,
                     "TokenGrounding: coverage \(coverage.shape) for \(prompts.count) prompts")
        let (batch, objects, tokens) = (prompts.count, coverage.shape[1], tokenizer.modelMaxLength)
        var w = [Float](repeating: 0, count: batch * tokens * objects)
        var terms = 0
        for (b, prompt) in prompts.enumerated() where captioned[b] {
            for (k, positions) in Self.phraseTokens(of: prompt, tokenizer: tokenizer).enumerated() where k < objects {
                for i in positions {
                    w[(b * tokens + i) * objects + k] = 1
                    terms += 1
                }
            }
        }
        if terms > 0 { w = w.map { $0 / Float(terms) } }
        weights = Tensor(shape: [batch, tokens, objects], data: w)
        self.coverage = coverage
        self.terms = terms
    }

    /// The positions, in the padded token sequence the encoder sees, of each object's phrase
    /// without its first token (the article, "a" or "an", says nothing about the object), and
    /// without tokens cut off by the encoder's length. Empty lists where the caption's
    /// `objectWords` are unknown.
    public static func phraseTokens(of prompt: PromptEntry, tokenizer: CLIPTokenizer) -> [[Int]] {
        let words = prompt.prompt.split(separator: " ")
        /// Content tokens of the caption's first `n` words (BPE works word by word).
        func tokenCount(_ n: Int) -> Int { tokenizer.encode(words.prefix(n).joined(separator: " ")).count - 2 }
        return prompt.objectWords.map { range in
            guard !range.isEmpty else { return [] }
            let first = 1 + tokenCount(range.lowerBound) + 1
            let end = min(1 + tokenCount(range.upperBound), tokenizer.modelMaxLength - 1)
            return Array(first..<max(first, end))
        }
    }

    /// Each object's share of each pixel at a map of `pixels` positions (frames × h × w, frame
    /// by frame, as the UNet's attention sees them), [B, pixels, K]: the coverage averaged over
    /// square cells.
    public func masks(pixels: Int) -> Tensor {
        let (batch, objects, frames, size) = (coverage.shape[0], coverage.shape[1], coverage.shape[2], coverage.shape[3])
        let side = Int(Double(pixels / frames).squareRoot().rounded())
        precondition(side > 0 && frames * side * side == pixels && size % side == 0,
                     "TokenGrounding: a map of \(pixels) positions is not \(frames) frames of a square grid dividing \(size)")
        let cell = size / side, area = Float(cell * cell)
        let out = Tensor.zeros([batch, pixels, objects])
        let src = coverage.pointer, dst = out.pointer
        for b in 0..<batch {
            for k in 0..<objects {
                for f in 0..<frames {
                    let plane = src + ((b * objects + k) * frames + f) * size * size
                    for y in 0..<side {
                        for x in 0..<side {
                            var s: Float = 0
                            for dy in 0..<cell { for dx in 0..<cell { s += plane[(y * cell + dy) * size + x * cell + dx] } }
                            dst[(b * pixels + (f * side + y) * side + x) * objects + k] = s / area
                        }
                    }
                }
            }
        }
        return out
    }

    /// The token loss averaged over `maps` ([B, pixels, T] each, e.g. one per cross-attention
    /// layer); nil when there is nothing to ground.
    public func loss(maps: [Tensor]) -> Tensor? {
        guard terms > 0, !maps.isEmpty else { return nil }
        // Layers at one resolution share their masks (a UNet has several per resolution).
        var masksAt: [Int: Tensor] = [:]
        let losses = maps.map { map in
            let pixels = map.shape[1]
            if masksAt[pixels] == nil { masksAt[pixels] = masks(pixels: pixels) }
            return tokenGroundingLoss(maps: map, masks: masksAt[pixels]!, weights: weights)
        }
        return losses.dropFirst().reduce(losses[0], +) * (1 / Float(maps.count))
    }
}
