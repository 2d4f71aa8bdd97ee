// Times Lethe's kernels and models at fixed shapes; scripts/bench runs the PyTorch peer on the
// same shapes in the same run and prints the ratios. Prints one JSON object {name: seconds}
// (median of repeated runs, after warm-up).

import CBLAS
import Foundation
import LetheCore

func medianTime(repeats: Int, warmup: Int = 2, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

var rng = RandomGenerator(seed: 0)

let benches: [(String, () -> Double)] = [
    ("gemm_1024", {
        let a = Tensor.randn([1024, 1024], rng: &rng), b = Tensor.randn([1024, 1024], rng: &rng)
        return medianTime(repeats: 20) { _ = Autograd.inference { a.matmul(b) } }
    }),
    ("gemm_1024_raw_cblas", {
        let a = Tensor.randn([1024, 1024], rng: &rng), b = Tensor.randn([1024, 1024], rng: &rng)
        let c = Tensor(uninitializedShape: [1024, 1024])
        return medianTime(repeats: 20) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1, a.pointer, 1024, b.pointer, 1024, 0, c.pointer, 1024)
        }
    }),
    ("conv2d_fwd_bwd", {
        let x = Tensor.randn([32, 64, 32, 32], rng: &rng), w = Tensor.randn([64, 64, 3, 3], rng: &rng)
        let b = Tensor.randn([64], rng: &rng), g = Tensor.randn([32, 64, 32, 32], rng: &rng)
        for t in [x, w, b] { t.requiresGrad = true }
        return medianTime(repeats: 10) {
            x.grad = nil; w.grad = nil; b.grad = nil
            x.conv2d(weight: w, bias: b, padding: 1).backward(g)
        }
    }),
    ("attention_fwd_bwd", {
        let shape = [32, 256, 4 * 32]
        let q = Tensor.randn(shape, rng: &rng), k = Tensor.randn(shape, rng: &rng), v = Tensor.randn(shape, rng: &rng)
        let g = Tensor.randn(shape, rng: &rng)
        for t in [q, k, v] { t.requiresGrad = true }
        return medianTime(repeats: 10) {
            q.grad = nil; k.grad = nil; v.grad = nil
            scaledDotProductAttention(query: q, key: k, value: v, heads: 4).backward(g)
        }
    }),
]

let wanted = Set(CommandLine.arguments.dropFirst())
var results: [String: Double] = [:]
for (name, run) in benches where wanted.isEmpty || wanted.contains(name) {
    FileHandle.standardError.write("bench: \(name)…\n".data(using: .utf8)!)
    results[name] = run()
}
let json = try! JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
print(String(data: json, encoding: .utf8)!)
