// AVX-512 kernels, included once by gru_cpu.cpp inside `namespace avx512` and a
// `#pragma GCC target("avx512f,fma")` region (chosen at run time when the CPU has AVX-512F).
//
// 1. Vectorised exp / sigmoid / tanh (16 floats per instruction), written with intrinsics so that
//    the code does not depend on what the auto-vectoriser does with -O3 and no -ffast-math:
//      exp: Cephes' range reduction by ln 2 and degree-6 polynomial, the power of two applied by
//           vscalefps (no integer tricks); input clamped to [-88.376, 88.376] (NaN passes through);
//      sigmoid(v) = 1 / (1 + exp(-v)), an IEEE division;
//      tanh: Cephes' odd polynomial for |v| < 0.625 (no cancellation near 0), else
//           sign(v) (1 - 2 / (exp(2|v|) + 1)).
//    Measured against float64 on a dense grid (tests/models/test_gru_ext.py): at most a few
//    float32 ulp relative error (sigmoid, tanh), NaN in -> NaN out, +-inf -> the limits.
// 2. A fused GRU step (`tile`): per day, per block of 6 rows of the batch and 16 hidden units,
//    the input product (over the input pieces), the recurrent product and the gates are computed
//    in 24 registers and h' is written once. The r and z gates accumulate x W_i^T and h W_h^T in
//    the same registers (one sum, no gate buffers); nothing goes through memory but the inputs,
//    the packed weights (in L1) and the states (and, for the training forward, the gates the
//    backward needs). gru_cpu.cpp runs it for whole inference stacks (infer_stack) and for the
//    training forward (forward_train512).
// 3. The attention score w2 . tanh(W1 x + b1) + b2 in one pass (`score_tile`).
#include <immintrin.h>

namespace {
constexpr int kLanes = 16;   // floats per register
constexpr int kRows = 6;     // batch rows per register tile: 4 x 6 accumulators + 3 weights + 1 broadcast
}

static inline __m512 exp512(__m512 x) {
  // min/max return their second operand when one is NaN: x second, so NaN passes through
  x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), x);
  x = _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// 1 / d for d >= 1: vrcp14ps (relative error < 2^-14) and one Newton step (error ~2^-28, below float's
// rounding), a quarter of the cost of vdivps here
static inline __m512 reciprocal512(__m512 d) {
  const __m512 y = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));
}

static inline __m512 sigmoid512(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return reciprocal512(_mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
}

static inline __m512 tanh512(__m512 v) {
  const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512i vi = _mm512_castps_si512(v);
  const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign_bit, vi));   // |v|
  // large |v|: 1 - 2 / (exp(2|v|) + 1), then v's sign (NaN stays NaN)
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e1 = _mm512_add_ps(exp512(_mm512_add_ps(a, a)), one);
  __m512 big = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), reciprocal512(e1), one);
  big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), _mm512_and_si512(sign_bit, vi)));
  // small |v| (< 0.625): v + v^3 P(v^2) (Cephes tanhf)
  const __m512 z = _mm512_mul_ps(v, v);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), v, v);
  const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, big, small);
}

// sigmoid and tanh of `count` floats (the test entry point; the tail by a masked load/store)
void activations(int64_t count, const float* __restrict x, float* __restrict sig, float* __restrict th) {
  for (int64_t i = 0; i < count; i += kLanes) {
    const int64_t left = count - i;
    const __mmask16 m = left >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm512_mask_storeu_ps(sig + i, m, sigmoid512(v));
    _mm512_mask_storeu_ps(th + i, m, tanh512(v));
  }
}

// tanh of `count` floats (fast_gru.tanh: the attention scores)
void tanh_rows(int64_t count, const float* __restrict x, float* __restrict y) {
  for (int64_t i = 0; i < count; i += kLanes) {
    const int64_t left = count - i;
    const __mmask16 m = left >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    _mm512_mask_storeu_ps(y + i, m, tanh512(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

// ---------------------------------------------------------------------------- fused inference step
// Packed weights of one layer, per block u of 16 hidden units (H / 16 blocks, each (K + H) x 48 floats):
// for every input column c (the pieces one after another, K columns in all), then every state column j:
// the 16 weights of gate r, of z, of n for units u*16 .. u*16+15. Bias per block: 64 floats,
// [b_ir + b_hr, b_iz + b_hz, b_in, b_hn].
struct Pieces {
  int count;
  const float* x[8];   // this day's row 0 of each piece
  int64_t k[8];        // columns of each piece (its row stride)
};

// What the training forward keeps for the backward, day by day (B, H) each: r, z, n and W_hn h + b_hn.
struct Saved {
  float *r = nullptr, *z = nullptr, *n = nullptr, *ghn = nullptr;
};

// The k columns of x (MR rows, row stride k) times their packed weights (48 floats per column: r, z and n
// of 16 units), added to the accumulators a_r, a_z and a_n; returns the weights after them. Inlined, so the
// accumulators stay in registers.
template <int MR>
__attribute__((always_inline)) static inline const float* accumulate(
    const float* __restrict x, int64_t k, const float* __restrict w, __m512* a_r, __m512* a_z, __m512* a_n) {
  for (int64_t c = 0; c < k; ++c, w += 48) {
    const __m512 wr = _mm512_loadu_ps(w), wz = _mm512_loadu_ps(w + 16), wn = _mm512_loadu_ps(w + 32);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m512 v = _mm512_set1_ps(x[m * k + c]);
      a_r[m] = _mm512_fmadd_ps(v, wr, a_r[m]);
      a_z[m] = _mm512_fmadd_ps(v, wz, a_z[m]);
      a_n[m] = _mm512_fmadd_ps(v, wn, a_n[m]);
    }
  }
  return w;
}

// One tile: MR rows of the batch x 16 hidden units of one day (with Save: r, z, n, W_hn h + b_hn kept too).
template <int MR, bool Save>
static inline void tile(const Pieces& in, int64_t row, const float* __restrict h, int64_t H,
                        const float* __restrict w, const float* __restrict bias, int64_t unit,
                        float* __restrict h_new, const Saved& keep) {
  __m512 ar[MR], az[MR], an[MR], ah[MR];
  {
    const __m512 br = _mm512_loadu_ps(bias), bz = _mm512_loadu_ps(bias + 16);
    const __m512 bi = _mm512_loadu_ps(bias + 32), bh = _mm512_loadu_ps(bias + 48);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) { ar[m] = br; az[m] = bz; an[m] = bi; ah[m] = bh; }
  }
  for (int i = 0; i < in.count; ++i) w = accumulate<MR>(in.x[i] + row * in.k[i], in.k[i], w, ar, az, an);
  const float* hr = h + row * H;
  accumulate<MR>(hr, H, w, ar, az, ah);    // the state's columns: n's recurrent part kept apart (r * it)
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
    const __m512 r = sigmoid512(ar[m]);
    const __m512 z = sigmoid512(az[m]);
    const __m512 n = tanh512(_mm512_fmadd_ps(r, ah[m], an[m]));
    const __m512 hp = _mm512_loadu_ps(hr + m * H + unit);
    const int64_t o = (row + m) * H + unit;
    _mm512_storeu_ps(h_new + o, _mm512_fmadd_ps(z, _mm512_sub_ps(hp, n), n));
    if constexpr (Save) {
      _mm512_storeu_ps(keep.r + o, r);
      _mm512_storeu_ps(keep.z + o, z);
      _mm512_storeu_ps(keep.n + o, n);
      _mm512_storeu_ps(keep.ghn + o, ah[m]);
    }
  }
}

// Rows [lo, hi) of one day: h (B, H) -> h_new (B, H), input pieces of the day in `in`; with Save also the
// gates the backward needs (`keep`: the day's (B, H) buffers).
template <bool Save>
void day_rows(const Pieces& in, int64_t lo, int64_t hi, int64_t K, int64_t H, const float* w_packed,
              const float* bias_packed, const float* h, float* h_new, const Saved& keep) {
  for (int64_t u = 0; u < H / kLanes; ++u) {
    const float* w = w_packed + u * (K + H) * 48;
    const float* bias = bias_packed + u * 64;
    const int64_t unit = u * kLanes;
    int64_t b = lo;
    for (; b + kRows <= hi; b += kRows) tile<kRows, Save>(in, b, h, H, w, bias, unit, h_new, keep);
    switch (hi - b) {
      case 5: tile<5, Save>(in, b, h, H, w, bias, unit, h_new, keep); break;
      case 4: tile<4, Save>(in, b, h, H, w, bias, unit, h_new, keep); break;
      case 3: tile<3, Save>(in, b, h, H, w, bias, unit, h_new, keep); break;
      case 2: tile<2, Save>(in, b, h, H, w, bias, unit, h_new, keep); break;
      case 1: tile<1, Save>(in, b, h, H, w, bias, unit, h_new, keep); break;
      default: break;
    }
  }
}

void infer_rows(const Pieces& in, int64_t lo, int64_t hi, int64_t K, int64_t H, const float* w_packed,
                const float* bias_packed, const float* h, float* h_new) {
  day_rows<false>(in, lo, hi, K, H, w_packed, bias_packed, h, h_new, Saved());
}

void train_rows(const Pieces& in, int64_t lo, int64_t hi, int64_t K, int64_t H, const float* w_packed,
                const float* bias_packed, const float* h, float* h_new, const Saved& keep) {
  day_rows<true>(in, lo, hi, K, H, w_packed, bias_packed, h, h_new, keep);
}

// The read-out of one day's states: y[b] = h[b] . w + bias for `rows` rows of h (rows, H).
void read_out(int64_t rows, int64_t H, const float* __restrict h, const float* __restrict w, float bias,
              float* __restrict y) {
  for (int64_t b = 0; b < rows; ++b) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < H; j += kLanes)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(h + b * H + j), _mm512_loadu_ps(w + j), acc);
    y[b] = _mm512_reduce_add_ps(acc) + bias;
  }
}

// ---------------------------------------------------------------------------- attention score
// s = w2 . tanh(W1 x + b1) + b2 for `rows` rows of x (rows, K), in one pass: per tile of 8 rows and 16
// hidden units the product accumulates in registers, tanh and the w2-weighted sum follow at once, so the
// (rows, N) hidden layer never goes to memory. w1p: W1 packed per 16-unit block, (N / 16, K, 16).
template <int MR>
static inline void score_tile(const float* __restrict x, int64_t K, int64_t N, const float* __restrict w1p,
                              const float* __restrict b1, const float* __restrict w2, float b2,
                              float* __restrict s) {
  __m512 sum[MR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) sum[m] = _mm512_setzero_ps();
  for (int64_t u = 0; u < N / kLanes; ++u) {
    __m512 acc[MR];
    const __m512 bias = _mm512_loadu_ps(b1 + u * kLanes);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) acc[m] = bias;
    const float* w = w1p + u * K * kLanes;
    for (int64_t j = 0; j < K; ++j, w += kLanes) {
      const __m512 wv = _mm512_loadu_ps(w);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) acc[m] = _mm512_fmadd_ps(_mm512_set1_ps(x[m * K + j]), wv, acc[m]);
    }
    const __m512 w2v = _mm512_loadu_ps(w2 + u * kLanes);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) sum[m] = _mm512_fmadd_ps(tanh512(acc[m]), w2v, sum[m]);
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) s[m] = _mm512_reduce_add_ps(sum[m]) + b2;
}

void score_rows(int64_t rows, const float* x, int64_t K, int64_t N, const float* w1p, const float* b1,
                const float* w2, float b2, float* s) {
  constexpr int kScoreRows = 8;
  int64_t b = 0;
  for (; b + kScoreRows <= rows; b += kScoreRows) score_tile<kScoreRows>(x + b * K, K, N, w1p, b1, w2, b2, s + b);
  for (; b < rows; ++b) score_tile<1>(x + b * K, K, N, w1p, b1, w2, b2, s + b);
}
