#!/usr/bin/env bash
# The test suite: installs what is missing, then runs every Swift test (debug build, checks on).
set -euo pipefail
cd "$(dirname "$0")/.."
LETHE_SKIP_BUILD=1 scripts/setup.sh

# OpenBLAS chooses its kernels by CPU model when it loads, and a release older than the CPU falls
# back to SSE3 ones (Debian's 0.3.21 on a Xeon with AVX-512: GEMMs at under half speed). The
# lethe binaries restart themselves with OPENBLAS_CORETYPE set (LetheCore/OpenBLASKernels.swift);
# the test runner cannot, so it gets the newest kernels the CPU's flags allow here: a copy of that
# table's top rows, which OpenBLASKernelsTests checks against the Swift one on this CPU. Unlike the
# binaries it cannot ask OpenBLAS what it chose, so it sets the core whenever none is set.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
    if has avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16; then export OPENBLAS_CORETYPE=Cooperlake
    elif has avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl; then export OPENBLAS_CORETYPE=SkylakeX
    elif has avx avx2 fma; then export OPENBLAS_CORETYPE=Haswell
    fi
fi

swift test "$@"
