#pragma once
// The machine's own ceilings, measured in the same run as the kernels they judge.
namespace strata::bench {

// FP32 FMA throughput of all hardware threads (AVX-512 when the CPU has it, else AVX2), GFLOP/s.
double fma_peak_gflops(int threads);
// OpenBLAS sgemm at 2048^3 (0 when built without OpenBLAS), GFLOP/s. OpenBLAS honours
// OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE from the environment.
double sgemm_gflops();
// Both, measured once per process and cached.
struct Peaks {
  double fma = 0, sgemm = 0;
};
const Peaks& peaks();

}  // namespace strata::bench
