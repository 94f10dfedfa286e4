#pragma once
// The DSL's layer functions. Each appends one node (creating its parameters with their
// initializers) and returns the output handle. Names follow torchvision: a layer named
// "conv1" inside scope "layer1.0" owns "layer1.0.conv1.weight".
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "frontend/model.h"

namespace strata::dsl {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;                        // symmetric padding
  std::optional<std::array<int64_t, 4>> pads; // asymmetric {top, left, bottom, right}; overrides padding
  bool same = false;                          // TensorFlow "same" padding
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  std::string name;
  std::optional<ir::InitSpec> init;  // default: Xavier, or He when a ReLU-family activation follows
};
Tensor conv2d(Tensor x, int64_t out_channels, int64_t kernel_size, Conv2dOptions o = {});
// Rectangular kernels (Inception's 1x7 and 7x1).
Tensor conv2d(Tensor x, int64_t out_channels, std::array<int64_t, 2> kernel_size, Conv2dOptions o = {});
// Depthwise: groups == in_channels, channel multiplier 1 unless given.
Tensor depthwise_conv2d(Tensor x, int64_t kernel_size, Conv2dOptions o = {}, int64_t multiplier = 1);

struct LinearOptions {
  bool bias = true;
  std::string name;
  std::optional<ir::InitSpec> init;
};
Tensor linear(Tensor x, int64_t out_features, LinearOptions o = {});

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  std::string name;
};
Tensor batch_norm(Tensor x, BatchNormOptions o = {});

struct PoolOptions {
  int64_t stride = 0;  // 0: same as the kernel size
  int64_t padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
  std::string name;
};
Tensor max_pool2d(Tensor x, int64_t kernel_size, PoolOptions o = {});
Tensor avg_pool2d(Tensor x, int64_t kernel_size, PoolOptions o = {});
Tensor global_avg_pool(Tensor x, const std::string& name = "");

struct LrnOptions {
  int64_t size = 5;
  double alpha = 1e-4, beta = 0.75, k = 2.0;  // AlexNet's values
  std::string name;
};
Tensor lrn(Tensor x, LrnOptions o = {});
Tensor dropout(Tensor x, double p = 0.5, const std::string& name = "");
// Stochastic depth (Huang et al. 2016; torchvision's StochasticDepth(p, "row")): in training,
// drops a residual branch for a whole sample with probability p and scales survivors by
// 1 / (1 - p); identity at inference.
Tensor stochastic_depth(Tensor x, double p, const std::string& name = "");

Tensor flatten(Tensor x, int64_t start_dim = 1, int64_t end_dim = -1);
Tensor reshape(Tensor x, std::vector<int64_t> shape);
Tensor concat(std::vector<Tensor> xs, int64_t axis = 1, const std::string& name = "");
// pads: all begins then all ends, one per dimension (ONNX order).
Tensor pad(Tensor x, std::vector<int64_t> pads, const std::string& mode = "constant", double value = 0.0);

Tensor add(Tensor a, Tensor b, const std::string& name = "");
Tensor sub(Tensor a, Tensor b, const std::string& name = "");
Tensor mul(Tensor a, Tensor b, const std::string& name = "");
Tensor div(Tensor a, Tensor b, const std::string& name = "");
inline Tensor operator+(Tensor a, Tensor b) { return add(a, b); }
inline Tensor operator-(Tensor a, Tensor b) { return sub(a, b); }
inline Tensor operator*(Tensor a, Tensor b) { return mul(a, b); }
inline Tensor operator/(Tensor a, Tensor b) { return div(a, b); }
// A scalar operand becomes an f32[1] constant, broadcast.
Tensor scalar(Tensor like, double v);
inline Tensor operator+(Tensor a, double b) { return add(a, scalar(a, b)); }
inline Tensor operator-(Tensor a, double b) { return sub(a, scalar(a, b)); }
inline Tensor operator*(Tensor a, double b) { return mul(a, scalar(a, b)); }
inline Tensor operator/(Tensor a, double b) { return div(a, scalar(a, b)); }
inline Tensor operator+(double a, Tensor b) { return add(scalar(b, a), b); }
inline Tensor operator-(double a, Tensor b) { return sub(scalar(b, a), b); }
inline Tensor operator*(double a, Tensor b) { return mul(scalar(b, a), b); }
inline Tensor operator/(double a, Tensor b) { return div(scalar(b, a), b); }

// Losses (mean over the batch, as PyTorch's defaults). target: one-hot or class
// probabilities for cross_entropy, shaped like the input for the others.
Tensor cross_entropy(Tensor logits, Tensor target, double label_smoothing = 0.0);
Tensor binary_cross_entropy(Tensor input, Tensor target, bool from_logits = false);
Tensor mse_loss(Tensor input, Tensor target);

Tensor softmax(Tensor x, int64_t axis = -1);
Tensor log_softmax(Tensor x, int64_t axis = -1);

// Activations.
Tensor identity(Tensor x);
Tensor binary_step(Tensor x);
Tensor sigmoid(Tensor x);
Tensor tanh(Tensor x);
Tensor arctan(Tensor x);
Tensor relu(Tensor x);
Tensor relu6(Tensor x);
Tensor leaky_relu(Tensor x, double alpha = 0.01);
// Learned slope: one per channel (default) or shared; initialised to 0.25 as in He et al.
Tensor prelu(Tensor x, bool per_channel = true, const std::string& name = "");
Tensor elu(Tensor x, double alpha = 1.0);
Tensor selu(Tensor x);
Tensor softplus(Tensor x, double beta = 1.0, double threshold = 20.0);
Tensor silu(Tensor x);
inline Tensor swish(Tensor x) { return silu(x); }
Tensor gelu(Tensor x, bool tanh_approximation = false);
Tensor hard_sigmoid(Tensor x);
Tensor hard_swish(Tensor x);

// Any activation by its op name ("relu", "gelu", ...), for models that take one as a
// parameter; the op's default attributes apply.
Tensor activation(const std::string& op, Tensor x);

}  // namespace strata::dsl
