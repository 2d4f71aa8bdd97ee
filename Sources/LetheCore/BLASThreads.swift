// OpenBLAS thread control for loops that run their own GEMMs on every core.

import CBLAS
import Foundation

/// Runs `body` with OpenBLAS limited to one thread, for loops that call sgemm from several
/// threads at once. The thread count is process-wide, so overlapping callers share one hold:
/// the first saves and lowers it, the last restores it (a plain save/restore per caller could
/// restore "1" and leave every later GEMM single-threaded). While held, an sgemm anywhere else
/// in the process also runs on one thread.
func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
    SingleThreadedBLASHold.acquire()
    defer { SingleThreadedBLASHold.release() }
    return try body()
}

private enum SingleThreadedBLASHold {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var holders = 0
    nonisolated(unsafe) private static var savedThreads: Int32 = 1

    static func acquire() {
        lock.lock()
        defer { lock.unlock() }
        if holders == 0 {
            savedThreads = openblas_get_num_threads()
            openblas_set_num_threads(1)
        }
        holders += 1
    }

    static func release() {
        lock.lock()
        defer { lock.unlock() }
        holders -= 1
        if holders == 0 { openblas_set_num_threads(savedThreads) }
    }
}
