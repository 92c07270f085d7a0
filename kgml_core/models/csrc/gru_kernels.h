// The element-wise GRU kernels, included once per instruction set by gru_cpu.cpp (inside a
// namespace and a `#pragma GCC target` region): no include guard on purpose.
// Written as plain loops without branches or library calls, so that GCC vectorises them
// (-O3 -fno-math-errno -fno-trapping-math; checked with -fopt-info-vec).

// exp for float without branches or library calls, so that the loops below vectorise
// (Cephes' expf: range reduction by ln 2 and a degree-6 polynomial, relative error ~1e-7).
static inline float exp_approx(float x) {
  x = x > 88.0f ? 88.0f : x;            // written so that NaN passes through (and comes out NaN)
  x = x < -87.0f ? -87.0f : x;
  // round to nearest by the 1.5 * 2^23 trick (no floor call, so plain SSE2 vectorises it too)
  float fx = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
static inline double exp_approx(double x) { return std::exp(x); }

template <typename T>
static inline T sigmoid(T v) { return T(1) / (T(1) + exp_approx(-v)); }
// tanh for float: Cephes' odd polynomial for |v| < 0.625 (no cancellation near 0: ~1 ulp), else
// sign(v) (1 - 2 / (exp(2|v|) + 1)); both computed and one selected, so the loop has no branch.
// NaN passes through (every comparison with it is false). float64 (tests) keeps the plain formula.
static inline float tanh_(float v) {
  const float a = v < 0.0f ? -v : v;
  float big = 1.0f - 2.0f / (exp_approx(a + a) + 1.0f);
  big = v < 0.0f ? -big : big;
  const float z = v * v;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * v + v;
  return a < 0.625f ? small : big;
}
static inline double tanh_(double v) { return 2.0 / (1.0 + exp_approx(-2.0 * v)) - 1.0; }

// One day's gates and new state for `rows` rows of the batch.
// gi (rows, 3H) = x W_ih^T and gh (rows, 3H) = h W_hh^T (no biases); bias (4H) = [b_ir + b_hr, b_iz + b_hz,
// b_in, b_hn]; h (rows, H) -> h_new.
// With Save: r, z, n and W_hn h + b_hn (rows, H) for the backward (compile-time, so the loop has no branch).
template <typename T, bool Save>
static inline void cell_forward(
    int64_t rows, int64_t H, const T* __restrict gi, const T* __restrict gh, const T* __restrict bias,
    const T* __restrict h, T* __restrict h_new, T* __restrict sr, T* __restrict sz,
    T* __restrict sn, T* __restrict sghn) {
  for (int64_t b = 0; b < rows; ++b) {
    const T* gib = gi + b * 3 * H;
    const T* ghb = gh + b * 3 * H;
    const T* hb = h + b * H;
    T* hnb = h_new + b * H;
    const int64_t o = b * H;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      T r = sigmoid<T>(gib[j] + ghb[j] + bias[j]);
      T z = sigmoid<T>(gib[H + j] + ghb[H + j] + bias[H + j]);
      T ghn = ghb[2 * H + j] + bias[3 * H + j];
      T n = tanh_(gib[2 * H + j] + bias[2 * H + j] + r * ghn);
      hnb[j] = n + z * (hb[j] - n);
      if constexpr (Save) {
        sr[o + j] = r;
        sz[o + j] = z;
        sn[o + j] = n;
        sghn[o + j] = ghn;
      }
    }
  }
}

// One day's gate derivatives for `rows` rows. dh (rows, H): total gradient of the day's new state.
// Writes d_gh (rows, 3H) = dL/d(W_hh h + bias) per gate, d_n (rows, H) = dL/d(gi_n) (when non-null),
// and carry (rows, H) = dh * z + d_out of the previous day (when non-null; W_hh^T d_gh is added after).
template <typename T, bool DN, bool Carry>
static inline void cell_backward(
    int64_t rows, int64_t H, const T* __restrict dh, const T* __restrict h_prev, const T* __restrict r,
    const T* __restrict z, const T* __restrict n, const T* __restrict ghn, T* __restrict d_gh,
    T* __restrict d_n, const T* __restrict d_out_prev, T* __restrict carry) {
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t o = b * H;
    T* dgb = d_gh + b * 3 * H;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      T g = dh[o + j], rr = r[o + j], zz = z[o + j], nn = n[o + j];
      T a = g * (T(1) - zz) * (T(1) - nn * nn);           // dL/d(pre-activation of n)
      dgb[j] = a * ghn[o + j] * rr * (T(1) - rr);
      dgb[H + j] = g * (h_prev[o + j] - nn) * zz * (T(1) - zz);
      dgb[2 * H + j] = a * rr;
      if constexpr (DN) d_n[o + j] = a;
      if constexpr (Carry) carry[o + j] = d_out_prev[o + j] + g * zz;
    }
  }
}

template <typename T>
void tanh_rows(int64_t count, const T* __restrict x, T* __restrict y) {
  for (int64_t i = 0; i < count; ++i) y[i] = tanh_(x[i]);
}

// sigmoid and tanh of `count` floats by the functions above (the error tests' entry point)
void activations(int64_t count, const float* __restrict x, float* __restrict sig, float* __restrict th) {
  for (int64_t i = 0; i < count; ++i) {
    sig[i] = sigmoid<float>(x[i]);
    th[i] = tanh_(x[i]);
  }
}

template <typename T>
void forward_rows(int64_t rows, int64_t H, const T* gi, const T* gh, const T* bias, const T* h, T* h_new,
                  T* sr, T* sz, T* sn, T* sghn) {
  if (sr) cell_forward<T, true>(rows, H, gi, gh, bias, h, h_new, sr, sz, sn, sghn);
  else cell_forward<T, false>(rows, H, gi, gh, bias, h, h_new, sr, sz, sn, sghn);
}

template <typename T>
void backward_rows(int64_t rows, int64_t H, const T* dh, const T* h_prev, const T* r, const T* z, const T* n,
                   const T* ghn, T* d_gh, T* d_n, const T* d_out_prev, T* carry) {
  if (d_n && carry) cell_backward<T, true, true>(rows, H, dh, h_prev, r, z, n, ghn, d_gh, d_n, d_out_prev, carry);
  else if (d_n) cell_backward<T, true, false>(rows, H, dh, h_prev, r, z, n, ghn, d_gh, d_n, d_out_prev, carry);
  else if (carry) cell_backward<T, false, true>(rows, H, dh, h_prev, r, z, n, ghn, d_gh, d_n, d_out_prev, carry);
  else cell_backward<T, false, false>(rows, H, dh, h_prev, r, z, n, ghn, d_gh, d_n, d_out_prev, carry);
}

// explicit instantiations, so that they are compiled here, under this region's target
template void tanh_rows<float>(int64_t, const float*, float*);
template void forward_rows<float>(int64_t, int64_t, const float*, const float*, const float*, const float*,
                                  float*, float*, float*, float*, float*);
template void backward_rows<float>(int64_t, int64_t, const float*, const float*, const float*, const float*,
                                   const float*, const float*, float*, float*, const float*, float*);
