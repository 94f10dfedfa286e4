#!/usr/bin/env python3
"""Zoo inference side by side: Strata (build/bench/bench_models, fused: -O2) and PyTorch 1.13
(2 threads, torch.no_grad, eval mode; eager, and torch.jit.optimize_for_inference, which
folds batch norm and keeps oneDNN's blocked layout) on the same models at full size, batch
1 and 8, in images/s, run back to back in one invocation. The peer is skipped with a message when
python3-torch / python3-torchvision are not installed; models torchvision does not have
(Keras' Xception and MobileNet v1, the paper's AlexNet, the plain nets) show "n/a".

  bench/zoo_vs_torch.py [--build build] [--seconds 5] [--json out.json] [MODEL ...]

The peer runs in a child process with OpenBLAS free to pick its own kernels (the
environment here forces its AVX2 ones, halving its speed), as bench/README.md says."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT = ["resnet50", "mobilenet_v2", "efficientnet_b0", "inception_v3", "densenet121", "googlenet", "vgg16",
           "alexnet"]
# Registry name -> (torchvision constructor, its keyword arguments, input size).
TORCHVISION = {
    "alexnet": ("alexnet", {}, 224), "googlenet": ("googlenet", {"aux_logits": True, "init_weights": True}, 224),
    "googlenet_noaux": ("googlenet", {"aux_logits": False, "init_weights": True}, 224),
    "inception_v3": ("inception_v3", {"aux_logits": True, "init_weights": False}, 299),
    "inception_v3_noaux": ("inception_v3", {"aux_logits": False, "init_weights": False}, 299),
    "mobilenet_v2": ("mobilenet_v2", {}, 224),
    **{f"resnet{d}": (f"resnet{d}", {}, 224) for d in (18, 34, 50, 101, 152)},
    **{f"densenet{d}": (f"densenet{d}", {}, 224) for d in (121, 169, 201)},
    **{f"vgg{d}{bn}": (f"vgg{d}{bn}", {}, 224) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"efficientnet_b{b}": (f"efficientnet_b{b}", {}, r)
       for b, r in enumerate((224, 240, 260, 300, 380, 456, 528, 600))},
}


def peer(models, seconds):
    """Runs in the child process: prints one JSON object {model/batch: images per second}."""
    try:
        import torch
        import torchvision
    except ImportError:
        print(json.dumps({"skipped": "python3-torch / python3-torchvision are not installed "
                                     "(apt install python3-torch python3-torchvision)"}))
        return
    torch.set_num_threads(2)
    out = {"torch": torch.__version__}
    for name in models:
        if name not in TORCHVISION:
            continue
        ctor, kwargs, size = TORCHVISION[name]
        model = getattr(torchvision.models, ctor)(**kwargs).eval()
        try:  # scripting needs eval-mode outputs of one kind (GoogLeNet/Inception return tuples in training)
            frozen = torch.jit.optimize_for_inference(torch.jit.script(model))
        except Exception as e:  # noqa: BLE001 - report and go on with eager only
            print(f"{name}: optimize_for_inference failed: {e}", file=sys.stderr)
            frozen = None
        for batch in (1, 8):
            x = torch.full((batch, 3, size, size), 0.5)
            for tag, m in (("", model), ("/oifi", frozen)):
                if m is None:
                    continue
                with torch.no_grad():
                    for _ in range(2):
                        m(x)
                    n, t0 = 0, time.perf_counter()
                    while time.perf_counter() - t0 < seconds or n < 2:
                        m(x)
                        n += 1
                    out[f"{name}/batch{batch}{tag}"] = n * batch / (time.perf_counter() - t0)
    print(json.dumps(out))


def strata(build, models):
    exe = os.path.join(build, "bench", "bench_models")
    if not os.path.exists(exe):
        sys.exit(f"error: {exe} not found: build the project first (README)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "strata.json")
        pattern = "^peak|^inference/(" + "|".join(models) + ")/"
        subprocess.run([exe, f"--benchmark_filter={pattern}", f"--benchmark_out={path}",
                        "--benchmark_out_format=json"], check=True, stdout=subprocess.DEVNULL)
        with open(path) as f:
            data = json.load(f)
    result, peak = {}, None
    for b in data["benchmarks"]:
        if b["name"].startswith("peak"):
            peak = b["fma_peak_GFLOP/s"]
            continue
        model, batch = b["name"].split("/")[1:3]
        result[f"{model}/{batch}"] = {"images/s": b["images/s"], "GFLOP/s": b["GFLOP/s"], "pct": b["pct_of_fma_peak"]}
    return result, peak


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer(sys.argv[3:], float(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=DEFAULT)
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    ours, peak = strata(a.build, a.models)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    child = subprocess.run([sys.executable, __file__, "--peer", str(a.seconds), *a.models], env=env,
                           capture_output=True, text=True, check=True)
    theirs = json.loads(child.stdout.strip().splitlines()[-1])
    if "skipped" in theirs:
        print(f"peer skipped: {theirs['skipped']}")
    print(f"FMA peak measured in this run: {peak:.0f} GFLOP/s; PyTorch {theirs.get('torch', '-')}, 2 threads")
    print(f"{'model':<20} {'batch':>5} {'strata img/s':>13} {'GFLOP/s':>8} {'% peak':>7} {'torch eager':>12} "
          f"{'torch oifi':>11} {'vs eager':>9} {'vs oifi':>8}")
    for model in a.models:
        for batch in (1, 8):
            key = f"{model}/batch{batch}"
            if key not in ours:
                print(f"{model:<20} {batch:>5} {'(not registered)':>13}")
                continue
            s, t, o = ours[key], theirs.get(key), theirs.get(key + "/oifi")
            fmt = lambda v: f"{v:.1f}" if v else "n/a"
            ratio = lambda v: f"{s['images/s'] / v:.2f}" if v else "n/a"
            print(f"{model:<20} {batch:>5} {s['images/s']:>13.1f} {s['GFLOP/s']:>8.1f} {s['pct']:>7.1f} {fmt(t):>12} "
                  f"{fmt(o):>11} {ratio(t):>9} {ratio(o):>8}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"fma_peak": peak, "strata": ours, "torch": theirs}, f, indent=1)


if __name__ == "__main__":
    main()
