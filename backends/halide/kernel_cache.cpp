// Compiled kernels: every node becomes a Halide object file linked into a shared library
// under the cache directory and loaded with dlopen; one shared Halide runtime (also cached)
// serves them all. The same path serves a first run (compile, link, load) and a second
// run (load), so the on-disk cache needs no second code path.
#include <HalideRuntime.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string_view>

#include "backends/halide/buffer_pool.h"
#include "backends/halide/halide_runtime.h"
#include "backends/halide/thread_pool.h"
#include "backends/halide/kernel_builder.h"
#include "ir/error.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"

extern char** environ;

namespace strata::halide_backend {

namespace fs = std::filesystem;

// Bump when a lowering or schedule changes, so stale kernels on disk are not reused.
constexpr int kCodegenVersion = 91;

static std::mutex g_mu;
static CacheStats g_stats;
static std::map<std::string, std::shared_ptr<const Kernel>> g_memory;

CacheStats cache_stats() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_stats;
}
void reset_cache_stats() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_stats = {};
}

std::string cache_dir() {
  if (const char* d = std::getenv("STRATA_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/strata";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/strata";
  return (fs::temp_directory_path() / "strata-cache").string();
}

// A compile's scratch files (write_atomic's and the linker's "NAME.tmpPID", the object
// "HEX.PID.o"): left behind only where a process stopped mid-compile.
static bool scratch_file(const std::string& name) {
  auto digits = [](std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == s.npos; };
  if (size_t t = name.rfind(".tmp"); t != name.npos && digits(std::string_view(name).substr(t + 4))) return true;
  if (!name.ends_with(".o")) return false;
  std::string_view stem = std::string_view(name).substr(0, name.size() - 2);
  size_t dot = stem.rfind('.');
  return dot != stem.npos && digits(stem.substr(dot + 1));
}

int codegen_version() { return kCodegenVersion; }

int prune_kernel_cache(const std::string& cache, std::chrono::hours max_age) {
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  auto stale = [&](const fs::path& p) {
    auto t = fs::last_write_time(p, ec);
    return !ec && now - t > max_age;
  };
  std::string own = fmt::format("kernels-v{}", kCodegenVersion);
  int removed = 0;
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    std::string name = e.path().filename().string();
    // (Errors are ignored: another process may be pruning the same folder.)
    if (name.starts_with("kernels-v") && name != own && e.is_directory(ec) && stale(e.path())) {
      if (fs::remove_all(e.path(), ec) != static_cast<std::uintmax_t>(-1) && !ec) ++removed;
    }
  }
  for (const auto& e : fs::directory_iterator(fs::path(cache) / own, ec))
    if (scratch_file(e.path().filename().string()) && stale(e.path()) && fs::remove(e.path(), ec)) ++removed;
  return removed;
}

static std::string kernel_dir() {
  std::string root = cache_dir(), d = root + fmt::format("/kernels-v{}", kCodegenVersion);
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw Error(fmt::format("cannot create the kernel cache directory {}: {}", d, ec.message()));
  // Once per process and folder: this version's folder marked as in use (loading kernels
  // does not change its time), then the stale rest pruned.
  static std::mutex mu;
  static std::set<std::string> pruned;
  std::lock_guard<std::mutex> lock(mu);
  if (pruned.insert(root).second) {
    fs::last_write_time(d, fs::file_time_type::clock::now(), ec);
    prune_kernel_cache(root);
  }
  return d;
}

static uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

static std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes to a temporary file, then renames: readers never see half a file.
static void write_atomic(const std::string& path, const std::string& content) {
  std::string tmp = fmt::format("{}.tmp{}", path, getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    f << content;
    if (!f) throw Error(fmt::format("cannot write {}", tmp));
  }
  fs::rename(tmp, path);
}

static void run_linker(const std::string& object, const std::string& shared) {
  const char* cc = std::getenv("STRATA_CC");
  std::string compiler = cc && *cc ? cc : "cc";
  std::vector<std::string> argv_s{compiler, "-shared", "-o", shared, object};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, compiler.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    throw Error(fmt::format("cannot run the linker '{}' (set STRATA_CC to a C compiler)", compiler));
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("linking {} into {} failed", object, shared));
}

// The Halide runtime, compiled once with CUDA support (it loads libcuda only when a CUDA
// kernel runs) and loaded globally so every kernel library binds to it.
static thread_local std::string t_last_error;
static void error_handler(void*, const char* msg) { t_last_error = msg; }
const std::string& last_runtime_error() { return t_last_error; }
void clear_runtime_error() { t_last_error.clear(); }
void set_runtime_error(const std::string& message) { t_last_error = message; }

template <typename F>
static F symbol(void* handle, const char* name, const std::string& so) {
  auto f = reinterpret_cast<F>(dlsym(handle, name));
  if (!f) throw Error(fmt::format("the Halide runtime {} has no {}", so, name));
  return f;
}

const Runtime& runtime() {
  static Runtime rt = [] {
    Runtime r;
    Halide::Target t = Halide::get_host_target().with_feature(Halide::Target::CUDA);
    std::string dir = kernel_dir();
    std::string so = fmt::format("{}/runtime-{:016x}.so", dir, fnv1a(t.to_string()));
    if (!fs::exists(so)) {
      std::string obj = fmt::format("{}.{}.o", so, getpid());
      std::string tmp = fmt::format("{}.tmp{}", so, getpid());
      try {
        Halide::compile_standalone_runtime(obj, t);
        run_linker(obj, tmp);
      } catch (...) {
        std::error_code ec;
        fs::remove(obj, ec);
        fs::remove(tmp, ec);
        throw;
      }
      fs::remove(obj);
      fs::rename(tmp, so);
    }
    r.handle = dlopen(so.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!r.handle) throw Error(fmt::format("cannot load the Halide runtime {}: {}", so, dlerror()));
    using SetHandler = void* (*)(void (*)(void*, const char*));
    if (auto set = reinterpret_cast<SetHandler>(dlsym(r.handle, "halide_set_error_handler"))) set(error_handler);
    // Kernels' internal buffers come from the pool (buffer_pool.cpp: no page faults per call).
    using SetMalloc = halide_malloc_t (*)(halide_malloc_t);
    using SetFree = halide_free_t (*)(halide_free_t);
    auto set_malloc = reinterpret_cast<SetMalloc>(dlsym(r.handle, "halide_set_custom_malloc"));
    auto set_free = reinterpret_cast<SetFree>(dlsym(r.handle, "halide_set_custom_free"));
    if (!set_malloc || !set_free) throw Error(fmt::format("the Halide runtime {} has no custom allocator hooks", so));
    set_malloc(pool_malloc);
    set_free(pool_free);
    // Parallel loops on the backend's pool of spinning workers (thread_pool.cpp).
    using SetParFor = halide_do_par_for_t (*)(halide_do_par_for_t);
    auto set_par_for = reinterpret_cast<SetParFor>(dlsym(r.handle, "halide_set_custom_do_par_for"));
    auto default_par_for = reinterpret_cast<halide_do_par_for_t>(dlsym(r.handle, "halide_default_do_par_for"));
    if (!set_par_for || !default_par_for) throw Error(fmt::format("the Halide runtime {} has no do_par_for hooks", so));
    install_thread_pool(set_par_for, default_par_for);
    r.copy_to_host = symbol<decltype(r.copy_to_host)>(r.handle, "halide_copy_to_host", so);
    r.copy_to_device = symbol<decltype(r.copy_to_device)>(r.handle, "halide_copy_to_device", so);
    r.device_malloc = symbol<decltype(r.device_malloc)>(r.handle, "halide_device_malloc", so);
    r.device_free = symbol<decltype(r.device_free)>(r.handle, "halide_device_free", so);
    r.device_sync = symbol<decltype(r.device_sync)>(r.handle, "halide_device_sync", so);
    using Interface = const halide_device_interface_t* (*)();
    r.cuda = symbol<Interface>(r.handle, "halide_cuda_device_interface", so)();
    return r;
  }();
  return rt;
}

class SharedObjectKernel : public Kernel {
 public:
  SharedObjectKernel(std::string key, void* handle, int (*fn)(void**), std::vector<std::vector<halide_dimension_t>> dims,
                     size_t outputs, bool gpu)
      : key_(std::move(key)), handle_(handle), fn_(fn), dims_(std::move(dims)), outputs_(outputs), gpu_(gpu) {}

  void run_buffers(const std::vector<BufferRef>& inputs, const std::vector<BufferRef>& outputs) const override {
    if (inputs.size() + outputs_ != dims_.size() || outputs.size() != outputs_)
      throw Error(fmt::format("kernel {}: expected {} inputs and {} outputs, got {} and {}", key_, dims_.size() - outputs_,
                              outputs_, inputs.size(), outputs.size()));
    const Runtime* rt = gpu_ ? &runtime() : nullptr;
    std::vector<halide_buffer_t> bufs(dims_.size());
    std::vector<std::vector<halide_dimension_t>> dims = dims_;  // the runtime may write to them
    std::vector<void*> args(dims_.size());
    for (size_t i = 0; i < dims_.size(); ++i) {
      const BufferRef& ref = i < inputs.size() ? inputs[i] : outputs[i - inputs.size()];
      bool input = i < inputs.size();
      halide_buffer_t& b = bufs[i];
      b = halide_buffer_t{};
      b.host = reinterpret_cast<uint8_t*>(ref.host);
      b.type = halide_type_t(halide_type_float, 32);
      b.dimensions = static_cast<int32_t>(dims[i].size());
      b.dim = dims[i].data();
      if (gpu_ && ref.device) {
        // Device-resident: the device copy is the current one, so the runtime copies nothing
        // in (and would copy out, should a host stage read it).
        b.device = ref.device;
        b.device_interface = rt->cuda;
        if (input) b.flags = halide_buffer_flag_device_dirty;
      } else if (gpu_ && input) {
        // The runtime copies an input to the device only when its host copy is marked newer;
        // without the flag the kernel reads uninitialized device memory.
        b.flags = halide_buffer_flag_host_dirty;
      }
      args[i] = &b;
    }
    clear_runtime_error();
    int rc = fn_(args.data());
    if (rc == 0 && gpu_) {
      for (size_t i = inputs.size(); i < bufs.size() && rc == 0; ++i) {
        halide_buffer_t& b = bufs[i];
        if (!outputs[i - inputs.size()].device) rc = rt->copy_to_host(nullptr, &b);
        else if (b.flags & halide_buffer_flag_host_dirty) rc = rt->copy_to_device(nullptr, &b, rt->cuda);  // (a host stage wrote it)
      }
      for (size_t i = 0; i < bufs.size(); ++i) {
        const BufferRef& ref = i < inputs.size() ? inputs[i] : outputs[i - inputs.size()];
        if (bufs[i].device && !ref.device) rt->device_free(nullptr, &bufs[i]);  // (only what the runtime allocated)
      }
    }
    if (rc != 0) throw Error(fmt::format("kernel {} failed (Halide error {}): {}", key_, rc, last_runtime_error()));
  }
  const std::string& key() const override { return key_; }

 private:
  std::string key_;
  void* handle_;
  int (*fn_)(void**);
  std::vector<std::vector<halide_dimension_t>> dims_;
  size_t outputs_;
  bool gpu_;
};

void Kernel::run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs) const {
  std::vector<BufferRef> in, out;
  for (const float* p : inputs) in.push_back({const_cast<float*>(p), 0});
  for (float* p : outputs) out.push_back({p, 0});
  run_buffers(in, out);
}

static std::vector<halide_dimension_t> dims_of(const Shape& s, const Layout& layout, const std::vector<int64_t>& strides = {}) {
  std::vector<halide_dimension_t> d;
  int32_t stride = 1;
  std::vector<int64_t> ext = physical_extents(s, layout);
  for (size_t k = 0; k < ext.size(); ++k) {
    d.push_back(halide_dimension_t(0, static_cast<int32_t>(ext[k]), strides.empty() ? stride : static_cast<int32_t>(strides[k])));
    stride *= static_cast<int32_t>(ext[k]);
  }
  return d;
}

// The layouts of a group's outputs: the caller's for the first, row-major for a sibling
// reduction's [2, C], the first's for a pointwise sibling's (ir/fusion_group.h).
static std::vector<Layout> output_layouts(const NodeGroup& group, const Layout& out_layout) {
  std::vector<Layout> layouts{out_layout};
  auto outputs = ir::group_outputs(group);
  bool pointwise = ir::is_pointwise_sibling_op(*group.back());
  for (size_t i = 1; i < outputs.size(); ++i) layouts.push_back(pointwise ? out_layout : row_major(outputs[i]->type.rank()));
  return layouts;
}

// Everything the generated code depends on: each member's op and attributes (annotations
// left out: they name groups and buffers, not computations), which input it chains on,
// the external inputs' types and layouts, the output's, the target and the schedule.
static std::string kernel_key(const NodeGroup& group, const std::vector<Layout>& in_layouts, const Layout& out_layout,
                              const Options& o, const std::vector<int64_t>& out_strides) {
  std::string k = fmt::format("v{}", kCodegenVersion);
  for (size_t m = 0; m < group.size(); ++m) {
    const ir::Node& n = *group[m];
    k += fmt::format("|{}", n.op);
    if (ir::is_prologue(n)) k += "^";
    if (ir::is_sibling(n)) k += "+";
    if (m > 0) k += fmt::format("<{}", ir::chained_input(group, m));
    if (int pi = ir::prologue_input(group, m); pi >= 0 && m > ir::anchor_index(group)) k += fmt::format("^{}", pi);
    k += "|";
    for (auto& [name, a] : n.attrs)
      if (!ir::is_annotation(name)) k += name + "=" + ir::attr_str(a) + ";";
    // (The forward's and input gradient's Winograd show in their weight's layout; the weight
    // gradient's plan depends on the options' limits too.)
    if (WinogradGradPlan wp = winograd_weight_grad_plan(n, o); wp.m)
      k += fmt::format("winograd{}:{}x{}/{};", wp.m, wp.chunk, wp.chunks, wp.groups);
  }
  auto inputs = ir::group_inputs(group);
  for (size_t i = 0; i < inputs.size(); ++i) k += fmt::format("|{}@{}", inputs[i]->type.str(), layout_str(in_layouts[i]));
  auto outputs = ir::group_outputs(group);
  auto layouts = output_layouts(group, out_layout);
  k += "|->";
  for (size_t i = 0; i < outputs.size(); ++i) k += fmt::format("{}{}@{}", i ? "," : "", outputs[i]->type.str(), layout_str(layouts[i]));
  k += fmt::format("|{}|{}", compiled_target(o), o.schedule);
  if (!out_strides.empty()) k += fmt::format("|strides {}", fmt::join(out_strides, ","));
  return k;
}

static void compile_object(BuiltPipeline b, const std::string& fn, const std::string& obj) {
  std::map<Halide::OutputFileType, std::string> outputs{{Halide::OutputFileType::object, obj}};
  // For schedule work: STRATA_DUMP_KERNELS=DIR also writes each compiled kernel's loop nest
  // (.stmt) and assembly (.s) there, named like the kernel.
  if (const char* d = std::getenv("STRATA_DUMP_KERNELS"); d && *d) {
    outputs[Halide::OutputFileType::stmt] = fmt::format("{}/{}.stmt", d, fn);
    outputs[Halide::OutputFileType::assembly] = fmt::format("{}/{}.s", d, fn);
  }
  try {
    b.pipeline.compile_to(outputs, b.args, fn, b.target.with_feature(Halide::Target::NoRuntime));
  } catch (const Halide::Error& e) {
    throw Error(fmt::format("halide backend: compiling {} failed: {}", fn, e.what()));
  }
}

std::shared_ptr<const Kernel> get_kernel(const NodeGroup& group, const std::vector<Layout>& in_layouts,
                                         const Layout& out_layout, const Options& o,
                                         const std::vector<int64_t>& out_strides) {
  std::string key = kernel_key(group, in_layouts, out_layout, o, out_strides);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (auto it = g_memory.find(key); it != g_memory.end()) {
      ++g_stats.memory_hits;
      return it->second;
    }
  }
  runtime();  // kernels bind to it when loaded
  std::string hex = fmt::format("{:016x}", fnv1a(key));
  std::string fn = "strata_k" + hex;
  std::string dir = kernel_dir();
  std::string so = dir + "/" + hex + ".so", key_file = dir + "/" + hex + ".key";
  auto t0 = std::chrono::steady_clock::now();
  bool from_disk = o.use_disk_cache && fs::exists(so) && fs::exists(key_file) && read_file(key_file) == key;
  if (!from_disk) {
    BuiltPipeline b = build_pipeline(group, in_layouts, out_layout, o, out_strides);
    std::string obj = fmt::format("{}/{}.{}.o", dir, hex, getpid());
    std::string tmp = fmt::format("{}.tmp{}", so, getpid());
    try {
      compile_object(b, fn, obj);
      run_linker(obj, tmp);
    } catch (...) {
      std::error_code ec;  // (no scratch file left behind by a failed compile or link)
      fs::remove(obj, ec);
      fs::remove(tmp, ec);
      throw;
    }
    fs::remove(obj);
    fs::rename(tmp, so);
    write_atomic(key_file, key);
  }
  void* handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw Error(fmt::format("cannot load kernel {}: {}", so, dlerror()));
  auto entry = reinterpret_cast<int (*)(void**)>(dlsym(handle, (fn + "_argv").c_str()));
  if (!entry) throw Error(fmt::format("kernel library {} lacks {}_argv", so, fn));
  std::vector<std::vector<halide_dimension_t>> dims;
  // The kernel's shapes (kernel_shapes may read an image's positions as other rows).
  KernelShapes ks = kernel_shapes(group, in_layouts, out_layout, o, out_strides);
  for (size_t i = 0; i < ks.inputs.size(); ++i) dims.push_back(dims_of(ks.inputs[i], in_layouts[i]));
  auto layouts = output_layouts(group, out_layout);
  for (size_t i = 0; i < ks.outputs.size(); ++i)
    dims.push_back(dims_of(ks.outputs[i], layouts[i], i == 0 ? out_strides : std::vector<int64_t>{}));
  bool gpu = parse_target(o.target).has_gpu_feature();
  auto k = std::make_shared<SharedObjectKernel>(key, handle, entry, std::move(dims), ks.outputs.size(), gpu);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> lock(g_mu);
  if (from_disk) ++g_stats.disk_hits, g_stats.load_seconds += secs;
  else ++g_stats.compiled, g_stats.compile_seconds += secs;
  g_memory[key] = k;
  return k;
}

void clear_memory_cache() {
  // Libraries stay loaded (kernels in use may point into them); lookups start afresh.
  std::lock_guard<std::mutex> lock(g_mu);
  g_memory.clear();
}

void compile_only(const NodeGroup& group, const Options& o, const std::string& object_path) {
  std::vector<Layout> in_layouts;
  for (size_t i = 0; i < group[0]->inputs.size(); ++i) in_layouts.push_back(preferred_layout(*group[0], static_cast<int>(i), o.target));
  auto inputs = ir::group_inputs(group);
  for (size_t i = in_layouts.size(); i < inputs.size(); ++i) in_layouts.push_back(default_layout(inputs[i]->type.rank()));
  BuiltPipeline b = build_pipeline(group, in_layouts, default_layout(ir::group_outputs(group)[0]->type.rank()), o);
  compile_object(b, "strata_compile_only", object_path);
}

void compile_only(const ir::Node& n, const Options& o, const std::string& object_path) {
  compile_only(NodeGroup{&n}, o, object_path);
}

bool gpu_available() {
  static const bool available = [] {
    void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return false;
    using Init = int (*)(unsigned);
    using Count = int (*)(int*);
    auto init = reinterpret_cast<Init>(dlsym(h, "cuInit"));
    auto count = reinterpret_cast<Count>(dlsym(h, "cuDeviceGetCount"));
    int n = 0;
    return init && count && init(0) == 0 && count(&n) == 0 && n > 0;
  }();
  return available;
}

}  // namespace strata::halide_backend
