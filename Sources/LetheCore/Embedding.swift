// Row lookup in an embedding table (`torch.nn.Embedding`'s forward). Ids are plain arrays, not
// tensors: the tensor core holds only Float32.

extension Tensor {
    /// Rows `ids` of this [V, D] weight, shaped `shape + [D]` (`shape` defaults to [ids.count]).
    /// The gradient scatter-adds into a dense [V, D] gradient, as `nn.Embedding(sparse=False)`.
    /// Ids must lie in 0..<V: callers that take ids from user input check them first.
    public func embeddingLookup(ids: [Int], shape idShape: [Int]? = nil) -> Tensor {
        precondition(rank == 2, "embeddingLookup: weight must be [V, D], got \(shape)")
        let vocab = shape[0], dim = shape[1]
        let idShape = idShape ?? [ids.count]
        precondition(Tensor.elementCount(idShape) == ids.count, "embeddingLookup: \(ids.count) ids for shape \(idShape)")
        for (i, id) in ids.enumerated() {
            precondition(id >= 0 && id < vocab, "embeddingLookup: id \(id) at position \(i) outside 0..<\(vocab)")
        }
        let out = Tensor(uninitializedShape: idShape + [dim])
        let src = pointer, dst = out.pointer
        for (i, id) in ids.enumerated() { (dst + i * dim).update(from: src + id * dim, count: dim) }
        let weightShape = shape
        return Autograd.record(out, "embedding", inputs: [self]) { g in
            let gw = Tensor.zeros(weightShape)
            let gp = g.pointer, gwp = gw.pointer
            for (i, id) in ids.enumerated() {
                let d = gwp + id * dim, s = gp + i * dim
                for j in 0..<dim { d[j] += s[j] }
            }
            return [gw]
        }
    }

    /// `embeddingLookup(ids:shape:)` for 32-bit ids (token ids as tokenizers store them).
    public func embeddingLookup(ids: [Int32], shape idShape: [Int]? = nil) -> Tensor {
        embeddingLookup(ids: ids.map(Int.init), shape: idShape)
    }
}
