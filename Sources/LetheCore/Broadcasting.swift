// NumPy/PyTorch broadcasting for binary element-wise ops, and its adjoint (summing a gradient
// back to an input's shape). Shapes are right-aligned and adjacent dimensions with the same
// broadcast pattern are merged, so [N,C,H,W] + [1,C,1,1] runs as rows of H·W with one bias each.

public enum ShapeError: Error, CustomStringConvertible {
    case notBroadcastable([Int], [Int])
    public var description: String {
        switch self {
        case let .notBroadcastable(a, b): return "shapes \(a) and \(b) cannot be broadcast together"
        }
    }
}

public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Output shape and, per operand, element strides (0 along broadcast dimensions), with
/// adjacent dimensions merged where every operand allows it.
struct BroadcastPlan {
    var shape: [Int]
    var strides: [[Int]]

    init(output: [Int], operands: [[Int]]) {
        let rank = output.count
        var stridesPer: [[Int]] = operands.map { s in
            let padded = [Int](repeating: 1, count: rank - s.count) + s
            let rowMajor = Tensor.strides(padded)
            return (0..<rank).map { padded[$0] == 1 && output[$0] != 1 ? 0 : rowMajor[$0] }
        }
        // Drop size-1 output dims, then merge dim i into i+1 when contiguous for every operand.
        var shape: [Int] = []
        var merged: [[Int]] = Array(repeating: [], count: operands.count)
        for d in 0..<rank where output[d] != 1 {
            if let last = shape.last,
               (0..<operands.count).allSatisfy({ merged[$0].last! == stridesPer[$0][d] * output[d] }) {
                shape[shape.count - 1] = last * output[d]
                for k in 0..<operands.count { merged[k][merged[k].count - 1] = stridesPer[k][d] }
            } else {
                shape.append(output[d])
                for k in 0..<operands.count { merged[k].append(stridesPer[k][d]) }
            }
        }
        if shape.isEmpty {
            shape = [1]
            merged = Array(repeating: [1], count: operands.count)
        }
        stridesPer = merged
        self.shape = shape
        self.strides = stridesPer
    }

    var rows: Int { shape.dropLast().reduce(1, *) }
    var inner: Int { shape.last! }

    /// Element offset of `row`'s first element for operand k.
    @inline(__always) func rowOffset(_ row: Int, operand k: Int) -> Int {
        var r = row
        var off = 0
        let st = strides[k]
        var d = shape.count - 2
        while d >= 0 {
            let n = shape[d]
            off += (r % n) * st[d]
            r /= n
            d -= 1
        }
        return off
    }
}

/// out[i] = op(a[i'], b[i'']) with broadcasting.
@inline(__always)
func broadcastBinary(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    guard let outShape = broadcastShape(a.shape, b.shape) else {
        preconditionFailure(ShapeError.notBroadcastable(a.shape, b.shape).description)
    }
    let out = Tensor(uninitializedShape: outShape)
    let pa = a.pointer, pb = b.pointer, po = out.pointer
    if a.shape == b.shape {
        parallelFor(out.count, grain: 1 << 15) { r in
            for i in r { po[i] = op(pa[i], pb[i]) }
        }
        return out
    }
    let plan = BroadcastPlan(output: outShape, operands: [a.shape, b.shape])
    let inner = plan.inner
    let sa = plan.strides[0].last!, sb = plan.strides[1].last!
    parallelFor(plan.rows, grain: max(1, (1 << 15) / max(inner, 1))) { rows in
        for row in rows {
            let oa = plan.rowOffset(row, operand: 0), ob = plan.rowOffset(row, operand: 1)
            let o = po + row * inner
            if sa == 1 && sb == 1 {
                for j in 0..<inner { o[j] = op(pa[oa + j], pb[ob + j]) }
            } else if sa == 1 {
                let vb = pb[ob]
                for j in 0..<inner { o[j] = op(pa[oa + j], vb) }
            } else if sb == 1 {
                let va = pa[oa]
                for j in 0..<inner { o[j] = op(va, pb[ob + j]) }
            } else {
                let v = op(pa[oa], pb[ob])
                for j in 0..<inner { o[j] = v }
            }
        }
    }
    return out
}

extension Tensor {
    /// Sums a broadcast result back to `shape` (the adjoint of broadcasting). Returns self when
    /// the shapes already agree.
    public func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        if Tensor.elementCount(target) == count { return reshaped(target) }
        let out = Tensor.zeros(target)
        let plan = BroadcastPlan(output: shape, operands: [shape, target])
        let inner = plan.inner
        let st = plan.strides[1].last!
        let src = pointer, dst = out.pointer
        for row in 0..<plan.rows {
            let o = plan.rowOffset(row, operand: 1)
            let s = src + row * inner
            if st == 1 {
                for j in 0..<inner { dst[o + j] += s[j] }
            } else {
                var acc: Float = 0
                for j in 0..<inner { acc += s[j] }
                dst[o] += acc
            }
        }
        return out
    }
}
