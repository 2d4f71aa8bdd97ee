// OpenBLAS picks its GEMM kernels once, when the library loads, from the CPU's model number. A
// release that predates the CPU does not know the model and falls back to its oldest x86-64
// kernels: Debian 12's OpenBLAS 0.3.21 runs SSE3 "Prescott" kernels on a Xeon with AVX-512
// (family 6, model 207), and training runs at less than half speed. OPENBLAS_CORETYPE overrides
// the choice, but only before the library loads, so a binary that finds the fallback sets it and
// starts itself again. The choice follows the instruction sets the CPU reports, never the model,
// so an unknown CPU gets the newest kernels its instructions can run.

import CBLAS
import Foundation

public enum OpenBLASKernels {
    /// OpenBLAS core names from oldest to newest x86-64 kernels, each with the CPU flags (as
    /// /proc/cpuinfo spells them) its kernels need. Names outside this list (other
    /// architectures, AMD's own targets, newer ones) are left alone.
    static let x86Cores: [(name: String, needs: Set<String>)] = [
        ("Prescott", ["sse3"]),
        ("Nehalem", ["sse3", "ssse3", "sse4_2"]),
        ("Sandybridge", ["avx"]),
        ("Haswell", ["avx", "avx2", "fma"]),
        ("SkylakeX", ["avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]),
        ("Cooperlake", ["avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"]),
    ]

    /// The core to force, or nil when OpenBLAS's own choice is already the newest the flags allow
    /// (or is one this list does not rank).
    public static func coreToForce(detected: String, cpuFlags: Set<String>) -> String? {
        guard let detectedRank = x86Cores.firstIndex(where: { $0.name.lowercased() == detected.lowercased() }),
              let bestRank = x86Cores.lastIndex(where: { $0.needs.isSubset(of: cpuFlags) }),
              bestRank > detectedRank else { return nil }
        return x86Cores[bestRank].name
    }

    /// The flags of the first processor in a /proc/cpuinfo text (empty when it has none, e.g. on
    /// ARM, which lists "Features" instead).
    public static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }

    /// The core OpenBLAS chose in this process, e.g. "Cooperlake".
    public static var detectedCore: String {
        guard let name = openblas_get_corename() else { return "" }
        return String(cString: name)
    }

    /// Starts this binary again with OPENBLAS_CORETYPE set when OpenBLAS fell back to older kernels
    /// than the CPU can run. Call first thing in main, before any output. Does nothing when the
    /// user set OPENBLAS_CORETYPE, when the kernels already fit, or when the restart fails.
    public static func relaunchWithKernelsForThisCPUIfNeeded() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let core = coreToForce(detected: detectedCore, cpuFlags: cpuFlags(cpuinfo: cpuinfo))
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        #endif
    }
}
