// The tensor: contiguous row-major Float32 data with a shape, like a contiguous PyTorch tensor
// (NCHW, NCFHW), so checkpoint weights load without transposes.
//
// Tensors are reference types: an op's result keeps its inputs alive through the autograd
// graph, and an optimiser updates a parameter's storage in place.

import Foundation

/// Owned or borrowed Float32 memory. A borrowed buffer (e.g. a page of a memory-mapped
/// safetensors file) is kept alive through `owner`.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let owner: AnyObject?

    /// Uninitialised memory for `count` floats.
    public init(count: Int) {
        precondition(count >= 0, "negative element count")
        self.pointer = LargeBufferCache.shared.take(count) ?? .allocate(capacity: max(count, 1))
        self.count = count
        self.owner = nil
    }

    /// Memory that belongs to `owner`; it must stay valid while `owner` lives.
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    deinit {
        if owner == nil, !LargeBufferCache.shared.give(pointer, count: count) { pointer.deallocate() }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
}

/// Keeps recently freed large buffers for reuse. glibc hands blocks of more than a few MB back
/// to the kernel on free, and the next allocation of the same size pays a page fault per 4 KB
/// page to get zeroed memory again — a training step allocates the same activation sizes every
/// time, so that was ~5% of a UNet step and a third of attention's forward (its saved
/// probabilities). Exact-size reuse, bounded in total; one process-wide cache because the
/// allocator it works around is process-wide too.
final class LargeBufferCache: @unchecked Sendable {
    static let shared = LargeBufferCache()
    /// Buffers smaller than this stay with malloc, which already reuses them.
    let minimumCount = 1 << 18
    let capacity = 1 << 28  // floats kept at most (1 GiB)
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var held = 0
    private let lock = NSLock()

    func take(_ count: Int) -> UnsafeMutablePointer<Float>? {
        guard count >= minimumCount else { return nil }
        lock.lock()
        defer { lock.unlock() }
        guard let p = free[count]?.popLast() else { return nil }
        held -= count
        return p
    }

    func give(_ p: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        guard count >= minimumCount else { return false }
        lock.lock()
        defer { lock.unlock() }
        guard held + count <= capacity else { return false }
        free[count, default: []].append(p)
        held += count
        return true
    }
}

public final class Tensor: CustomStringConvertible {
    public let shape: [Int]
    public let storage: TensorStorage
    /// A leaf with `requiresGrad` collects `grad` on `backward()`; a frozen parameter has it false.
    public var requiresGrad: Bool
    /// The accumulated gradient, same shape.
    public var grad: Tensor?
    /// How this tensor was made, when autograd recorded it.
    var gradFn: GradFn?

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
    public var buffer: UnsafeMutableBufferPointer<Float> { storage.buffer }

    public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(Tensor.elementCount(shape) == storage.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised tensor; every element must be written before it is read.
    public convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: Tensor.elementCount(shape)))
    }

    public convenience init(shape: [Int], data: [Float], requiresGrad: Bool = false) {
        precondition(data.count == Tensor.elementCount(shape), "shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(data.count)")
        let s = TensorStorage(count: data.count)
        data.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { s.pointer.update(from: base, count: data.count) }
        }
        self.init(shape: shape, storage: s, requiresGrad: requiresGrad)
    }

    public convenience init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape)
        pointer.update(repeating: value, count: count)
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }
    public static func scalar(_ value: Float) -> Tensor { Tensor(shape: [], data: [value]) }

    /// Standard normal values from `rng`.
    public static func randn(_ shape: [Int], rng: inout RandomGenerator, std: Float = 1) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        rng.fillNormal(t.buffer, mean: 0, std: std)
        return t
    }

    /// Uniform values in [low, high).
    public static func rand(_ shape: [Int], rng: inout RandomGenerator, low: Float = 0, high: Float = 1) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        rng.fillUniform(t.buffer, low: low, high: high)
        return t
    }

    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major strides of `shape`.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }

    public var scalars: [Float] { Array(buffer) }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item needs one element, shape is \(shape)")
        return pointer[0]
    }

    public subscript(flat index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    /// A copy that shares nothing, detached from the graph.
    public func copy() -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    /// The same values, outside the autograd graph (PyTorch's `detach`); shares storage.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Overwrites the values with `other`'s (same element count); not recorded by autograd.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }

    /// Size of dimension `d`, negative counts from the end.
    public func size(_ d: Int) -> Int { shape[d < 0 ? shape.count + d : d] }
}
