#pragma once
// The Halide backend's public face: compiled kernels for single nodes, keyed and cached.
// No Halide type appears here (DESIGN.md: Halide stays inside backends/halide).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace strata::halide_backend {

// Physical layout of a tensor: Halide dimension k (0 = innermost, stride 1) holds logical
// axis perm[k]. The IR is NCHW; activations are stored channels-last, as PyTorch's
// channels_last memory format does, so convolutions vectorize over channels.
// A blocked layout (block > 0) splits its innermost axis a = layout[0] in blocks: dimension
// 0 holds a % block, dimensions 1 .. r-1 hold layout[1 ..] as before, and one more, the
// outermost, holds a / block. That is oneDNN's blocked weight format (OIhw16o and kin): a
// convolution's register tile of `block` output channels then streams its whole filter
// from one contiguous run of memory.
// A Winograd layout (winograd = m, 2 or 4, winograd.cpp) holds a 3x3 conv weight
// [Co, Ci, 3, 3] transformed for F(m x m, 3x3): U(co % block, ci, e, co / block), e =
// xi + (m + 2) * nu the (m + 2)^2 positions of G g G^T; computed from the weight (a static
// kernel), never read back. Transposed, it holds the same transform of the weight that
// conv2d_backward_input reads: the input gradient of a 3x3, stride-1, pad-1 convolution is
// the 3x3 convolution of dy with W'[ci, co, ky, kx] = W[co, ci, 2 - ky, 2 - kx], stored as
// U(ci % block, co, e, ci / block).
struct Layout : std::vector<int> {
  using std::vector<int>::vector;
  int block = 0;
  int winograd = 0;
  bool transposed = false;  // (Winograd layouts only)
  int physical_rank() const { return winograd ? 4 : static_cast<int>(size()) + (block > 0 ? 1 : 0); }
  friend bool operator==(const Layout&, const Layout&) = default;
  friend auto operator<=>(const Layout&, const Layout&) = default;
};
// The extents of the physical dimensions of a tensor of logical `shape` stored in `layout`
// (throws strata::Error when a block does not divide its axis).
std::vector<int64_t> physical_extents(const Shape& shape, const Layout& layout);
// Floats a buffer of `shape` in `layout` holds: the product of its physical extents (more
// than the shape's elements for a Winograd layout).
int64_t physical_elements(const Shape& shape, const Layout& layout);
Layout blocked(Layout l, int block);
Layout row_major(int rank);           // {r-1, ..., 0}
Layout channels_last();               // {1, 3, 2, 0}: C innermost, then W, H, N
Layout default_layout(int rank);      // channels_last for rank 4, row_major otherwise
// Whether an op's input is read much faster in its preferred layout (conv and linear
// weights); other consumers (gradient ops, optimizer updates) read any layout.
bool has_layout_preference(const ir::Node& n, int input);
// The layout this backend wants for input `i` of node `n` on `target` (a Halide target
// string): conv weights with the output channel innermost, {0, 3, 2, 1}, blocked by the
// CPU schedule's register tile of output channels, and on the CPU with each tap's input
// channels together, {0, 1, 3, 2}, where its schedule sums them innermost (filters of 1 MiB
// or less); default_layout when it has no preference.
Layout preferred_layout(const ir::Node& n, int i, const std::string& target = "host");
std::string layout_str(const Layout& l);
// Copies between a row-major (logical) HostTensor and a buffer in `layout`.
void to_layout(const HostTensor& src, const Layout& layout, float* dst);
void from_layout(const float* src, const Layout& layout, HostTensor& dst);

struct Options {
  std::string target = "host";      // a Halide target string: host, host-cuda, x86-64-linux-avx2, ...
  std::string schedule = "manual";  // manual, or auto:Adams2019 / auto:Li2018 / auto:Mullapudi2016
  bool use_disk_cache = true;
  bool winograd = true;  // 3x3 stride-1 convolutions as Winograd F(4x4) / F(2x2, 3x3) where they apply (CPU, manual)
  // Whether the CPU's 512-bit FMAs run at half rate (host_cpu.h); unset: the host's for a
  // host target, full rate for any other. Winograd then also takes the convolutions whose
  // transformed weight streams from memory at every run.
  std::optional<bool> half_width_fma;
  // Limits of a Winograd weight gradient's plan (winograd.cpp, winograd_weight_grad_plan):
  // the groups' partial Ms together, and the whole batch's transforms where one chunk takes
  // it all. Tuning knobs (tests lower them to reach every plan at small sizes).
  int64_t winograd_max_part_bytes = int64_t{8} << 20;
  int64_t winograd_max_batch_transform_bytes = int64_t{64} << 20;
};
void check_options(const Options& o);  // throws strata::Error on a bad target or schedule
// Options::half_width_fma as the lowerings read it: the option where set, else the host's
// for a host target, else false.
bool half_width_fma(const Options& o);
// What a kernel is compiled for, as its cache key holds it: the target with "host" resolved
// to this machine's features (Halide's full target string), and the host facts the lowerings
// read. A cache folder shared by machines (a network home, a CI cache restored on another
// runner) then never hands one machine's kernels to another that lacks their instructions.
std::string compiled_target(const Options& o);
// The Winograd layout for conv2d `n`'s weight where its kernel computes it as Winograd
// F(m x m, 3x3) (Lavin & Gray 2015; m = 4 where 4 divides the image, else 2): a 3x3,
// stride-1, pad-1, undilated, ungrouped conv on a CPU target with the manual schedule and
// channel counts in vectors, whose transformed weight is small or met by enough tiles a run
// (see half_width_fma); an empty Layout where it does not apply (winograd.cpp). For a
// conv2d_backward_input of such a convolution, the transposed Winograd layout (its dx
// computed as that Winograd convolution of dy). weight_static: false where the weight
// changes at every run (a training step's), so its transform is paid at every run too.
Layout winograd_weight_layout(const ir::Node& n, const Options& o, bool weight_static = true);
// How conv2d_backward_weight `n` is computed (winograd.cpp): as Winograd F(m x m, 3x3)
// where m > 0 (the weight gradient of a convolution winograd_weight_layout takes, by the
// same rules), its batch's tiles summed in `chunks` chunks of `chunk` tiles, each
// transformed as it is summed, into `groups` partial sums computed in parallel (one chunk:
// every tile's transforms first; one group: the chunks in turn, each added into the one M
// by tasks over its channel blocks); m = 0: direct.
struct WinogradGradPlan {
  int m = 0;
  int64_t chunk = 0, chunks = 0;
  int groups = 0;
};
WinogradGradPlan winograd_weight_grad_plan(const ir::Node& n, const Options& o);
// Its m (0: direct).
int winograd_weight_grad_m(const ir::Node& n, const Options& o);

// Where one of a kernel's buffers lives: its host memory and, on a GPU target, the device
// address of the same tensor (0 when it has none: the kernel then copies the host data to
// the device and its outputs back, per call).
struct BufferRef {
  float* host = nullptr;
  uint64_t device = 0;
};

// The message of the last error the Halide runtime reported on this thread ("" after
// clear); a Kernel's failure quotes it. set_runtime_error records one (the runtime's error
// handler; the thread pool hands a worker's to the thread whose parallel loop it ran).
const std::string& last_runtime_error();
void clear_runtime_error();
void set_runtime_error(const std::string& message);

// One compiled kernel: a node specialised to its shapes, layouts, target and schedule.
class Kernel {
 public:
  virtual ~Kernel() = default;
  // Buffers are in the layouts the kernel was compiled for; outputs in the order of
  // ir::group_outputs (two for a group ending in a sibling reduction, its [2, C] row-major).
  // Buffers with a device address are read and written there only: on return the device
  // holds the outputs and their host memory is stale.
  virtual void run_buffers(const std::vector<BufferRef>& inputs, const std::vector<BufferRef>& outputs) const = 0;
  void run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs) const;
  void run(const std::vector<const float*>& inputs, float* output) const { run(inputs, std::vector<float*>{output}); }
  virtual const std::string& key() const = 0;
};

// Device memory for a host buffer of n floats on a GPU target (CUDA): the executable keeps
// its tensors there between kernels, so that a kernel launch copies nothing; the host copy
// is brought up to date on request.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t n);  // throws strata::Error when the device cannot allocate
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  uint64_t address(int64_t offset = 0) const;  // the device address of float `offset`
  void upload(const float* host);  // host[0, size()) -> device
  void download(float* host);      // device -> host[0, size())
  int64_t size() const;
  // Waits until every kernel launched on the device has finished (kernels run
  // asynchronously: timing one kernel needs it).
  void synchronize();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One node, or a fusion group (anchor first, ir/fusion_group.h) compiled as one kernel.
using NodeGroup = std::vector<const ir::Node*>;
// Kernel for a group (inputs: ir::group_inputs(group) in `in_layouts`, output: the last
// member's, in `out_layout`): from the in-process cache, the on-disk cache, or compiled now.
// out_strides (per physical dimension, in floats), when given, make the output a strided
// view into a larger buffer (fold-concat: a producer writing straight into its slice of a
// concatenation); the caller passes the view's first element as the output pointer.
std::shared_ptr<const Kernel> get_kernel(const NodeGroup& group, const std::vector<Layout>& in_layouts,
                                         const Layout& out_layout, const Options& o,
                                         const std::vector<int64_t>& out_strides = {});
inline std::shared_ptr<const Kernel> get_kernel(const ir::Node& n, const std::vector<Layout>& in_layouts,
                                                const Layout& out_layout, const Options& o) {
  return get_kernel(NodeGroup{&n}, in_layouts, out_layout, o);
}
// The shapes a group's kernel is compiled for, one per ir::group_inputs(group) and one per
// ir::group_outputs(group): the values' own, except that a 1x1, stride-1 convolution's
// kernel may read an image's H x W positions as rows of another width (the same
// channels-last memory), where its register tile of positions fits those rows better.
struct KernelShapes {
  std::vector<Shape> inputs, outputs;
};
KernelShapes kernel_shapes(const NodeGroup& group, const std::vector<Layout>& in_layouts, const Layout& out_layout,
                           const Options& o, const std::vector<int64_t>& out_strides = {});
// Compiles the node's pipeline to an object file only (CUDA code generation tests on
// machines without a GPU). Throws on failure.
void compile_only(const ir::Node& n, const Options& o, const std::string& object_path);
void compile_only(const NodeGroup& group, const Options& o, const std::string& object_path);

bool has_lowering(const std::string& op);
bool gpu_available();  // a CUDA device answered

struct CacheStats {
  int memory_hits = 0, disk_hits = 0, compiled = 0;
  double compile_seconds = 0, load_seconds = 0;
};
CacheStats cache_stats();
void reset_cache_stats();
std::string cache_dir();  // $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else ~/.cache/strata
int codegen_version();  // the kernel folder's version: kernels-vN
// Removes from `cache` what no build will load again once untouched for `max_age`: the
// folders of other codegen versions' kernels (a build marks its own as used when it first
// opens it in a process) and the scratch files of compiles that were interrupted. Returns
// how many entries went. Every process runs it once on the cache folder it opens.
int prune_kernel_cache(const std::string& cache, std::chrono::hours max_age = std::chrono::hours(24 * 7));
void clear_memory_cache();

}  // namespace strata::halide_backend
