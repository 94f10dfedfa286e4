// Whole models compiled with the Halide backend equal the reference backend; the kernel
// cache reuses kernels in memory and on disk; autoschedulers; run-time errors.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "backends/halide/buffer_pool.h"
#include "backends/halide/halide_backend.h"
#include "examples/examples.h"
#include "ir/error.h"
#include "ir/text_format.h"
#include "tests/helpers.h"

using namespace strata;
using Catch::Matchers::Contains;
namespace hb = strata::halide_backend;

TEST_CASE("example models: Halide CPU equals the reference at batch 1 and 3", "[executable]") {
  for (auto build : {examples::small_resnet, examples::lenet}) {
    dsl::Model m = build(10);
    for (int64_t batch : {1, 3}) {
      m.graph().set_batch_size(batch);
      testing::check_against_reference(m.graph(), "host", 11);
    }
  }
}

TEST_CASE("identical kernels compile once then a second compile loads them from disk", "[executable][cache]") {
  dsl::Model m = examples::small_resnet(10);
  hb::clear_memory_cache();  // (another test in this process may have compiled the same kernels)
  runtime::Executable first(m.graph(), {});
  const auto& r1 = first.report();
  // -O2: bn-fold removes the batch norms, conv + ReLU (+ residual add) run as one kernel.
  CHECK(r1.kernels - r1.winograd_convs < static_cast<int>(m.graph().nodes().size()));  // (each Winograd weight: a static kernel)
  CHECK(r1.fused_groups > 0);
  CHECK(r1.distinct_kernels < r1.kernels);  // ResNet repeats its blocks
  CHECK(r1.compiled + r1.loaded_from_disk == r1.distinct_kernels);
  hb::clear_memory_cache();
  runtime::Executable second(m.graph(), {});
  CHECK(second.report().compiled == 0);
  CHECK(second.report().loaded_from_disk == second.report().distinct_kernels);
  runtime::Executable third(m.graph(), {});
  CHECK(third.report().reused_in_memory == third.report().kernels);
}

// A kernel's cache key holds what it was compiled for: "host" resolved to this machine's
// features, so a cache folder shared with another machine (a network home, a CI cache
// restored on another runner) never hands this one's AVX-512 kernels to a CPU without them.
TEST_CASE("kernels for the host are keyed by its features: the host's full target name shares them", "[executable][cache]") {
  hb::Options host;
  host.half_width_fma = false;  // (on a Zen 4 host, "host" would add it; the named target would not)
  std::string named = hb::compiled_target(host);
  CHECK(named != "host");
  CHECK(named.find("host") == std::string::npos);
  hb::Options avx2;
  avx2.target = "x86-64-linux-avx2-fma";
  CHECK(hb::compiled_target(avx2) != named);
  hb::Options zen4 = host;
  zen4.half_width_fma = true;
  CHECK(hb::compiled_target(zen4) != named);  // Winograd's rule differs there: another kernel

  dsl::Model m = examples::lenet(10);
  runtime::CompileOptions o;
  o.halide = host;
  hb::clear_memory_cache();
  runtime::Executable first(m.graph(), o);
  o.halide.target = named;
  hb::clear_memory_cache();
  runtime::Executable second(m.graph(), o);
  CHECK(second.report().compiled == 0);
  CHECK(second.report().loaded_from_disk == second.report().distinct_kernels);
}

TEST_CASE("the kernel cache prunes other versions' folders and interrupted compiles' files once stale",
          "[executable][cache]") {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("strata-prune-test-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::path own = root / ("kernels-v" + std::to_string(hb::codegen_version()));
  auto make = [](const fs::path& p, int days_old) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
    fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(24 * days_old));
  };
  auto age_dir = [](const fs::path& p, int days_old) {
    fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(24 * days_old));
  };
  make(root / "kernels-v1" / "0a.so", 30);
  age_dir(root / "kernels-v1", 8);  // another version, untouched for 8 days: goes
  make(root / "kernels-v2" / "0b.so", 30);
  age_dir(root / "kernels-v2", 2);  // touched 2 days ago: stays
  make(root / "kernels-v3", 30);    // a file, not a version's folder: stays
  make(root / "notes.txt", 30);
  make(own / "0c.so", 30);          // this version's kernels stay, however old
  make(own / "0c.so.tmp4242", 8);   // an interrupted link: goes
  make(own / "0c.4242.o", 8);       // an interrupted compile's object: goes
  make(own / "0d.so.tmp4243", 0);   // a compile under way: stays
  make(own / "0e.tmpx", 8);         // not a scratch name: stays
  age_dir(own, 30);
  CHECK(hb::prune_kernel_cache(root.string()) == 3);
  CHECK_FALSE(fs::exists(root / "kernels-v1"));
  for (const char* kept : {"kernels-v2/0b.so", "kernels-v3", "notes.txt"}) CHECK(fs::exists(root / kept));
  CHECK_FALSE(fs::exists(own / "0c.so.tmp4242"));
  CHECK_FALSE(fs::exists(own / "0c.4242.o"));
  for (const char* kept : {"0c.so", "0d.so.tmp4243", "0e.tmpx"}) CHECK(fs::exists(own / kept));
  CHECK(hb::prune_kernel_cache(root.string()) == 0);
  CHECK(hb::prune_kernel_cache((root / "missing").string()) == 0);  // no such folder: nothing to do
  fs::remove_all(root);
}

TEST_CASE("layouts convert losslessly at the edges of the graph", "[executable][layout]") {
  HostTensor t = testing::random_tensor({2, 3, 4, 5}, 9);
  for (hb::Layout l : {hb::channels_last(), hb::row_major(4), hb::Layout{0, 3, 2, 1}}) {
    std::vector<float> buf(t.data.size());
    hb::to_layout(t, l, buf.data());
    HostTensor back({2, 3, 4, 5});
    hb::from_layout(buf.data(), l, back);
    CHECK(back.data == t.data);
  }
  std::vector<float> buf(t.data.size());
  hb::to_layout(t, hb::channels_last(), buf.data());
  CHECK(buf[1] == t.data[20]);  // channel 1 of pixel (0, 0) sits next to channel 0
}

// The copies walk 16 x 16 tiles of the two contiguous axes: shapes past a tile, ragged
// edges, axes of extent 1, and a layout whose innermost axis is the row-major one.
TEST_CASE("layouts place every element where its strides say, past a copy tile", "[executable][layout]") {
  for (Shape s : {Shape{2, 20, 3, 17}, Shape{1, 35, 1, 18}, Shape{3, 1, 33, 1}, Shape{1, 1, 1, 1}}) {
    HostTensor t = testing::random_tensor(s, 5);
    std::vector<float> buf(t.data.size());
    hb::to_layout(t, hb::channels_last(), buf.data());  // physical [N][H][W][C]
    bool placed = true;
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t c = 0; c < s[1]; ++c)
        for (int64_t y = 0; y < s[2]; ++y)
          for (int64_t x = 0; x < s[3]; ++x)
            placed = placed && buf[((n * s[2] + y) * s[3] + x) * s[1] + c] == t.data[((n * s[1] + c) * s[2] + y) * s[3] + x];
    CHECK(placed);
    HostTensor back(s);
    hb::from_layout(buf.data(), hb::channels_last(), back);
    CHECK(back.data == t.data);
  }
  HostTensor m = testing::random_tensor({19, 37}, 6);  // a linear weight stored transposed
  std::vector<float> buf(m.data.size());
  hb::to_layout(m, hb::Layout{0, 1}, buf.data());
  CHECK(buf[5 + 19 * 30] == m.data[5 * 37 + 30]);
  hb::to_layout(m, hb::row_major(2), buf.data());
  CHECK(buf == m.data);
}

TEST_CASE("a blocked layout splits its innermost axis into blocks", "[executable][layout]") {
  // A conv weight [O=6, I=2, KH=1, KW=2] in {0, 3, 2, 1} blocked by 3: [O/3][I][KH][KW][3].
  HostTensor w = testing::random_tensor({6, 2, 1, 2}, 4);
  hb::Layout l = hb::blocked({0, 3, 2, 1}, 3);
  CHECK(hb::physical_extents(w.shape, l) == std::vector<int64_t>{3, 2, 1, 2, 2});
  CHECK(hb::layout_str(l) == "0321b3");
  CHECK(l != hb::Layout{0, 3, 2, 1});
  std::vector<float> buf(w.data.size());
  hb::to_layout(w, l, buf.data());
  // Element (o=4, i=1, ky=0, kx=1): block 1, o % 3 = 1 -> 1 + 3 * (kx + 2 * (ky + 1 * i)) + 12 * 1.
  CHECK(buf[1 + 3 * (1 + 2 * (0 + 1 * 1)) + 12] == w.data[((4 * 2 + 1) * 1 + 0) * 2 + 1]);
  HostTensor back(w.shape);
  hb::from_layout(buf.data(), l, back);
  CHECK(back.data == w.data);
  CHECK_THROWS_WITH(hb::physical_extents({5, 2, 1, 2}, l), Catch::Contains("block 3 does not divide axis 0 of extent 5"));
}

TEST_CASE("conv weights are blocked on the CPU in their tiles' reading order and plain on CUDA", "[executable][layout]") {
  dsl::Model m("blocked");
  dsl::Tensor x = m.input("x", {1, 64, 7, 7});
  dsl::Tensor h = dsl::conv2d(x, 512, 3, {.padding = 1, .bias = false});  // 1.2 MB: taps innermost
  m.output("y", dsl::conv2d(h, 32, 3, {.padding = 1, .bias = false}));   // 0.6 MB: input channels innermost
  const ir::Node& large = *m.graph().nodes()[m.graph().nodes().size() - 2];
  const ir::Node& small = *m.graph().nodes().back();
  hb::Layout cpu = hb::preferred_layout(large, 1, "x86-64-linux-avx512");
  CHECK(cpu.block == 32);  // 2 vectors of 16 output channels by 7 columns
  CHECK(static_cast<const std::vector<int>&>(cpu) == std::vector<int>{0, 3, 2, 1});
  // Each tap's input channels together: the order of a reduction over them.
  CHECK(static_cast<const std::vector<int>&>(hb::preferred_layout(small, 1, "x86-64-linux-avx512")) ==
        std::vector<int>{0, 1, 3, 2});
  for (const ir::Node* n : {&large, &small}) {
    hb::Layout gpu = hb::preferred_layout(*n, 1, "host-cuda");
    CHECK(gpu.block == 0);
    CHECK(static_cast<const std::vector<int>&>(gpu) == std::vector<int>{0, 3, 2, 1});
  }
  // The executable stores the parameters blocked and still returns them in NCHW.
  runtime::Executable exe(m.graph(), {});
  runtime::ParameterStore p = runtime::ParameterStore::initialize(m.graph(), 3);
  exe.set_parameters(p);
  CHECK(exe.parameters().at("conv1.weight").data == p.at("conv1.weight").data);
  CHECK(exe.parameters().at("conv2.weight").data == p.at("conv2.weight").data);
}

TEST_CASE("autoschedulers compile kernels that match the reference", "[executable][autoschedule]") {
  dsl::Model m("auto");
  {
    using namespace dsl;
    Tensor x = m.input("x", {1, 8, 10, 10});
    m.output("y", relu(conv2d(x, 16, 3, {.padding = 1})));
  }
  for (const char* s : {"auto:Mullapudi2016", "auto:Adams2019", "auto:Li2018"}) {
    INFO("schedule " << s);
    testing::check_against_reference(m.graph(), "host", 5, -1, 1, s);
  }
}

TEST_CASE("bad options and inputs raise clear errors", "[executable][errors]") {
  dsl::Model m = examples::lenet(10);
  runtime::CompileOptions bad;
  bad.halide.target = "not-a-target";
  CHECK_THROWS_WITH(runtime::Executable(m.graph(), bad), Contains("bad Halide target 'not-a-target'"));
  bad.halide.target = "host";
  bad.halide.schedule = "auto:Nobody2030";
  CHECK_THROWS_WITH(runtime::Executable(m.graph(), bad), Contains("bad schedule"));
  runtime::Executable exe(m.graph(), {});
  CHECK_THROWS_WITH(exe.run({{"image", HostTensor({1, 1, 28, 28})}}), Contains("set_parameters"));
  exe.set_parameters(runtime::ParameterStore::initialize(m.graph(), 0));
  CHECK_THROWS_WITH(exe.run({{"image", HostTensor({1, 1, 27, 28})}}), Contains("[1, 1, 27, 28]") && Contains("expects"));
  CHECK_THROWS_WITH(exe.run({{"img", HostTensor({1, 1, 28, 28})}}), Contains("no input named 'img'"));
  CHECK_THROWS_WITH(runtime::backend_from_name("tpu"), Contains("unknown backend 'tpu'"));
}

// Kernels' internal buffers come from a pool (backends/halide/buffer_pool.cpp): a block of a
// pooled size freed and asked for again is the same memory; small blocks are not kept.
TEST_CASE("the buffer pool hands a freed block of the same size back, aligned", "[executable][pool]") {
  hb::PoolStats before = hb::pool_stats();
  void* a = hb::pool_malloc(nullptr, 299000);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(a) % 128 == 0);
  static_cast<char*>(a)[298999] = 1;  // the whole block is writable
  hb::pool_free(nullptr, a);
  CHECK(hb::pool_stats().cached_bytes >= before.cached_bytes + 299000);
  void* b = hb::pool_malloc(nullptr, 296000);  // the same size class (73 pages of 4 KiB)
  CHECK(b == a);
  CHECK(hb::pool_stats().reused == before.reused + 1);
  CHECK(hb::pool_stats().cached_bytes == before.cached_bytes);
  hb::pool_free(nullptr, b);
  void* small = hb::pool_malloc(nullptr, 1000);
  CHECK(reinterpret_cast<uintptr_t>(small) % 128 == 0);
  hb::pool_free(nullptr, small);
  CHECK(hb::pool_stats().cached_bytes == before.cached_bytes + 73 * 4096);
  hb::pool_release();
  CHECK(hb::pool_stats().cached_bytes == 0);
  hb::pool_free(nullptr, nullptr);  // as free(NULL)
}

// The kernel cache installs the pool in the Halide runtime: a Winograd convolution's
// transformed tiles (36 x 64 tiles x 16 channels, 147 KiB, twice) are allocated at every run,
// and from the second run on they are the blocks the first one freed.
TEST_CASE("kernels allocate their internal buffers from the pool", "[executable][pool]") {
  dsl::Model m("pooled");
  {
    using namespace dsl;
    Tensor x = m.input("x", {1, 16, 32, 32});
    m.output("y", conv2d(x, 16, 3, {.padding = 1}));
  }
  runtime::Executable exe(m.graph(), {});
  REQUIRE(exe.report().winograd_convs == 1);
  exe.set_parameters(testing::random_parameters(m.graph(), 1));
  auto x = testing::random_inputs(m.graph(), 2);
  exe.run(x);
  hb::PoolStats before = hb::pool_stats();
  exe.run(x);
  exe.run(x);
  hb::PoolStats after = hb::pool_stats();
  CHECK(after.reused >= before.reused + 2);
  CHECK(after.fresh == before.fresh);
}

// parameters_finite and first_nonfinite (the trainer's divergence checks) find a NaN or an
// infinity anywhere: in any block of a parameter's scan, either sign, on both backends.
TEST_CASE("a NaN or an infinity in a parameter or a node's output is found", "[executable][errors]") {
  ir::Graph g = ir::parse(R"IR(graph scan {
  input %x : f32[1, 5000]
  param %w : f32[5000] init zeros
  %y = mul(%x, %w) : f32[1, 5000]
  %z = relu(%y) : f32[1, 5000]
  output "y" = %y
  output "z" = %z
})IR");
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (auto backend : {runtime::Backend::Halide, runtime::Backend::Reference}) {
    runtime::CompileOptions o;
    o.backend = backend;
    runtime::Executable e(g, o);
    for (auto [at, bad] : {std::pair{0, nan}, {4095, inf}, {4096, -inf}, {4999, nan}}) {
      runtime::ParameterStore p;
      HostTensor w({5000}, 1.f);
      w.data[at] = bad;
      p.set("w", w);
      e.set_parameters(p);
      INFO((backend == runtime::Backend::Halide ? "halide" : "reference") << ": w[" << at << "] = " << bad);
      CHECK_FALSE(e.parameters_finite());
      HostTensor x({1, 5000}, 1.f);
      e.run({{"x", x}});
      CHECK(e.first_nonfinite() == "y");
    }
    runtime::ParameterStore p;
    p.set("w", HostTensor({5000}, 1.f));
    e.set_parameters(p);
    CHECK(e.parameters_finite());
    e.run({{"x", HostTensor({1, 5000}, 2.f)}});
    CHECK(e.first_nonfinite() == "");
  }
}

TEST_CASE("the profile counts each kernel's calls per op kind or per node, and forgets them on reset", "[executable]") {
  ir::Graph g = ir::parse(R"IR(graph prof {
  input %x : f32[2, 64]
  param %w : f32[64] init ones
  %y = mul(%x, %w) : f32[2, 64]
  %z = relu(%y) : f32[2, 64]
  %u = relu(%x) : f32[2, 64]
  output "z" = %z
  output "u" = %u
})IR");
  runtime::ParameterStore p;
  p.set("w", HostTensor({64}, 1.f));
  NamedTensors in{{"x", testing::random_tensor({2, 64}, 3)}};
  auto calls = [](const std::vector<runtime::OpProfile>& prof) {
    std::map<std::string, int64_t> c;
    double seconds = 0;
    for (const auto& e : prof) c[e.op] = e.calls, seconds += e.seconds;
    CHECK(seconds > 0);
    return c;
  };
  runtime::CompileOptions o;
  o.passes.pipeline = "-O0";  // each node its own kernel
  {
    runtime::Executable plain(g, o);
    plain.set_parameters(p);
    plain.run(in);
    CHECK(plain.profile().empty());  // not asked for
  }
  o.profile = true;
  runtime::Executable kinds(g, o);
  kinds.set_parameters(p);
  for (int r = 0; r < 3; ++r) kinds.run(in);
  CHECK(calls(kinds.profile()) == std::map<std::string, int64_t>{{"mul", 3}, {"relu", 6}});
  kinds.reset_profile();
  kinds.run(in);
  CHECK(calls(kinds.profile()) == std::map<std::string, int64_t>{{"mul", 1}, {"relu", 2}});
  o.profile_nodes = true;
  runtime::Executable nodes(g, o);
  nodes.set_parameters(p);
  nodes.run(in);
  nodes.run(in);
  CHECK(calls(nodes.profile()) ==
        std::map<std::string, int64_t>{{"mul y f32[2, 64]", 2}, {"relu z f32[2, 64]", 2}, {"relu u f32[2, 64]", 2}});
}
