#include "pruning/calibration.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <random>

namespace mamba::pruning {
namespace {

// Accumulates the data-driven scores of every layer over all prefills it observes.
class ScoreObserver final : public MixerObserver {
 public:
  explicit ScoreObserver(const ModelConfig& c) : config_(c) {
    for (int64_t l = 0; l < c.nLayer; ++l) {
      deltaB_.push_back(LayerScores::zeros(c.nGroups, c.stateSize(l)));
      output_.push_back(LayerScores::zeros(c.nGroups, c.stateSize(l)));
      headDelta_.emplace_back(static_cast<size_t>(c.nHeads), 0.0);
    }
  }

  void onMixer(const MixerTrace& t) override {
    torch::NoGradGuard noGrad;
    const int64_t Bsz = t.x.size(0), L = t.x.size(1), H = t.x.size(2), P = t.x.size(3);
    const int64_t G = t.B.size(2), N = t.B.size(3), hpg = H / G;
    const size_t l = static_cast<size_t>(t.layer);
    if (t.layer == 0) tokens_ += t.lengths.sum().item<int64_t>();

    // delta_b: Σ_{b,t} (Σ_{h∈g} Δ) · |B| -> (G, N). Δ is 0 at padded steps.
    torch::Tensor dtGroup = t.dt.view({Bsz, L, G, hpg}).sum(-1);                       // (B, L, G)
    torch::Tensor db = (dtGroup.unsqueeze(-1) * t.B.abs()).sum(torch::IntArrayRef{0, 1}).to(torch::kCPU, torch::kFloat64).contiguous();
    addInto(deltaB_[l], db.data_ptr<double>());
    torch::Tensor hd = t.dt.sum(torch::IntArrayRef{0, 1}).to(torch::kCPU, torch::kFloat64).contiguous();
    for (int64_t h = 0; h < H; ++h) headDelta_[l][static_cast<size_t>(h)] += hd.data_ptr<double>()[h];

    // output: per-token recurrence, |C_s · h_{t,p,s}| summed over t and p, per (b, h, s).
    torch::Tensor x = t.x.to(torch::kCPU).contiguous(), dt = t.dt.to(torch::kCPU).contiguous();
    torch::Tensor A = t.A.to(torch::kCPU, torch::kFloat32).contiguous();
    torch::Tensor Bm = t.B.to(torch::kCPU).contiguous(), Cm = t.C.to(torch::kCPU).contiguous();
    torch::Tensor init = t.initialState.to(torch::kCPU, torch::kFloat32).contiguous();
    torch::Tensor len = t.lengths.to(torch::kCPU, torch::kLong).contiguous();
    std::vector<double> acc(static_cast<size_t>(Bsz * H * N), 0.0);
    const float *xp = x.data_ptr<float>(), *dtp = dt.data_ptr<float>(), *ap = A.data_ptr<float>();
    const float *bp = Bm.data_ptr<float>(), *cp = Cm.data_ptr<float>(), *ip = init.data_ptr<float>();
    const int64_t* lp = len.data_ptr<int64_t>();
    at::parallel_for(0, Bsz * H, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> state(static_cast<size_t>(P * N)), tokenAcc(static_cast<size_t>(N));
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / H, h = i % H, g = h / hpg;
        std::copy(ip + i * P * N, ip + (i + 1) * P * N, state.begin());
        double* out = acc.data() + i * N;
        for (int64_t tt = 0; tt < lp[b]; ++tt) {
          const int64_t bt = b * L + tt;
          const float d = dtp[bt * H + h];
          const float decay = std::exp(d * ap[h]);
          const float* bv = bp + (bt * G + g) * N;
          const float* cv = cp + (bt * G + g) * N;
          const float* xv = xp + (bt * H + h) * P;
          std::fill(tokenAcc.begin(), tokenAcc.end(), 0.f);
          for (int64_t p = 0; p < P; ++p) {
            const float dx = d * xv[p];
            float* row = state.data() + p * N;
            for (int64_t n = 0; n < N; ++n) {
              row[n] = row[n] * decay + dx * bv[n];
              tokenAcc[static_cast<size_t>(n)] += std::fabs(row[n] * cv[n]);
            }
          }
          for (int64_t n = 0; n < N; ++n) out[n] += tokenAcc[static_cast<size_t>(n)];
        }
      }
    });
    for (int64_t i = 0; i < Bsz * H; ++i) {
      const int64_t g = (i % H) / hpg;
      for (int64_t n = 0; n < N; ++n) output_[l].at(g, n) += acc[static_cast<size_t>(i * N + n)];
    }
  }

  // Turns the sums into means and stores them in `out`.
  void finish(StateScores& out) const {
    const double T = static_cast<double>(std::max<int64_t>(tokens_, 1));
    const double hpg = static_cast<double>(config_.nHeads / config_.nGroups);
    ScoreTable db = deltaB_, op = output_;
    for (size_t l = 0; l < db.size(); ++l) {
      for (double& v : db[l].values) v /= T * hpg;
      for (double& v : op[l].values) v /= T * hpg * static_cast<double>(config_.headDim);
    }
    out.methods["delta_b"] = std::move(db);
    out.methods["output"] = std::move(op);
    out.headDelta = headDelta_;
    for (auto& layer : out.headDelta) {
      for (double& v : layer) v /= T;
    }
    out.tokens = tokens_;
  }

 private:
  static void addInto(LayerScores& s, const double* v) {
    for (size_t i = 0; i < s.values.size(); ++i) s.values[i] += v[i];
  }

  const ModelConfig& config_;
  ScoreTable deltaB_, output_;
  std::vector<std::vector<double>> headDelta_;
  int64_t tokens_ = 0;
};

}  // namespace

ScoreTable weightScores(const ModelConfig& c, const ModelWeights& weights) {
  torch::NoGradGuard noGrad;
  ScoreTable out;
  for (int64_t l = 0; l < c.nLayer; ++l) {
    const int64_t N = c.stateSize(l), G = c.nGroups;
    torch::Tensor rows = weights.layers[static_cast<size_t>(l)].inProj.narrow(0, 2 * c.dInner, 2 * G * N);
    torch::Tensor norms = rows.to(torch::kCPU, torch::kFloat64).norm(2, torch::IntArrayRef{1}).contiguous();  // (2GN): B rows, then C rows
    const double* n = norms.data_ptr<double>();
    LayerScores s = LayerScores::zeros(G, N);
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t st = 0; st < N; ++st) s.at(g, st) = n[g * N + st] * n[G * N + g * N + st];
    }
    out.push_back(std::move(s));
  }
  return out;
}

ScoreTable randomScores(const ModelConfig& c, uint64_t seed) {
  std::mt19937_64 gen(seed);
  ScoreTable out;
  for (int64_t l = 0; l < c.nLayer; ++l) {
    LayerScores s = LayerScores::zeros(c.nGroups, c.stateSize(l));
    for (double& v : s.values) v = static_cast<double>(gen() >> 11) * 0x1.0p-53;  // [0, 1), 53 random bits
    out.push_back(std::move(s));
  }
  return out;
}

StatusOr<StateScores> calibrate(const Mamba2Model& model, std::span<const int32_t> tokensIn,
                                const CalibrationOptions& o) {
  if (o.context < 1 || o.batch < 1) return invalidArgument("context and batch must be >= 1");
  std::span<const int32_t> tokens = tokensIn;
  if (o.maxTokens > 0 && static_cast<size_t>(o.maxTokens) < tokens.size()) tokens = tokens.first(static_cast<size_t>(o.maxTokens));
  if (tokens.empty()) return invalidArgument("calibration needs at least one token");
  const ModelConfig& c = model.config();
  for (int32_t t : tokens) {
    if (t < 0 || t >= c.vocabSize) return invalidArgument("token id " + std::to_string(t) + " out of range");
  }
  const auto t0 = std::chrono::steady_clock::now();
  ScoreObserver observer(c);
  StatePool pool(c, o.batch, model.device());
  const size_t total = tokens.size(), C = static_cast<size_t>(o.context);
  try {
    for (size_t start = 0; start < total;) {
      if (o.cancelled && o.cancelled()) {
        return cancelled("calibration cancelled after " + std::to_string(start) + " of " + std::to_string(total) +
                         " tokens");
      }
      std::vector<PrefillSequence> seqs;
      for (int32_t k = 0; k < o.batch && start < total; ++k) {
        const size_t n = std::min(C, total - start);
        seqs.push_back({tokens.subspan(start, n), k, false});
        start += n;
      }
      model.prefill(seqs, pool, LogitsMode::kNone, &observer);
      if (o.progress) o.progress(static_cast<int64_t>(start), static_cast<int64_t>(total));
    }
  } catch (const c10::Error& e) {
    return internalError(std::string("calibration forward failed: ") + e.what_without_backtrace());
  }
  StateScores s;
  observer.finish(s);
  s.methods["weight"] = weightScores(c, model.weights());
  s.methods["random"] = randomScores(c, o.randomSeed);
  s.corpusHash = corpusHash(tokens);
  s.context = o.context;
  s.batch = o.batch;
  s.randomSeed = o.randomSeed;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace mamba::pruning
