// Reference kernels of the layers: direct loops over NCHW, double accumulators.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/reference.h"
#include "ir/op_registry.h"
#include "ir/random.h"

namespace strata::reference {

using In = std::vector<const HostTensor*>;

// Visits every (output position, weight tap) pair of a convolution with input `xs` and
// weight `ws`: f(x index, w index, y index). The backward kernels are its adjoints. A tap
// on the padding is visited with x index -1 where `padding_taps` asks for it.
template <typename F>
static void for_each_conv_term(const ir::Node& n, const Shape& xs, const Shape& ws, const Shape& ys, F f,
                               bool padding_taps = false) {
  auto pad = ir::conv_padding(n);
  const auto& st = n.attr_ints("stride");
  const auto& dl = n.attr_ints("dilation");
  int64_t groups = n.attr_int("groups"), cig = ws[1], cog = ws[0] / groups;
  for (int64_t b = 0; b < ys[0]; ++b)
    for (int64_t co = 0; co < ys[1]; ++co)
      for (int64_t oy = 0; oy < ys[2]; ++oy)
        for (int64_t ox = 0; ox < ys[3]; ++ox)
          for (int64_t ci = 0; ci < cig; ++ci)
            for (int64_t ky = 0; ky < ws[2]; ++ky) {
              int64_t iy = oy * st[0] + ky * dl[0] - pad[0];
              for (int64_t kx = 0; kx < ws[3]; ++kx) {
                int64_t ix = ox * st[1] + kx * dl[1] - pad[1];
                bool inside = iy >= 0 && iy < xs[2] && ix >= 0 && ix < xs[3];
                if (!inside && !padding_taps) continue;
                f(inside ? idx4(xs, b, (co / cog) * cig + ci, iy, ix) : -1, idx4(ws, co, ci, ky, kx), idx4(ys, b, co, oy, ox));
              }
            }
}

// A tap on the padding multiplies its zero, as PyTorch's im2col does: a NaN weight makes
// its whole output channel NaN.
static HostTensor conv2d(const ir::Node& n, const In& in) {
  const HostTensor &x = *in[0], &w = *in[1];
  const Shape& os = n.outputs[0]->type.shape;
  std::vector<double> acc(num_elements(os), 0.0);
  if (in.size() > 2)
    for (size_t i = 0; i < acc.size(); ++i) acc[i] = (*in[2]).data[(i / (os[2] * os[3])) % os[1]];
  for_each_conv_term(
      n, x.shape, w.shape, os,
      [&](int64_t xi, int64_t wi, int64_t yi) { acc[yi] += (xi < 0 ? 0.0 : double(x.data[xi])) * w.data[wi]; }, true);
  return HostTensor(os, std::vector<float>(acc.begin(), acc.end()));
}

static HostTensor conv2d_backward_input(const ir::Node& n, const In& in) {
  const HostTensor &dy = *in[0], &w = *in[1];
  std::vector<double> acc(num_elements(n.outputs[0]->type.shape), 0.0);
  for_each_conv_term(n, n.outputs[0]->type.shape, w.shape, dy.shape,
                     [&](int64_t xi, int64_t wi, int64_t yi) { acc[xi] += double(dy.data[yi]) * w.data[wi]; });
  return HostTensor(n.outputs[0]->type.shape, std::vector<float>(acc.begin(), acc.end()));
}

static HostTensor conv2d_backward_weight(const ir::Node& n, const In& in) {
  const HostTensor &x = *in[0], &dy = *in[1];
  std::vector<double> acc(num_elements(n.outputs[0]->type.shape), 0.0);
  // The padding's zeros are multiplied, as in PyTorch (im2col): a NaN in dy makes its
  // channel's whole weight gradient NaN. (dx above skips them, as PyTorch's col2im drops them.)
  for_each_conv_term(
      n, x.shape, n.outputs[0]->type.shape, dy.shape,
      [&](int64_t xi, int64_t wi, int64_t yi) { acc[wi] += double(dy.data[yi]) * (xi < 0 ? 0.0 : double(x.data[xi])); },
      true);
  return HostTensor(n.outputs[0]->type.shape, std::vector<float>(acc.begin(), acc.end()));
}

static HostTensor linear(const ir::Node& n, const In& in) {
  const HostTensor &x = *in[0], &w = *in[1];
  int64_t N = x.shape[0], K = x.shape[1], M = w.shape[0];
  HostTensor y({N, M});
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < M; ++j) {
      double acc = in.size() > 2 ? (*in[2]).data[j] : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += double(x.data[i * K + k]) * w.data[j * K + k];
      y.data[i * M + j] = static_cast<float>(acc);
    }
  return y;
}

static HostTensor batch_norm(const ir::Node& n, const In& in) {
  const HostTensor& x = *in[0];
  HostTensor y(x.shape);
  double eps = n.attr_float("eps");
  ChannelStats st = n.attr_int("training") ? batch_stats(n, in, 5) : ChannelStats{*in[3], *in[4]};
  int64_t C = x.shape[1], inner = x.shape.size() == 4 ? x.shape[2] * x.shape[3] : 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = (i / inner) % C;
    double inv = 1.0 / std::sqrt(st.var[c] + eps);
    y.data[i] = static_cast<float>((x.data[i] - st.mean[c]) * inv * in[1]->data[c] + in[2]->data[c]);
  }
  return y;
}

static HostTensor bn_fold_weight(const ir::Node& n, const In& in) {
  const HostTensor& w = *in[0];
  HostTensor y(w.shape);
  int64_t per_channel = w.numel() / w.shape[0];
  for (int64_t i = 0; i < w.numel(); ++i) {
    int64_t c = i / per_channel;
    y.data[i] = static_cast<float>(w.data[i] * (in[1]->data[c] / std::sqrt(double(in[2]->data[c]) + n.attr_float("eps"))));
  }
  return y;
}

static HostTensor bn_fold_bias(const ir::Node& n, const In& in) {
  HostTensor y(in[0]->shape);
  for (int64_t c = 0; c < y.numel(); ++c) {
    double scale = in[0]->data[c] / std::sqrt(double(in[3]->data[c]) + n.attr_float("eps"));
    double bias = in.size() > 4 ? in[4]->data[c] : 0.0;
    y.data[c] = static_cast<float>((bias - in[2]->data[c]) * scale + in[1]->data[c]);
  }
  return y;
}

static HostTensor pool(const ir::Node& n, const In& in, bool is_max) {
  const HostTensor& x = *in[0];
  const Shape& os = n.outputs[0]->type.shape;
  HostTensor y(os);
  auto k = n.attr_ints("kernel_size");
  auto s = n.attr_ints("stride");
  if (s.empty()) s = k;
  auto p = ir::conv_padding(n);
  bool include_pad = !is_max && n.attr_int("count_include_pad") != 0;
  int64_t H = x.shape[2], W = x.shape[3];
  for (int64_t b = 0; b < os[0]; ++b)
    for (int64_t c = 0; c < os[1]; ++c)
      for (int64_t oy = 0; oy < os[2]; ++oy)
        for (int64_t ox = 0; ox < os[3]; ++ox) {
          // PyTorch's window: clipped to the padded input for the divisor, to the input for the sum.
          int64_t y0 = oy * s[0] - p[0], x0 = ox * s[1] - p[1];
          int64_t y1 = std::min(y0 + k[0], H + p[2]), x1 = std::min(x0 + k[1], W + p[3]);
          int64_t pool_size = (y1 - y0) * (x1 - x0);
          int64_t ya = std::max<int64_t>(y0, 0), xa = std::max<int64_t>(x0, 0);
          int64_t yb = std::min(y1, H), xb = std::min(x1, W);
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (int64_t iy = ya; iy < yb; ++iy)
            for (int64_t ix = xa; ix < xb; ++ix) {
              double v = x.data[idx4(x.shape, b, c, iy, ix)];
              // (A NaN wins and stays, as in PyTorch; std::max would keep acc over a NaN v.)
              acc = is_max ? (std::isnan(v) || v > acc ? v : acc) : acc + v;
            }
          if (!is_max) acc /= double(include_pad ? pool_size : (yb - ya) * (xb - xa));
          y.data[idx4(os, b, c, oy, ox)] = static_cast<float>(acc);
        }
  return y;
}

static HostTensor global_avg_pool(const ir::Node& n, const In& in) {
  const HostTensor& x = *in[0];
  HostTensor y(n.outputs[0]->type.shape);
  int64_t hw = x.shape[2] * x.shape[3];
  for (int64_t i = 0; i < x.shape[0] * x.shape[1]; ++i) {
    double acc = 0;
    for (int64_t j = 0; j < hw; ++j) acc += x.data[i * hw + j];
    y.data[i] = static_cast<float>(acc / hw);
  }
  return y;
}

// PyTorch's LocalResponseNorm: the window c - size/2 .. c + (size-1)/2, zero-padded,
// averaged over `size`.
static HostTensor lrn(const ir::Node& n, const In& in) {
  const HostTensor& x = *in[0];
  HostTensor y(x.shape);
  int64_t size = n.attr_int("size");
  double alpha = n.attr_float("alpha"), beta = n.attr_float("beta"), k = n.attr_float("k");
  const Shape& s = x.shape;
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w) {
          double sq = 0;
          for (int64_t cc = c - size / 2; cc <= c + (size - 1) / 2; ++cc)
            if (cc >= 0 && cc < s[1]) {
              double v = x.data[idx4(s, b, cc, h, w)];
              sq += v * v;
            }
          double v = x.data[idx4(s, b, c, h, w)];
          y.data[idx4(s, b, c, h, w)] = static_cast<float>(v / std::pow(k + alpha * sq / size, beta));
        }
  return y;
}

static HostTensor dropout(const ir::Node& n, const In& in) {
  if (!n.attr_int("training")) return *in[0];  // inference: identity
  const HostTensor& x = *in[0];
  HostTensor y(x.shape);
  float p = static_cast<float>(n.attr_float("p")), scale = 1.f / (1.f - p);
  auto seed = static_cast<uint32_t>(in[1]->data[0]), salt = static_cast<uint32_t>(n.attr_int("salt"));
  // "row" (stochastic depth): one draw per sample, indexed by the batch position.
  int64_t per_draw = n.attr_string("mode") == "row" ? x.numel() / x.shape[0] : 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    float u = ir::dropout_uniform(ir::dropout_hash(seed, salt, static_cast<uint32_t>(i / per_draw)));
    y.data[i] = x.data[i] * (u >= p ? scale : 0.f);  // (a dropped NaN stays NaN, as PyTorch multiplies by its mask)
  }
  return y;
}

void register_nn_kernels(std::map<std::string, Kernel>& t) {
  t["conv2d"] = conv2d;
  t["conv2d_backward_input"] = conv2d_backward_input;
  t["conv2d_backward_weight"] = conv2d_backward_weight;
  t["linear"] = linear;
  t["batch_norm"] = batch_norm;
  t["max_pool2d"] = [](const ir::Node& n, const In& in) { return pool(n, in, true); };
  t["avg_pool2d"] = [](const ir::Node& n, const In& in) { return pool(n, in, false); };
  t["global_avg_pool"] = global_avg_pool;
  t["lrn"] = lrn;
  t["batch_norm_fold_weight"] = bn_fold_weight;
  t["batch_norm_fold_bias"] = bn_fold_bias;
  t["dropout"] = dropout;
}

}  // namespace strata::reference
