// Splitting loops over the machine's cores. Element-wise and normalisation loops are memory
// bound, so a split pays only past tens of thousands of elements; below `grain` they run inline.

import Foundation

/// Threads for Lethe's own loops: LETHE_THREADS when set (e.g. 1 for two runs side by side on
/// two cores), otherwise every active core.
public let coreCount = max(1, ProcessInfo.processInfo.environment["LETHE_THREADS"].flatMap { Int($0) }
    ?? ProcessInfo.processInfo.activeProcessorCount)

/// Calls `body` on disjoint sub-ranges covering 0..<count, in parallel when count ≥ 2·grain.
@inline(__always)
public func parallelFor(_ count: Int, grain: Int = 1 << 14, _ body: (Range<Int>) -> Void) {
    let chunks = min(coreCount, count / max(grain, 1))
    if chunks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks
            let hi = count * (c + 1) / chunks
            body(lo..<hi)
        }
    }
}

/// Calls `body(i)` for each i in 0..<count, spreading indices over the cores. For loops whose
/// iterations are each large (a sample, a channel, a head).
@inline(__always)
public func parallelForEach(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 || coreCount == 1 {
        for i in 0..<count { body(i) }
        return
    }
    let chunks = min(coreCount, count)
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks
            let hi = count * (c + 1) / chunks
            for i in lo..<hi { body(i) }
        }
    }
}
