import XCTest
@testable import LetheCore

final class OpenBLASKernelsTests: XCTestCase {
    // The flags of the Xeon (family 6, model 207) that Debian's OpenBLAS 0.3.21 does not know.
    let xeonFlags: Set<String> = ["sse3", "ssse3", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd",
                                  "avx512bw", "avx512dq", "avx512vl", "avx512_bf16", "avx512_fp16"]

    func testAFallbackToSSE3KernelsIsReplacedByTheNewestTheFlagsAllow() {
        XCTAssertEqual(OpenBLASKernels.coreToForce(detected: "Prescott", cpuFlags: xeonFlags), "Cooperlake")
        XCTAssertEqual(OpenBLASKernels.coreToForce(detected: "Prescott", cpuFlags: xeonFlags.subtracting(["avx512_bf16"])),
                       "SkylakeX")
        let avx2Only: Set<String> = ["sse3", "ssse3", "sse4_2", "avx", "avx2", "fma"]
        XCTAssertEqual(OpenBLASKernels.coreToForce(detected: "Nehalem", cpuFlags: avx2Only), "Haswell")
        XCTAssertEqual(OpenBLASKernels.coreToForce(detected: "sandybridge", cpuFlags: avx2Only), "Haswell")
    }

    func testAChoiceThatAlreadyFitsOrIsNotRankedIsLeftAlone() {
        XCTAssertNil(OpenBLASKernels.coreToForce(detected: "Cooperlake", cpuFlags: xeonFlags))
        XCTAssertNil(OpenBLASKernels.coreToForce(detected: "Haswell", cpuFlags: ["sse3", "avx", "avx2", "fma"]))
        // Newer or vendor targets this table does not rank: OpenBLAS knows better.
        XCTAssertNil(OpenBLASKernels.coreToForce(detected: "SapphireRapids", cpuFlags: xeonFlags))
        XCTAssertNil(OpenBLASKernels.coreToForce(detected: "Zen", cpuFlags: xeonFlags))
        // Without the flags (ARM's /proc/cpuinfo, or none read), nothing is forced.
        XCTAssertNil(OpenBLASKernels.coreToForce(detected: "Prescott", cpuFlags: []))
        XCTAssertNil(OpenBLASKernels.coreToForce(detected: "ARMV8", cpuFlags: ["fp", "asimd"]))
    }

    func testFlagsComeFromTheFirstProcessorsFlagsLine() {
        let cpuinfo = """
            processor\t: 0
            model\t\t: 207
            flags\t\t: fpu sse3 avx2 avx512f
            bugs\t\t: spectre_v1

            processor\t: 1
            flags\t\t: fpu
            """
        XCTAssertEqual(OpenBLASKernels.cpuFlags(cpuinfo: cpuinfo), ["fpu", "sse3", "avx2", "avx512f"])
        XCTAssertEqual(OpenBLASKernels.cpuFlags(cpuinfo: "processor\t: 0\nFeatures\t: fp asimd\n"), [])
    }

    /// scripts/test.sh sets OPENBLAS_CORETYPE from its copy of the table; a name the library does
    /// not know would leave its fallback in place, so the core it loaded must be the one asked for,
    /// and it must be the one the Swift table picks for this CPU's flags.
    func testTheLibraryLoadedTheCoreThatWasAskedFor() throws {
        guard let asked = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !asked.isEmpty else {
            throw XCTSkip("OPENBLAS_CORETYPE is not set (scripts/test.sh sets it on x86-64 with AVX2)")
        }
        XCTAssertEqual(OpenBLASKernels.detectedCore.lowercased(), asked.lowercased())
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        XCTAssertEqual(OpenBLASKernels.coreToForce(detected: "Prescott", cpuFlags: OpenBLASKernels.cpuFlags(cpuinfo: cpuinfo)),
                       asked, "scripts/test.sh's table and OpenBLASKernels.x86Cores disagree on this CPU")
    }
}
