// 2-D convolution (torch.nn.functional.conv2d, groups = 1, dilation = 1) as im2col + GEMM.
//
// Samples are processed in chunks: the chunk's patches are unfolded into one column matrix
// [Cin·kH·kW, chunk·OH·OW] and multiplied by the weight [Cout, Cin·kH·kW] in a single GEMM.
// A chunk is one sample when a feature map is large (the GEMM writes NCHW directly) and several
// when it is small, so deep low-resolution layers still get GEMMs wide enough to pay. The column
// buffer is recomputed in backward instead of saved: it is kH·kW times the input, and a UNet
// has dozens of convolutions alive on the tape at once.
//
// With several chunks per core, each core takes whole chunks (unfold, single-threaded GEMM,
// fold): no fork-join per GEMM and no thread hand-off of the column buffer. With few chunks,
// the chunks run one after another on OpenBLAS's threaded GEMM.

import CBLAS
import Foundation

/// The sizes of one convolution, checked once.
struct Conv2DGeometry {
    let batch, inChannels, height, width: Int
    let outChannels, kernelH, kernelW: Int
    let strideH, strideW, padH, padW: Int
    let outH, outW: Int

    init(input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int)) {
        precondition(input.count == 4, "conv2d: input must be [N, Cin, H, W], got \(input)")
        precondition(weight.count == 4, "conv2d: weight must be [Cout, Cin, kH, kW], got \(weight)")
        precondition(weight[1] == input[1], "conv2d: weight \(weight) expects \(weight[1]) input channels, input \(input) has \(input[1])")
        precondition(stride.0 >= 1 && stride.1 >= 1, "conv2d: stride must be positive, got \(stride)")
        precondition(padding.0 >= 0 && padding.1 >= 0, "conv2d: padding must be non-negative, got \(padding)")
        batch = input[0]; inChannels = input[1]; height = input[2]; width = input[3]
        outChannels = weight[0]; kernelH = weight[2]; kernelW = weight[3]
        (strideH, strideW) = stride
        (padH, padW) = padding
        outH = (height + 2 * padH - kernelH) / strideH + 1
        outW = (width + 2 * padW - kernelW) / strideW + 1
        precondition(height + 2 * padH >= kernelH && width + 2 * padW >= kernelW,
                     "conv2d: kernel \(kernelH)×\(kernelW) larger than padded input \(height)×\(width) + \(padding)")
    }

    /// Rows of the column matrix: one per (input channel, kernel row, kernel column), in the
    /// order of the weight's flattened [Cin, kH, kW] so the weight is used as stored.
    var patchSize: Int { inChannels * kernelH * kernelW }
    var inPlane: Int { height * width }
    var outPlane: Int { outH * outW }
    /// A 1×1, stride-1, unpadded convolution is a matrix product on the input as laid out.
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0 }

    /// Samples per GEMM: enough for ~1K output columns, since narrower GEMMs lose OpenBLAS
    /// efficiency, and a cap on the column buffer so large real-size layers stay bounded.
    /// Wider chunks measured slower: they cost a scatter of the output, and fewer chunks
    /// leave the cores less to share (32×64×32×32, 3×3: 230 ms forward+backward at 1K
    /// columns, 250–260 ms at 4K).
    var chunk: Int {
        let wanted = max(1, Conv2DGeometry.targetColumns / max(outPlane, 1))
        let memoryCap = max(1, Conv2DGeometry.maxColumnFloats / max(patchSize * outPlane, 1))
        return max(1, min(batch, wanted, memoryCap))
    }

    static let targetColumns = 1024
    static let maxColumnFloats = 1 << 24

    /// Output columns ox whose input column ox·stride − pad + kj lies inside the image.
    @inline(__always)
    func validColumns(kj: Int) -> Range<Int> {
        let lo = max(0, (padW - kj + strideW - 1) / strideW)
        let last = width - 1 + padW - kj
        let hi = last < 0 ? 0 : min(outW, last / strideW + 1)
        return lo..<max(lo, hi)
    }

    /// Unfolds samples first..<first+count of `x` into `cols` [patchSize, count·outPlane].
    func im2col(_ x: UnsafePointer<Float>, first: Int, count: Int, into cols: UnsafeMutablePointer<Float>, parallel: Bool) {
        let rowLength = count * outPlane
        let tasks = patchSize * count
        splitLoop(tasks, grain: max(1, 8192 / max(outPlane, 1)), parallel: parallel) { range in
            for task in range {
                let row = task / count, sample = task % count
                let ci = row / (kernelH * kernelW)
                let ki = (row / kernelW) % kernelH, kj = row % kernelW
                let src = x + ((first + sample) * inChannels + ci) * inPlane
                let dst = cols + row * rowLength + sample * outPlane
                let valid = validColumns(kj: kj)
                for oy in 0..<outH {
                    let iy = oy * strideH - padH + ki
                    let d = dst + oy * outW
                    guard iy >= 0 && iy < height && !valid.isEmpty else {
                        d.update(repeating: 0, count: outW)
                        continue
                    }
                    if valid.lowerBound > 0 { d.update(repeating: 0, count: valid.lowerBound) }
                    if valid.upperBound < outW { (d + valid.upperBound).update(repeating: 0, count: outW - valid.upperBound) }
                    let s = src + iy * width - padW + kj
                    if strideW == 1 {
                        (d + valid.lowerBound).update(from: s + valid.lowerBound, count: valid.count)
                    } else {
                        for ox in valid { d[ox] = s[ox * strideW] }
                    }
                }
            }
        }
    }

    /// Folds `cols` [patchSize, count·outPlane] back onto samples first..<first+count of `dx`,
    /// summing overlapping patches (the adjoint of im2col). Each task owns one input plane, so
    /// tasks never write the same memory.
    func col2im(_ cols: UnsafePointer<Float>, first: Int, count: Int, into dx: UnsafeMutablePointer<Float>, parallel: Bool) {
        let rowLength = count * outPlane
        let kernel = kernelH * kernelW
        splitLoop(inChannels * count, grain: max(1, 8192 / max(outPlane * kernel, 1)), parallel: parallel) { range in
            for task in range {
                let ci = task / count, sample = task % count
                let plane = dx + ((first + sample) * inChannels + ci) * inPlane
                plane.update(repeating: 0, count: inPlane)
                for ki in 0..<kernelH {
                    for kj in 0..<kernelW {
                        let row = (ci * kernelH + ki) * kernelW + kj
                        let src = cols + row * rowLength + sample * outPlane
                        let valid = validColumns(kj: kj)
                        if valid.isEmpty { continue }
                        for oy in 0..<outH {
                            let iy = oy * strideH - padH + ki
                            guard iy >= 0 && iy < height else { continue }
                            let s = src + oy * outW
                            let d = plane + iy * width - padW + kj
                            if strideW == 1 {
                                for ox in valid { d[ox] += s[ox] }
                            } else {
                                for ox in valid { d[ox * strideW] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `parallelFor` when `parallel`, else the whole range on the calling thread (which is then
/// one of several workers already).
@inline(__always)
func splitLoop(_ count: Int, grain: Int, parallel: Bool, _ body: (Range<Int>) -> Void) {
    if parallel {
        parallelFor(count, grain: grain, body)
    } else if count > 0 {
        body(0..<count)
    }
}

/// Moves [C, count, plane] (a GEMM result over a chunk) into samples first..<first+count of an
/// NCHW tensor [N, C, plane], adding `bias` per channel when given.
func scatterChunk(_ src: UnsafePointer<Float>, channels: Int, plane: Int, first: Int, count: Int,
                  bias: UnsafePointer<Float>?, into dst: UnsafeMutablePointer<Float>, parallel: Bool) {
    splitLoop(channels * count, grain: max(1, 16384 / max(plane, 1)), parallel: parallel) { range in
        for task in range {
            let c = task / count, sample = task % count
            let s = src + (c * count + sample) * plane
            let d = dst + ((first + sample) * channels + c) * plane
            if let bias {
                let b = bias[c]
                for i in 0..<plane { d[i] = s[i] + b }
            } else {
                d.update(from: s, count: plane)
            }
        }
    }
}

/// The inverse move: samples first..<first+count of [N, C, plane] into [C, count, plane].
func gatherChunk(_ src: UnsafePointer<Float>, channels: Int, plane: Int, first: Int, count: Int,
                 into dst: UnsafeMutablePointer<Float>, parallel: Bool) {
    splitLoop(channels * count, grain: max(1, 16384 / max(plane, 1)), parallel: parallel) { range in
        for task in range {
            let c = task / count, sample = task % count
            (dst + (c * count + sample) * plane).update(from: src + ((first + sample) * channels + c) * plane, count: plane)
        }
    }
}

/// Per-channel sums of a [N, C, plane] gradient: the bias gradient of a convolution.
func channelSums(_ g: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int) -> Tensor {
    let out = Tensor(uninitializedShape: [channels])
    let o = out.pointer
    parallelFor(channels, grain: max(1, 16384 / max(batch * plane, 1))) { range in
        for c in range {
            var total = 0.0
            for n in 0..<batch {
                total += Double(sumFloats(g + (n * channels + c) * plane, plane))
            }
            o[c] = Float(total)
        }
    }
    return out
}

/// Fills each channel plane of `dst` [N, C, plane] with that channel's bias.
func fillWithBias(_ dst: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int) {
    parallelFor(batch * channels, grain: max(1, 16384 / max(plane, 1))) { range in
        for task in range {
            (dst + task * plane).update(repeating: bias[task % channels], count: plane)
        }
    }
}

extension Tensor {
    /// torch.nn.functional.conv2d with the same stride and padding on both axes.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
        conv2d(weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding))
    }

    /// torch.nn.functional.conv2d: input [N, Cin, H, W], weight [Cout, Cin, kH, kW],
    /// bias [Cout]; stride and padding as (height, width).
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int), padding: (Int, Int)) -> Tensor {
        let geo = Conv2DGeometry(input: shape, weight: weight.shape, stride: stride, padding: padding)
        if let bias {
            precondition(bias.shape == [geo.outChannels], "conv2d: bias \(bias.shape) for \(geo.outChannels) output channels")
        }
        let out = Tensor(uninitializedShape: [geo.batch, geo.outChannels, geo.outH, geo.outW])
        let x = self
        Conv2DKernel(geo, x: x.pointer, weight: weight.pointer).forward(bias: bias?.pointer, out: out.pointer)

        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record(out, "conv2d", inputs: inputs) { g in
            let gx = x.requiresGrad ? Tensor(uninitializedShape: x.shape) : nil
            let gw = weight.requiresGrad ? Tensor(uninitializedShape: weight.shape) : nil
            Conv2DKernel(geo, x: x.pointer, weight: weight.pointer)
                .backward(g: g.pointer, gradInput: gx?.pointer, gradWeight: gw?.pointer)
            var grads: [Tensor?] = [gx, gw]
            if let bias {
                grads.append(bias.requiresGrad ? channelSums(g.pointer, batch: geo.batch, channels: geo.outChannels, plane: geo.outPlane) : nil)
            }
            return grads
        }
    }
}

/// One call's forward or backward: the chunk loop and its scratch memory.
private struct Conv2DKernel {
    let geo: Conv2DGeometry
    let x: UnsafePointer<Float>
    let weight: UnsafePointer<Float>
    let chunk: Int
    let chunkCount: Int

    init(_ geo: Conv2DGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>) {
        self.geo = geo
        self.x = x
        self.weight = weight
        chunk = geo.chunk
        chunkCount = (geo.batch + chunk - 1) / chunk
    }

    /// Whether each core should take whole chunks (see the file comment).
    var chunksInParallel: Bool { coreCount > 1 && chunkCount >= 2 * coreCount }
    /// The chunk's GEMM writes NCHW directly only when a chunk is one sample.
    var direct: Bool { chunk == 1 }
    var columnFloats: Int { geo.patchSize * chunk * geo.outPlane }
    var productFloats: Int { geo.outChannels * chunk * geo.outPlane }

    func samples(ofChunk i: Int) -> (first: Int, count: Int) {
        (i * chunk, min(chunk, geo.batch - i * chunk))
    }

    /// Runs `body(chunk index, scratch, parallel)` over every chunk, in one of the two schedules.
    /// Each worker reuses one scratch slot for all its chunks; `body` gets `parallel` = true
    /// when it has the cores to itself and should split its own loops.
    func forEachChunk(scratchFloats: Int, zeroedPrefix: Int = 0,
                      _ body: (Int, UnsafeMutablePointer<Float>, Bool) -> Void) -> ScratchSlots {
        let workers = chunksInParallel ? coreCount : 1
        let scratch = ScratchSlots(count: workers, floats: scratchFloats, zeroedPrefix: zeroedPrefix)
        if chunksInParallel {
            // Worker w takes chunks w, w + workers, …: each chunk once, each slot one worker's.
            withSingleThreadedBLAS {
                parallelForEach(workers) { w in
                    for i in stride(from: w, to: chunkCount, by: workers) { body(i, scratch.slots[w], false) }
                }
            }
        } else {
            for i in 0..<chunkCount { body(i, scratch.slots[0], true) }
        }
        return scratch
    }

    func forward(bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let plane = geo.outPlane, k = geo.patchSize, cout = geo.outChannels
        let needsCols = !(geo.isPointwise && direct)
        if direct, let bias { fillWithBias(out, bias: bias, batch: geo.batch, channels: cout, plane: plane) }
        let scratch = (needsCols ? columnFloats : 0) + (direct ? 0 : productFloats)
        _ = forEachChunk(scratchFloats: scratch) { i, buffer, parallel in
            let (first, count) = samples(ofChunk: i)
            let b: UnsafePointer<Float>
            if needsCols {
                geo.im2col(x, first: first, count: count, into: buffer, parallel: parallel)
                b = UnsafePointer(buffer)
            } else {
                b = x + first * geo.inChannels * geo.inPlane
            }
            if direct {
                sgemm(m: cout, n: plane, k: k, a: weight, b: b, beta: bias == nil ? 0 : 1, c: out + first * cout * plane)
            } else {
                let product = buffer + (needsCols ? columnFloats : 0)
                sgemm(m: cout, n: count * plane, k: k, a: weight, b: b, c: product)
                scatterChunk(product, channels: cout, plane: plane, first: first, count: count, bias: bias, into: out, parallel: parallel)
            }
        }
    }

    /// dW = Σ dY·colsᵀ over chunks; dX = col2im(Wᵀ·dY). Either output may be skipped. Each
    /// worker sums the weight gradient of its chunks in its scratch slot; the slots are added
    /// at the end.
    func backward(g: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?) {
        guard gradInput != nil || gradWeight != nil else { return }
        let plane = geo.outPlane, k = geo.patchSize, cout = geo.outChannels
        let pointwiseDirect = geo.isPointwise && direct
        let weightFloats = gradWeight == nil ? 0 : cout * k
        let colsFloats = gradWeight != nil && !pointwiseDirect ? columnFloats : 0
        let gatheredFloats = direct ? 0 : productFloats
        let gradColsFloats = gradInput != nil && !pointwiseDirect ? columnFloats : 0
        // Slot layout: [partial dW (zeroed) | cols | gathered dY | dcols].
        let colsOffset = weightFloats
        let gatheredOffset = colsOffset + colsFloats
        let gradColsOffset = gatheredOffset + gatheredFloats
        let scratch = forEachChunk(scratchFloats: gradColsOffset + gradColsFloats,
                                zeroedPrefix: weightFloats) { i, buffer, parallel in
            let (first, count) = samples(ofChunk: i)
            let dy: UnsafePointer<Float>
            if direct {
                dy = g + first * cout * plane
            } else {
                gatherChunk(g, channels: cout, plane: plane, first: first, count: count, into: buffer + gatheredOffset, parallel: parallel)
                dy = UnsafePointer(buffer + gatheredOffset)
            }
            if gradWeight != nil {
                let b: UnsafePointer<Float>
                if colsFloats > 0 {
                    geo.im2col(x, first: first, count: count, into: buffer + colsOffset, parallel: parallel)
                    b = UnsafePointer(buffer + colsOffset)
                } else {
                    b = x + first * geo.inChannels * geo.inPlane
                }
                sgemm(transB: true, m: cout, n: k, k: count * plane, a: dy, b: b, beta: 1, c: buffer)
            }
            if let gradInput {
                if gradColsFloats > 0 {
                    sgemm(transA: true, m: k, n: count * plane, k: cout, a: weight, b: dy, c: buffer + gradColsOffset)
                    geo.col2im(buffer + gradColsOffset, first: first, count: count, into: gradInput, parallel: parallel)
                } else {
                    sgemm(transA: true, m: k, n: plane, k: cout, a: weight, b: dy,
                          c: gradInput + first * geo.inChannels * geo.inPlane)
                }
            }
        }
        if let gradWeight {
            gradWeight.update(repeating: 0, count: weightFloats)
            for slot in scratch.slots { vadd(gradWeight, slot, weightFloats) }
        }
    }
}

/// One scratch buffer per worker, freed together. The first `zeroedPrefix` floats of each are
/// zero (an accumulator); the rest is uninitialised.
private final class ScratchSlots {
    let slots: [UnsafeMutablePointer<Float>]

    init(count: Int, floats: Int, zeroedPrefix: Int) {
        slots = (0..<count).map { _ in
            let slot = UnsafeMutablePointer<Float>.allocate(capacity: max(floats, 1))
            slot.initialize(repeating: 0, count: zeroedPrefix)
            return slot
        }
    }

    deinit { for slot in slots { slot.deallocate() } }
}
