#include "bench/peak.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#ifdef STRATA_HAVE_CBLAS
#include <cblas.h>
#endif

namespace strata::bench {

// Twelve independent accumulator chains (named, so they stay in registers and cannot be
// merged) cover the FMA latency on both pipes.
#define STRATA_FMA12(F) F(a0) F(a1) F(a2) F(a3) F(a4) F(a5) F(a6) F(a7) F(a8) F(a9) F(a10) F(a11)

__attribute__((target("avx512f"))) static float fma_loop_512(long iters) {
  float k = 1.0f;
#define INIT(x) __m512 x = _mm512_set1_ps(k += 0.1f);
  STRATA_FMA12(INIT)
#undef INIT
  const __m512 m = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#define STEP(x) x = _mm512_fmadd_ps(x, m, b);
    STRATA_FMA12(STEP)
#undef STEP
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(x) s = _mm512_add_ps(s, x);
  STRATA_FMA12(SUM)
#undef SUM
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(long iters) {
  float k = 1.0f;
#define INIT(x) __m256 x = _mm256_set1_ps(k += 0.1f);
  STRATA_FMA12(INIT)
#undef INIT
  const __m256 m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#define STEP(x) x = _mm256_fmadd_ps(x, m, b);
    STRATA_FMA12(STEP)
#undef STEP
  }
  __m256 s = _mm256_setzero_ps();
#define SUM(x) s = _mm256_add_ps(s, x);
  STRATA_FMA12(SUM)
#undef SUM
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

static void benchmark_sink(const std::vector<float>& v) {
  [[maybe_unused]] static volatile float keep;
  for (float f : v) keep = f;
}

double fma_peak_gflops(int threads) {
  bool avx512 = __builtin_cpu_supports("avx512f");
  const long iters = 50'000'000;
  double flops_per_iter = avx512 ? 12 * 16 * 2 : 12 * 8 * 2;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> ts;
    std::vector<float> sink(threads);
    auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] { sink[t] = avx512 ? fma_loop_512(iters) : fma_loop_256(iters); });
    for (auto& t : ts) t.join();
    benchmark_sink(sink);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, threads * iters * flops_per_iter / s / 1e9);
  }
  return best;
}

double sgemm_gflops() {
#ifdef STRATA_HAVE_CBLAS
  const int n = 2048;
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n, 0.f);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::max(best, 2.0 * n * n * double(n) / s / 1e9);
  }
  return best;
#else
  return 0;
#endif
}

const Peaks& peaks() {
  static const Peaks p = [] {
    Peaks q;
    q.fma = fma_peak_gflops(static_cast<int>(std::thread::hardware_concurrency()));
    q.sgemm = sgemm_gflops();
    return q;
  }();
  return p;
}

}  // namespace strata::bench
