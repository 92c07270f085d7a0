// A GRU layer's recurrence on CPU, fused: per day one matrix product (W_hh h) and ONE
// element-wise pass for r, z, n and h; the backward likewise (one pass for the gate
// derivatives, one product for the state gradient); weight gradient one large product.
//
// Same weights and gate order as torch.nn.GRU (r, z, n):
//   r = sigmoid(gi_r + W_hr h + b_hr), z = sigmoid(gi_z + W_hz h + b_hz),
//   n = tanh(gi_n + r * (W_hn h + b_hn)), h' = (1 - z) n + z h,
// where gi = x W_ih^T + b_ih comes from the input pieces x_i and their weight blocks, one BLAS
// product per piece for a chunk of days at a time (fast_gru.FusedGRULayer computes the input
// and input-weight gradients as large products from the gate gradients returned here).
// On CPUs with AVX-512F, float32 layers with a hidden size that is a multiple of 16 run the fused
// register-tiled kernels of gru_avx512.h instead (products and gates together; whole inference stacks
// with their read-outs; the training forward; the attention score).
// Built once by `make` (kgml_core/models/gru_ext.py); loaded when present.
#include <torch/extension.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <mutex>
#include <vector>
#include <cmath>
#include <cstdint>
#include <atomic>
#include <cstring>
#include <type_traits>
#if defined(__linux__)
#include <sys/mman.h>
#endif

extern "C" {
// BLAS as exported by libtorch_cpu (MKL): no dispatcher or tensor per day.
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
            const int*, const float*, const int*, const float*, float*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*);
}

namespace {

// Column-major BLAS on row-major buffers, see the callers.
inline void gemm(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
  sgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void gemm(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}

#include "bernoulli.h"

// The kernels twice: for AVX2 + FMA (chosen at run time when the CPU has them) and for any x86-64 / other CPU.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KGML_HAVE_AVX2_KERNELS 1
namespace avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "gru_kernels.h"
#pragma GCC pop_options
}  // namespace avx2
#endif
namespace generic {
#include "gru_kernels.h"
}  // namespace generic

// The fused AVX-512 inference step and activations (chosen at run time when the CPU has AVX-512F).
#ifdef KGML_HAVE_AVX2_KERNELS
#define KGML_HAVE_AVX512_KERNELS 1
namespace avx512 {
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#include "gru_avx512.h"
#pragma GCC pop_options
}  // namespace avx512
#endif

// set_avx512(false) turns the AVX-512 kernels off (tests and benchmarks compare both paths in one process)
std::atomic<bool> g_allow_avx512{true};

bool use_avx512() {
#ifdef KGML_HAVE_AVX512_KERNELS
  static const bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  return cpu && g_allow_avx512.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// Ask the kernel for 2 MiB pages for a large fresh buffer (before it is first written): a layer's states at
// batch 1,024 are ~100 MB, i.e. ~24,000 page faults of 4 KiB each (10 % of inference) otherwise.
void advise_huge_pages(const at::Tensor& t) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = 2u << 20;
  const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t end = begin + t.nbytes();
  const uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1), hi = end & ~(kHuge - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);   // advice only: errors ignored
#else
  (void)t;
#endif
}

bool use_avx2() {
#ifdef KGML_HAVE_AVX2_KERNELS
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

template <typename T>
void cell_forward_f(int64_t rows, int64_t H, const T* gi, const T* gh, const T* bias, const T* h, T* h_new,
                    T* sr, T* sz, T* sn, T* sghn) {
#ifdef KGML_HAVE_AVX2_KERNELS
  if constexpr (std::is_same_v<T, float>) if (use_avx2())
    return avx2::forward_rows<T>(rows, H, gi, gh, bias, h, h_new, sr, sz, sn, sghn);
#endif
  generic::forward_rows<T>(rows, H, gi, gh, bias, h, h_new, sr, sz, sn, sghn);
}

template <typename T>
void cell_backward_f(int64_t rows, int64_t H, const T* dh, const T* h_prev, const T* r, const T* z, const T* n,
                     const T* ghn, T* d_gh, T* d_n, const T* d_out_prev, T* carry) {
#ifdef KGML_HAVE_AVX2_KERNELS
  if constexpr (std::is_same_v<T, float>) if (use_avx2())
    return avx2::backward_rows<T>(rows, H, dh, h_prev, r, z, n, ghn, d_gh, d_n, d_out_prev, carry);
#endif
  generic::backward_rows<T>(rows, H, dh, h_prev, r, z, n, ghn, d_gh, d_n, d_out_prev, carry);
}

// rows of the batch per thread: small problems stay on one thread (the pass is ~microseconds)
template <typename T>
void tanh_f(int64_t count, const T* x, T* y) {
#ifdef KGML_HAVE_AVX512_KERNELS
  if constexpr (std::is_same_v<T, float>) if (use_avx512()) return avx512::tanh_rows(count, x, y);
#endif
#ifdef KGML_HAVE_AVX2_KERNELS
  if constexpr (std::is_same_v<T, float>) if (use_avx2()) return avx2::tanh_rows<T>(count, x, y);
#endif
  generic::tanh_rows<T>(count, x, y);
}

void check(const at::Tensor& t, const at::Tensor& like, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous(), name, " must be a contiguous CPU tensor");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), name, " must have the dtype of the gates");
}

constexpr int64_t kChunkRows = 1024;

int64_t grain(int64_t H) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, H)); }

template <typename T>
std::vector<at::Tensor> forward_impl(const std::vector<at::Tensor>& xs, const std::vector<at::Tensor>& ws,
                                     const at::Tensor& b_ih, const at::Tensor& w_hh, const at::Tensor& b_hh,
                                     bool keep) {
  const int64_t steps = xs[0].size(0), B = xs[0].size(1), H = w_hh.size(1);
  const auto opts = xs[0].options();
  auto hs = at::empty({steps + 1, B, H}, opts);
  hs[0].zero_();
  at::Tensor r, z, n, ghn;
  if (keep) {
    r = at::empty({steps, B, H}, opts);
    z = at::empty_like(r);
    n = at::empty_like(r);
    ghn = at::empty_like(r);
  }
  // [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]
  auto bias = at::cat({b_ih.narrow(0, 0, 2 * H) + b_hh.narrow(0, 0, 2 * H), b_ih.narrow(0, 2 * H, H),
                       b_hh.narrow(0, 2 * H, H)}).contiguous();
  // input gates of a chunk of days at a time: one product large enough for BLAS to run at speed
  // (about kChunkRows rows), small enough to stay in cache (no all-days (T, B, 3H) buffer)
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(steps, kChunkRows / std::max<int64_t>(1, B)));
  auto gi = at::empty({chunk, B, 3 * H}, opts);
  auto gh = at::empty({B, 3 * H}, opts);
  const T* w = w_hh.data_ptr<T>();
  const T* bias_p = bias.data_ptr<T>();
  T* hs_p = hs.data_ptr<T>();
  T* gh_p = gh.data_ptr<T>();
  const int64_t day = B * H;
  for (int64_t t = 0; t < steps; ++t) {
    if (t % chunk == 0) {
      // gi (days*B x 3H, row-major) = sum_i x_i[days] W_i^T: column-major gi^T = W_i (3H x k_i) x_i^T
      const int64_t rows = std::min(chunk, steps - t) * B;
      for (size_t i = 0; i < xs.size(); ++i) {
        const int64_t k = xs[i].size(2);
        gemm('T', 'N', int(3 * H), int(rows), int(k), T(1), ws[i].data_ptr<T>(), int(k),
             xs[i].data_ptr<T>() + t * B * k, int(k), T(i == 0 ? 0 : 1), gi.data_ptr<T>(), int(3 * H));
      }
    }
    const T* gi_p = gi.data_ptr<T>() + (t % chunk) * B * 3 * H;
    const T* h = hs_p + t * day;
    // gh = h W_hh^T likewise
    gemm('T', 'N', int(3 * H), int(B), int(H), T(1), w, int(H), h, int(H), T(0), gh_p, int(3 * H));
    T* h_new = hs_p + (t + 1) * day;
    T *sr = nullptr, *sz = nullptr, *sn = nullptr, *sg = nullptr;
    if (keep) {
      sr = r.data_ptr<T>() + t * day; sz = z.data_ptr<T>() + t * day;
      sn = n.data_ptr<T>() + t * day; sg = ghn.data_ptr<T>() + t * day;
    }
    at::parallel_for(0, B, grain(H), [&](int64_t lo, int64_t hi) {
      const int64_t o = lo * H;
      cell_forward_f<T>(hi - lo, H, gi_p + lo * 3 * H, gh_p + lo * 3 * H, bias_p, h + o, h_new + o,
                        sr ? sr + o : nullptr, sz ? sz + o : nullptr, sn ? sn + o : nullptr,
                        sg ? sg + o : nullptr);
    });
  }
  if (keep) return {hs, r, z, n, ghn};
  return {hs};
}

#ifdef KGML_HAVE_AVX512_KERNELS
// The layer's weights in the fused step's order (see gru_avx512.h): per 16-unit block, every input column's
// then every state column's [r, z, n] weights; biases per block [b_ir + b_hr, b_iz + b_hz, b_in, b_hn].
std::pair<at::Tensor, at::Tensor> pack512(const std::vector<at::Tensor>& ws, const at::Tensor& b_ih,
                                          const at::Tensor& w_hh, const at::Tensor& b_hh) {
  const int64_t H = w_hh.size(1), blocks = H / avx512::kLanes;
  std::vector<at::Tensor> cols(ws.begin(), ws.end());
  cols.push_back(w_hh);
  // (3H, K + H) -> (3, blocks, 16, K + H) -> (blocks, K + H, 3, 16)
  auto w = at::cat(cols, 1).view({3, blocks, avx512::kLanes, -1}).permute({1, 3, 0, 2}).contiguous();
  auto bias = at::stack({b_ih.narrow(0, 0, H) + b_hh.narrow(0, 0, H), b_ih.narrow(0, H, H) + b_hh.narrow(0, H, H),
                         b_ih.narrow(0, 2 * H, H), b_hh.narrow(0, 2 * H, H)})      // (4, H)
                  .view({4, blocks, avx512::kLanes}).permute({1, 0, 2}).contiguous();
  return {w, bias};
}

// Rows of the batch per work item of the fused inference: the stack runs all days for a block of rows at a
// time (rows of a GRU are independent), so the block's states and inputs stay in L1/L2 and threads need
// no barrier per day.
constexpr int64_t kBlockRows = 16 * avx512::kRows;

// A stack of float32 GRU layers for inference by the fused AVX-512 step. Layer 0 reads the input pieces,
// layer l > 0 the states of layer l - 1. The top layer's states go to `top` (day t at top + t * B * H) or,
// when top is null, only its read-out y[t, b] = h . w_out + b_out (day t at y + t * B).
struct Stack {
  std::vector<at::Tensor> packed;   // per layer: weights, biases (pack512)
  std::vector<int64_t> K;           // per layer: input columns
  int64_t steps = 0, B = 0, H = 0;
  avx512::Pieces x;                 // layer 0's input pieces at day 0, row 0
  int64_t x_day[8] = {0};           // floats per day of each piece (B k_i)
  float* top = nullptr;
  const float* w_out = nullptr;
  float b_out = 0.0f;
  float* y = nullptr;
};

void run_stack_rows(const Stack& s, int64_t lo, int64_t hi) {
  const int64_t n = hi - lo, H = s.H, layers = static_cast<int64_t>(s.K.size());
  // ping-pong states of every layer that is not written to `top` (and the top's zero initial state)
  std::vector<float> scratch(static_cast<size_t>((2 * layers + 1) * n * H), 0.0f);
  auto state = [&](int64_t l, int64_t parity) { return scratch.data() + (2 * l + parity) * n * H; };
  const float* zeros = state(layers, 0);
  for (int64_t t = 0; t < s.steps; ++t) {
    const float* below = nullptr;
    for (int64_t l = 0; l < layers; ++l) {
      avx512::Pieces in;
      if (l == 0) {
        in = s.x;
        for (int i = 0; i < in.count; ++i) in.x[i] = s.x.x[i] + t * s.x_day[i] + lo * s.x.k[i];
      } else {
        in.count = 1;
        in.x[0] = below;
        in.k[0] = H;
      }
      const bool to_top = s.top && l == layers - 1;
      const float* h = to_top ? (t == 0 ? zeros : s.top + ((t - 1) * s.B + lo) * H) : state(l, t % 2);
      float* h_new = to_top ? s.top + (t * s.B + lo) * H : state(l, (t + 1) % 2);
      avx512::infer_rows(in, 0, n, s.K[l], H, s.packed[2 * l].data_ptr<float>(),
                         s.packed[2 * l + 1].data_ptr<float>(), h, h_new);
      below = h_new;
    }
    if (!s.top) avx512::read_out(n, H, below, s.w_out, s.b_out, s.y + t * s.B + lo);
  }
}

// Inference (no gradient) of a float32 GRU stack by the fused AVX-512 step, or an undefined tensor when it
// cannot run it (no AVX-512, hidden size not a multiple of 16, more than 8 input pieces): the caller then
// runs the layers one by one. upper: per layer above the first [w_ih, b_ih, w_hh, b_hh].
// Returns the top layer's states (T, B, H), or with w_out (1, H) / b_out (1,) its read-out (T, B).
at::Tensor infer_stack(const std::vector<at::Tensor>& xs, const std::vector<at::Tensor>& ws, const at::Tensor& b_ih,
                       const at::Tensor& w_hh, const at::Tensor& b_hh, const std::vector<at::Tensor>& upper,
                       const c10::optional<at::Tensor>& w_out, const c10::optional<at::Tensor>& b_out) {
  TORCH_CHECK(!xs.empty() && xs.size() == ws.size(), "one weight block per input piece");
  TORCH_CHECK(upper.size() % 4 == 0, "upper layers: [w_ih, b_ih, w_hh, b_hh] per layer");
  const int64_t H = w_hh.size(1);
  if (!use_avx512() || H % avx512::kLanes != 0 || xs.size() > 8) return at::Tensor();
  for (const auto& t : xs) check(t, xs[0], "input piece");
  for (const auto& t : ws) check(t, xs[0], "input weights");
  for (const auto* t : {&b_ih, &w_hh, &b_hh}) check(*t, xs[0], "GRU weights");
  for (const auto& t : upper) check(t, xs[0], "GRU weights");
  if (xs[0].scalar_type() != at::kFloat) return at::Tensor();
  Stack s;
  s.steps = xs[0].size(0);
  s.B = xs[0].size(1);
  s.H = H;
  s.x.count = static_cast<int>(xs.size());
  int64_t K = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    TORCH_CHECK(xs[i].dim() == 3 && xs[i].size(0) == s.steps && xs[i].size(1) == s.B && ws[i].size(0) == 3 * H &&
                ws[i].size(1) == xs[i].size(2), "piece ", i, ": x (T, B, k), W (3H, k)");
    s.x.x[i] = xs[i].data_ptr<float>();
    s.x.k[i] = xs[i].size(2);
    s.x_day[i] = s.B * s.x.k[i];
    K += s.x.k[i];
  }
  auto first = pack512(ws, b_ih, w_hh, b_hh);
  s.packed = {first.first, first.second};
  s.K = {K};
  for (size_t l = 0; l < upper.size(); l += 4) {
    TORCH_CHECK(upper[l].size(0) == 3 * H && upper[l].size(1) == H && upper[l + 2].size(1) == H,
                "upper layers: w_ih (3H, H), b_ih, w_hh (3H, H), b_hh");
    auto p = pack512({upper[l]}, upper[l + 1], upper[l + 2], upper[l + 3]);
    s.packed.push_back(p.first);
    s.packed.push_back(p.second);
    s.K.push_back(H);
  }
  at::Tensor out, w_out_c;
  if (w_out && w_out->defined()) {
    TORCH_CHECK(w_out->numel() == H && b_out && b_out->numel() == 1, "read-out: w_out (1, H), b_out (1,)");
    w_out_c = w_out->contiguous();
    s.w_out = w_out_c.data_ptr<float>();
    s.b_out = b_out->item<float>();
    out = at::empty({s.steps, s.B}, xs[0].options());
    s.y = out.data_ptr<float>();
  } else {
    out = at::empty({s.steps, s.B, H}, xs[0].options());
    advise_huge_pages(out);
    s.top = out.data_ptr<float>();
  }
  const int64_t blocks = (s.B + kBlockRows - 1) / kBlockRows;
  at::parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) run_stack_rows(s, blk * kBlockRows, std::min(s.B, (blk + 1) * kBlockRows));
  });
  return out;
}

// The training forward of one float32 layer by the fused AVX-512 step, keeping what the backward needs:
// {states (T+1, B, H) zero first, r, z, n, W_hn h + b_hn (T, B, H)}, as forward_impl returns them.
std::vector<at::Tensor> forward_train512(const std::vector<at::Tensor>& xs, const std::vector<at::Tensor>& ws,
                                         const at::Tensor& b_ih, const at::Tensor& w_hh, const at::Tensor& b_hh) {
  const int64_t steps = xs[0].size(0), B = xs[0].size(1), H = w_hh.size(1), day = B * H;
  const auto opts = xs[0].options();
  auto hs = at::empty({steps + 1, B, H}, opts);
  hs[0].zero_();
  std::vector<at::Tensor> kept;
  for (int i = 0; i < 4; ++i) kept.push_back(at::empty({steps, B, H}, opts));
  const auto packed = pack512(ws, b_ih, w_hh, b_hh);
  avx512::Pieces in;
  in.count = static_cast<int>(xs.size());
  int64_t K = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    in.k[i] = xs[i].size(2);
    K += in.k[i];
  }
  const float *w = packed.first.data_ptr<float>(), *bias = packed.second.data_ptr<float>();
  float* hs_p = hs.data_ptr<float>();
  const int64_t tiles = (B + avx512::kRows - 1) / avx512::kRows;
  for (int64_t t = 0; t < steps; ++t) {
    for (size_t i = 0; i < xs.size(); ++i) in.x[i] = xs[i].data_ptr<float>() + t * B * in.k[i];
    avx512::Saved keep;
    keep.r = kept[0].data_ptr<float>() + t * day;
    keep.z = kept[1].data_ptr<float>() + t * day;
    keep.n = kept[2].data_ptr<float>() + t * day;
    keep.ghn = kept[3].data_ptr<float>() + t * day;
    const float* h = hs_p + t * day;
    float* h_new = hs_p + (t + 1) * day;
    at::parallel_for(0, tiles, std::max<int64_t>(1, kBlockRows / avx512::kRows), [&](int64_t lo, int64_t hi) {
      avx512::train_rows(in, lo * avx512::kRows, std::min(B, hi * avx512::kRows), K, H, w, bias, h, h_new, keep);
    });
  }
  return {hs, kept[0], kept[1], kept[2], kept[3]};
}

// The attention score of every row of x (..., K): w2 . tanh(W1 x + b1) + b2 -> (...), by the fused AVX-512
// pass; an undefined tensor when it cannot run it (no AVX-512, N not a multiple of 16, not float32).
// w1 (N, K), b1 (N,), w2 (1, N), b2 (1,).
at::Tensor tanh_score(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                      const at::Tensor& b2) {
  const int64_t N = w1.size(0), K = w1.size(1);
  if (!use_avx512() || N % avx512::kLanes != 0 || x.scalar_type() != at::kFloat) return at::Tensor();
  TORCH_CHECK(x.device().is_cpu() && x.size(-1) == K && b1.numel() == N && w2.numel() == N && b2.numel() == 1,
              "score: x (..., K), w1 (N, K), b1 (N,), w2 (1, N), b2 (1,)");
  for (const auto* t : {&w1, &b1, &w2, &b2}) check(*t, x, "score weights");
  const auto xc = x.contiguous();
  auto w1p = w1.view({N / avx512::kLanes, avx512::kLanes, K}).permute({0, 2, 1}).contiguous();
  auto out_sizes = x.sizes().vec();
  out_sizes.pop_back();
  auto s = at::empty(out_sizes, x.options());
  const int64_t rows = s.numel();
  const float *xp = xc.data_ptr<float>(), *wp = w1p.data_ptr<float>(), *bp = b1.data_ptr<float>(),
              *w2p = w2.data_ptr<float>();
  const float b2v = b2.item<float>();
  float* sp = s.data_ptr<float>();
  at::parallel_for(0, rows, 4096, [&](int64_t lo, int64_t hi) {
    avx512::score_rows(hi - lo, xp + lo * K, K, N, wp, bp, w2p, b2v, sp + lo);
  });
  return s;
}
#else
// no AVX-512 kernels in this build: the callers run the layers one by one, the score by torch
at::Tensor infer_stack(const std::vector<at::Tensor>&, const std::vector<at::Tensor>&, const at::Tensor&,
                       const at::Tensor&, const at::Tensor&, const std::vector<at::Tensor>&,
                       const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&) {
  return at::Tensor();
}
at::Tensor tanh_score(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                      const at::Tensor&) {
  return at::Tensor();
}
#endif

template <typename T>
std::vector<at::Tensor> backward_impl(const at::Tensor& d_out, const at::Tensor& w_hh, const at::Tensor& hs,
                                      const at::Tensor& r, const at::Tensor& z, const at::Tensor& n,
                                      const at::Tensor& ghn, bool need_gi, bool need_w) {
  const int64_t steps = d_out.size(0), B = d_out.size(1), H = d_out.size(2);
  auto d_gh = at::empty({steps, B, 3 * H}, d_out.options());
  at::Tensor d_n = need_gi ? at::empty({steps, B, H}, d_out.options()) : at::Tensor();
  auto dh = at::empty({2, B, H}, d_out.options());   // ping-pong: this day's and the previous day's
  const int64_t day = B * H;
  const T* d_out_p = d_out.data_ptr<T>();
  const T* w = w_hh.data_ptr<T>();
  const T* hs_p = hs.data_ptr<T>();
  const T *r_p = r.data_ptr<T>(), *z_p = z.data_ptr<T>(), *n_p = n.data_ptr<T>(), *g_p = ghn.data_ptr<T>();
  T* d_gh_p = d_gh.data_ptr<T>();
  T* d_n_p = need_gi ? d_n.data_ptr<T>() : nullptr;
  T* dh_p = dh.data_ptr<T>();
  std::memcpy(dh_p + ((steps - 1) % 2) * day, d_out_p + (steps - 1) * day, sizeof(T) * day);
  for (int64_t t = steps - 1; t >= 0; --t) {
    T* cur = dh_p + (t % 2) * day;
    T* prev = t > 0 ? dh_p + ((t - 1) % 2) * day : nullptr;
    const int64_t o3 = t * B * 3 * H, o = t * day;
    at::parallel_for(0, B, grain(H), [&](int64_t lo, int64_t hi) {
      const int64_t q = lo * H;
      cell_backward_f(hi - lo, H, cur + q, hs_p + o + q, r_p + o + q, z_p + o + q, n_p + o + q, g_p + o + q,
                      d_gh_p + o3 + lo * 3 * H, d_n_p ? d_n_p + o + q : nullptr,
                      prev ? d_out_p + o - day + q : nullptr, prev ? prev + q : nullptr);
    });
    if (prev) {
      // prev (B x H) += d_gh_t (B x 3H) W_hh (3H x H): column-major prev^T = W_hh^T d_gh_t^T
      gemm('N', 'N', int(H), int(B), int(3 * H), T(1), w, int(H), d_gh_p + o3, int(3 * H), T(1), prev, int(H));
    }
  }
  auto flat = d_gh.view({steps * B, 3 * H});
  at::Tensor d_w_hh, d_b_hh;     // none for frozen weights (a parameter estimate: a third of this backward)
  if (need_w) {
    d_w_hh = at::mm(flat.t(), hs.narrow(0, 0, steps).reshape({steps * B, H}));
    d_b_hh = flat.sum(0);
  }
  if (!need_gi) return {at::Tensor(), d_w_hh, d_b_hh};
  // the input gates' gradients differ from d_gh only in the new gate
  d_gh.narrow(2, 2 * H, H).copy_(d_n);
  return {d_gh, d_w_hh, d_b_hh};
}

// tanh of a tensor, vectorised (torch's tanh has no vector code on this CPU path: 3-6x slower than sigmoid)
at::Tensor tanh_fast(const at::Tensor& x) {
  check(x, x, "x");
  auto y = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "tanh_fast", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, x.numel(), 32768, [&](int64_t lo, int64_t hi) { tanh_f<scalar_t>(hi - lo, xp + lo, yp + lo); });
  });
  return y;
}

std::vector<at::Tensor> gru_forward(const std::vector<at::Tensor>& xs, const std::vector<at::Tensor>& ws,
                                    const at::Tensor& b_ih, const at::Tensor& w_hh, const at::Tensor& b_hh,
                                    bool keep) {
  TORCH_CHECK(!xs.empty() && xs.size() == ws.size(), "one weight block per input piece");
  const auto& like = xs[0];
  const int64_t H = w_hh.size(1);
  TORCH_CHECK(like.dim() == 3 && w_hh.size(0) == 3 * H, "inputs must be (T, B, k) with w_hh (3H, H)");
  for (size_t i = 0; i < xs.size(); ++i) {
    check(xs[i], like, "input piece");
    check(ws[i], like, "input weights");
    TORCH_CHECK(xs[i].dim() == 3 && xs[i].size(0) == like.size(0) && xs[i].size(1) == like.size(1) &&
                ws[i].size(0) == 3 * H && ws[i].size(1) == xs[i].size(2), "piece ", i, ": x (T, B, k), W (3H, k)");
  }
  for (const auto* t : {&b_ih, &w_hh, &b_hh}) check(*t, like, "GRU weights");
#ifdef KGML_HAVE_AVX512_KERNELS
  if (keep && use_avx512() && like.scalar_type() == at::kFloat && H % avx512::kLanes == 0 && xs.size() <= 8)
    return forward_train512(xs, ws, b_ih, w_hh, b_hh);
#endif
  if (like.scalar_type() == at::kFloat) return forward_impl<float>(xs, ws, b_ih, w_hh, b_hh, keep);
  TORCH_CHECK(like.scalar_type() == at::kDouble, "float32 or float64 only");
  return forward_impl<double>(xs, ws, b_ih, w_hh, b_hh, keep);
}

std::vector<at::Tensor> gru_backward(const at::Tensor& d_out, const at::Tensor& w_hh, const at::Tensor& hs,
                                     const at::Tensor& r, const at::Tensor& z, const at::Tensor& n,
                                     const at::Tensor& ghn, bool need_gi, bool need_w) {
  for (auto* t : {&d_out, &w_hh, &hs, &r, &z, &n, &ghn}) check(*t, d_out, "saved tensor");
  if (d_out.scalar_type() == at::kFloat) return backward_impl<float>(d_out, w_hh, hs, r, z, n, ghn, need_gi, need_w);
  TORCH_CHECK(d_out.scalar_type() == at::kDouble, "float32 or float64 only");
  return backward_impl<double>(d_out, w_hh, hs, r, z, n, ghn, need_gi, need_w);
}

std::string kernels() {
  if (use_avx512()) return "avx512";
  return use_avx2() ? "avx2" : "generic";
}

// sigmoid and tanh of x by the functions the kernels use
std::vector<at::Tensor> activations_t(const at::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() && x.scalar_type() == at::kFloat,
              "x must be a contiguous float32 CPU tensor");
  auto sig = at::empty_like(x), th = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float *sp = sig.data_ptr<float>(), *tp = th.data_ptr<float>();
#ifdef KGML_HAVE_AVX512_KERNELS
  if (use_avx512()) {
    avx512::activations(x.numel(), xp, sp, tp);
    return {sig, th};
  }
#endif
#ifdef KGML_HAVE_AVX2_KERNELS
  if (use_avx2()) {
    avx2::activations(x.numel(), xp, sp, tp);
    return {sig, th};
  }
#endif
  generic::activations(x.numel(), xp, sp, tp);
  return {sig, th};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Fused CPU GRU recurrence (kgml_core.models.fast_gru)";
  m.def("forward", &gru_forward, "states (T+1,B,H) [, r, z, n, W_hn h + b_hn] of one layer from input pieces "
        "x_i (T,B,k_i) and their weight blocks W_i (3H,k_i), b_ih, w_hh, b_hh");
  m.def("tanh", &tanh_fast, "tanh of a contiguous float tensor (vectorised)");
  m.def("infer", &infer_stack, "inference of a float32 GRU stack by the fused AVX-512 step: top layer's states "
        "(T,B,H), or its read-out (T,B) when w_out (1,H) and b_out (1,) are given; None when it cannot run it",
        py::arg("xs"), py::arg("ws"), py::arg("b_ih"), py::arg("w_hh"), py::arg("b_hh"), py::arg("upper"),
        py::arg("w_out") = py::none(), py::arg("b_out") = py::none());
  m.def("score", &tanh_score, "w2 . tanh(W1 x + b1) + b2 per row of x (..., K) -> (...) by the fused AVX-512 "
        "pass (an attention score); None when it cannot run it");
  m.def("set_avx512", [](bool allow) { g_allow_avx512 = allow; },
        "allow (default) or forbid the AVX-512 kernels (tests and benchmarks compare both paths)");
  m.def("kernels", &kernels, "which kernels run on this CPU: 'avx512' (fused inference), 'avx2' or 'generic'");
  m.def("activations", &activations_t, "(sigmoid, tanh) of a contiguous float32 tensor by the kernels' own "
        "functions (the AVX-512 ones when they run, else the AVX2/generic ones); for the error tests");
  m.def("backward", &gru_backward, "d_gi (T,B,3H) or None (need_gi false), d_w_hh and d_b_hh or None (need_w false)");
  m.def("bernoulli_noise", &bernoulli_noise, "fills a contiguous float32 tensor with torch's CPU dropout noise "
        "(scale where bernoulli_(keep) keeps, else 0) from the default generator, advancing it as torch does");
}
