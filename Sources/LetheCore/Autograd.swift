// Reverse-mode autograd. Every op whose inputs need gradients records one node — a closure
// that maps the output's gradient to its inputs' gradients — on its result. `backward()` walks
// those nodes in reverse topological order (the tape), accumulates into leaves' `grad`, and
// frees the graph. Ops are coarse (a whole conv, a whole attention), so the tape is short.
//
// Recording is off inside `Autograd.inference { }` and whenever no input requires a gradient:
// a frozen model run in inference keeps no activations.

import Foundation

final class GradFn {
    let name: String
    let inputs: [Tensor]
    /// Output gradient → one gradient per input (nil where an input needs none).
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

public enum Autograd {
    @TaskLocal static var isRecordingEnabled = true

    /// Runs `body` with recording off: no graph, no saved activations.
    public static func inference<T>(_ body: () throws -> T) rethrows -> T {
        try $isRecordingEnabled.withValue(false, operation: body)
    }

    public static var isRecording: Bool { isRecordingEnabled }

    /// Attaches a backward node to `output` when recording is on and an input needs a gradient.
    /// Ops call this once with the closure that computes their inputs' gradients.
    @discardableResult
    public static func record(_ output: Tensor, _ name: String, inputs: [Tensor],
                              backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard isRecordingEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.requiresGrad = true
        output.gradFn = GradFn(name: name, inputs: inputs, backward: backward)
        return output
    }
}

extension Tensor {
    /// Whether autograd made this tensor (as opposed to a leaf).
    public var isLeaf: Bool { gradFn == nil }

    /// Back-propagates from this tensor. A scalar needs no seed; otherwise pass d(loss)/d(self).
    /// Gradients accumulate into the `grad` of every leaf that requires one; the graph is freed.
    public func backward(_ seed: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a tensor that does not require grad")
        let seedGrad: Tensor
        if let seed {
            precondition(seed.shape == shape, "backward seed shape \(seed.shape) != \(shape)")
            seedGrad = seed
        } else {
            precondition(count == 1, "backward() without a seed needs a scalar, shape is \(shape)")
            seedGrad = Tensor.ones(shape)
        }
        let order = topologicalOrder()
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seedGrad]
        Autograd.inference {
            for node in order.reversed() {
                guard let fn = node.gradFn else { continue }
                guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                let inputGrads = fn.backward(g)
                precondition(inputGrads.count == fn.inputs.count, "\(fn.name) backward returned \(inputGrads.count) grads for \(fn.inputs.count) inputs")
                for (input, ig) in zip(fn.inputs, inputGrads) {
                    guard let ig, input.requiresGrad else { continue }
                    precondition(ig.count == input.count, "\(fn.name) backward: grad \(ig.shape) for input \(input.shape)")
                    if input.gradFn == nil {
                        input.accumulateGrad(ig)
                    } else if let existing = grads[ObjectIdentifier(input)] {
                        grads[ObjectIdentifier(input)] = sumOfGradients(existing, ig)
                    } else {
                        grads[ObjectIdentifier(input)] = ig
                    }
                }
                node.gradFn = nil  // free saved activations as soon as they are used
            }
        }
        if order.count == 1, gradFn == nil { accumulateGrad(seedGrad) }
    }

    /// Nodes reachable from self through gradFn inputs, inputs before outputs.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        // Iterative DFS: deep networks would overflow a recursive walk's stack.
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if visited.contains(ObjectIdentifier(t)) { continue }
            visited.insert(ObjectIdentifier(t))
            stack.append((t, true))
            if let fn = t.gradFn {
                for input in fn.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        return order
    }

    /// Adds `g` into `grad`. The first gradient is copied: `g` may share storage with a view.
    public func accumulateGrad(_ g: Tensor) {
        if let grad {
            vadd(grad.pointer, g.pointer, count)
        } else {
            grad = Tensor(shape: shape, storage: g.copy().storage)
        }
    }

    public func zeroGrad() { grad = nil }
}

/// `a + b` into new memory: either may be a view shared with a tensor still in use.
private func sumOfGradients(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = a.copy()
    vadd(out.pointer, b.pointer, out.count)
    return out
}

@inline(__always) func vadd(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
    parallelFor(n, grain: 1 << 15) { r in
        for i in r { a[i] += b[i] }
    }
}
