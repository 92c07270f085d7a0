// Dropout noise with the exact values and generator use of torch's CPU dropout, faster.
//
// torch.dropout(x, p, train=True) on CPU draws `empty_like(x).bernoulli_(1 - p)` from the default CPU
// generator (a Mersenne twister, MT19937): element i is kept when the double made of the generator's
// 2i-th and (2i+1)-th 32-bit words, ((w0 << 32 | w1) & (2^53 - 1)) * 2^-53, is below 1 - p; then the
// noise is divided by 1 - p and multiplied into x. torch does this one element at a time through a
// generic distribution kernel (about 6 ns per element here: 80 % of a dropout); this header runs the
// same twister on the generator's own state in plain loops the compiler vectorises (the twist and the
// tempering of 624 words at a time, the comparison) and leaves the generator exactly where torch's bernoulli_ would:
// the same masks, the same state afterwards (tested bit for bit against torch).
// Included once from gru_cpu.cpp, outside the target-specific namespaces.

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "noise_from_words reads word pairs as little-endian");
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KGML_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KGML_VECTOR_CLONES
#endif
typedef uint64_t __attribute__((may_alias)) word_pair;   // two 32-bit words read as one

constexpr int kMtN = 624, kMtM = 397;
constexpr uint32_t kMtA = 0x9908b0dfu, kMtUpper = 0x80000000u, kMtLower = 0x7fffffffu;

inline uint32_t mt_twist(uint32_t u, uint32_t v) {
  return (((u & kMtUpper) | (v & kMtLower)) >> 1) ^ ((0u - (v & 1u)) & kMtA);
}

// at::mt19937_engine::next_state: the whole state array renewed (the same three loops).
inline void mt_next_state(uint32_t* s) {
  for (int i = 0; i < kMtN - kMtM; ++i) s[i] = s[i + kMtM] ^ mt_twist(s[i], s[i + 1]);
  for (int i = kMtN - kMtM; i < kMtN - 1; ++i) s[i] = s[i + kMtM - kMtN] ^ mt_twist(s[i], s[i + 1]);
  s[kMtN - 1] = s[kMtM - 1] ^ mt_twist(s[kMtN - 1], s[0]);
}

inline uint32_t mt_temper(uint32_t y) {
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

// The next n outputs of the engine whose state is d, as n calls of its operator() would return them,
// and d advanced as they would leave it (operator(): `if (--left == 0) next_state(); return temper(
// state[next++])`, next_state setting left = 624 and next = 0; so left - 1 words are ready at next).
// (Compiled for AVX-512, AVX2 and any x86-64, chosen at load time: the twist and tempering vectorise.)
KGML_VECTOR_CLONES
void mt_words(at::mt19937_data_pod& d, uint32_t* out, int64_t n) {
  uint32_t* s = d.state_.data();
  while (n > 0) {
    if (d.left_ == 1) {
      mt_next_state(s);
      d.left_ = kMtN + 1;
      d.next_ = 0;
    }
    const int64_t take = std::min<int64_t>(d.left_ - 1, n);
    const uint32_t* src = s + d.next_;
    for (int64_t i = 0; i < take; ++i) out[i] = mt_temper(src[i]);
    d.next_ += static_cast<uint32_t>(take);
    d.left_ -= static_cast<int>(take);
    out += take;
    n -= take;
  }
}

// o[i] = value when the low 53 bits of word pair i (first word high) are below limit, else 0.
KGML_VECTOR_CLONES
void noise_from_words(const uint32_t* words, int64_t m, int64_t limit, float value, float* o) {
  const word_pair* pairs = reinterpret_cast<const word_pair*>(words);   // little endian: first word low
  for (int64_t i = 0; i < m; ++i) {
    const int64_t k = static_cast<int64_t>(((pairs[i] & 0x1fffffull) << 32) | (pairs[i] >> 32));
    o[i] = k < limit ? value : 0.0f;
  }
}

// Fills the contiguous float32 tensor `noise` as torch's `noise.bernoulli_(keep).div_(1 - p)` would:
// `scale` where kept, 0 elsewhere (`scale` is the float torch's division gives, passed by the caller),
// drawing from the default CPU generator (under its lock) exactly as bernoulli_ does.
torch::Tensor bernoulli_noise(torch::Tensor noise, double keep, double scale) {
  TORCH_CHECK(noise.device().is_cpu() && noise.scalar_type() == at::kFloat && noise.is_contiguous(),
              "noise must be a contiguous float32 CPU tensor");
  TORCH_CHECK(keep >= 0.0 && keep <= 1.0, "keep must be a probability, got ", keep);
  // kept <=> k * 2^-53 < keep <=> k < ceil(keep * 2^53), k = the word pair's low 53 bits (both sides exact)
  const int64_t limit = static_cast<int64_t>(std::ceil(std::ldexp(keep, 53)));
  const float value = static_cast<float>(scale);
  float* out = noise.data_ptr<float>();
  const int64_t n = noise.numel();
  constexpr int64_t kChunk = 2048;
  std::vector<uint32_t> words(2 * kChunk);
  auto* gen = at::check_generator<at::CPUGeneratorImpl>(at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(gen->mutex_);
  at::mt19937 engine = gen->engine();
  at::mt19937_data_pod state = engine.data();
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t m = std::min(kChunk, n - start);
    mt_words(state, words.data(), 2 * m);
    noise_from_words(words.data(), m, limit, value, out + start);
  }
  engine.set_data(state);
  gen->set_engine(engine);
  return noise;
}
