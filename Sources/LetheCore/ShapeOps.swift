// Ops that move data between layouts: permute, transpose, slice, concatenate, chunk.
// The tensor core has no strided views, so each returns a new contiguous tensor; each backward
// moves the gradient back along the inverse map.

extension Tensor {
    /// `axis` counted from the end when negative (PyTorch's `dim=-1`), checked against the rank.
    func resolvedAxis(_ axis: Int, _ op: String) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// Product of the dimensions before `axis`, the dimension itself, and the product after:
    /// the view every axis-wise kernel iterates as [outer, n, inner].
    func splitAround(axis a: Int) -> (outer: Int, n: Int, inner: Int) {
        (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }

    /// Dimensions reordered so that result dimension i is input dimension `axes[i]`
    /// (`torch.permute`), copied into a contiguous tensor.
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.count == rank, "permuted: \(axes) for a tensor of rank \(rank)")
        let perm = axes.map { resolvedAxis($0, "permuted") }
        precondition(Set(perm).count == rank, "permuted: \(axes) is not a permutation of \(rank) axes")
        let out = permuteCopy(perm)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Autograd.record(out, "permute", inputs: [self]) { g in [g.permuteCopy(inverse)] }
    }

    /// Dimensions `a` and `b` swapped (`torch.transpose`), copied.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var axes = Array(0..<rank)
        axes.swapAt(resolvedAxis(a, "transposed"), resolvedAxis(b, "transposed"))
        return permuted(axes)
    }

    private func permuteCopy(_ perm: [Int]) -> Tensor {
        let outShape = perm.map { shape[$0] }
        let out = Tensor(uninitializedShape: outShape)
        if perm == Array(0..<rank) || count == 0 {
            out.pointer.update(from: pointer, count: count)
            return out
        }
        let inStrides = Tensor.strides(shape)
        let srcStrides = perm.map { inStrides[$0] }  // input stride of each output dimension
        let inner = outShape.last!, innerStride = srcStrides.last!
        let outerShape = Array(outShape.dropLast()), outerStrides = Array(srcStrides.dropLast())
        let rows = count / inner
        let src = pointer, dst = out.pointer
        parallelFor(rows, grain: max(1, (1 << 15) / inner)) { range in
            // Odometer over the outer dimensions, started at the range's first row.
            var index = [Int](repeating: 0, count: outerShape.count)
            var rest = range.lowerBound, offset = 0
            for d in stride(from: outerShape.count - 1, through: 0, by: -1) {
                index[d] = rest % outerShape[d]
                rest /= outerShape[d]
                offset += index[d] * outerStrides[d]
            }
            for row in range {
                let o = dst + row * inner
                if innerStride == 1 {
                    o.update(from: src + offset, count: inner)
                } else {
                    for j in 0..<inner { o[j] = src[offset + j * innerStride] }
                }
                var d = outerShape.count - 1
                while d >= 0 {
                    index[d] += 1
                    offset += outerStrides[d]
                    if index[d] < outerShape[d] { break }
                    offset -= index[d] * outerStrides[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return out
    }

    /// Elements `range` along `axis` (`x.narrow` / `x[..., a:b, ...]`), copied.
    public func slice(axis: Int, range: Range<Int>) -> Tensor {
        let a = resolvedAxis(axis, "slice")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "slice: range \(range) out of bounds for axis \(a) of shape \(shape)")
        let (outer, n, inner) = splitAround(axis: a)
        var outShape = shape
        outShape[a] = range.count
        let out = Tensor(uninitializedShape: outShape)
        let block = range.count * inner, src = pointer, dst = out.pointer
        for o in 0..<outer {
            (dst + o * block).update(from: src + (o * n + range.lowerBound) * inner, count: block)
        }
        let inShape = shape
        return Autograd.record(out, "slice", inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let gp = g.pointer, gxp = gx.pointer
            for o in 0..<outer {
                (gxp + (o * n + range.lowerBound) * inner).update(from: gp + o * block, count: block)
            }
            return [gx]
        }
    }

    /// The entries `indices` of the first axis, in that order, repeats allowed (`x[indices]`),
    /// copied; the gradient adds back into each entry as often as it was taken.
    public func rows(_ indices: [Int]) -> Tensor {
        precondition(rank >= 1 && indices.allSatisfy { (0..<shape[0]).contains($0) },
                     "rows: indices \(indices) out of bounds for shape \(shape)")
        let inner = count / max(shape[0], 1)
        var outShape = shape
        outShape[0] = indices.count
        let out = Tensor(uninitializedShape: outShape)
        for (r, i) in indices.enumerated() { (out.pointer + r * inner).update(from: pointer + i * inner, count: inner) }
        let inShape = shape
        return Autograd.record(out, "rows", inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            for (r, i) in indices.enumerated() {
                for j in 0..<inner { gx.pointer[i * inner + j] += g.pointer[r * inner + j] }
            }
            return [gx]
        }
    }

    /// Tensors joined along `axis` (`torch.cat`); all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: no tensors")
        let first = tensors[0]
        let a = first.resolvedAxis(axis, "concatenate")
        for t in tensors {
            precondition(t.rank == first.rank
                         && zip(t.shape, first.shape).enumerated().allSatisfy { $0.offset == a || $0.element.0 == $0.element.1 },
                         "concatenate: shapes \(tensors.map(\.shape)) differ outside axis \(a)")
        }
        let (outer, _, inner) = first.splitAround(axis: a)
        let sizes = tensors.map { $0.shape[a] }
        let total = sizes.reduce(0, +)
        var outShape = first.shape
        outShape[a] = total
        let out = Tensor(uninitializedShape: outShape)
        let dst = out.pointer
        var start = 0
        for (t, size) in zip(tensors, sizes) {
            let block = size * inner, src = t.pointer
            for o in 0..<outer {
                (dst + (o * total + start) * inner).update(from: src + o * block, count: block)
            }
            start += size
        }
        return Autograd.record(out, "concatenate", inputs: tensors) { g in
            var grads: [Tensor?] = []
            var start = 0
            for (t, size) in zip(tensors, sizes) {
                grads.append(t.requiresGrad ? g.slice(axis: a, range: start..<(start + size)) : nil)
                start += size
            }
            return grads
        }
    }

    /// Splits `axis` into `chunks` pieces of ceil(size / chunks) (the last may be smaller,
    /// and there may be fewer pieces), like `torch.chunk`.
    public func chunked(_ chunks: Int, axis: Int) -> [Tensor] {
        precondition(chunks > 0, "chunked: chunk count must be positive, got \(chunks)")
        let a = resolvedAxis(axis, "chunked")
        let size = shape[a]
        let step = max(1, (size + chunks - 1) / chunks)
        return stride(from: 0, to: size, by: step).map { slice(axis: a, range: $0..<min($0 + step, size)) }
    }
}
