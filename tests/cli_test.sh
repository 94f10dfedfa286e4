#!/usr/bin/env bash
# The strata command line: help, exit codes, one-line errors, and a run through .npy files.
set -u
strata="$1"; work="$2"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
pass=0; fail=0
check() {  # check NAME WANT_RC PATTERN -- command...
  local name="$1" want="$2" pattern="$3"; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $name (rc=$rc, want $want; pattern '$pattern')"; echo "$out" | head -5; fail=$((fail+1))
  else
    pass=$((pass+1))
  fi
}
check "top-level help" 0 "commands:" -- "$strata" --help
for c in summary print dot run demo train eval zoo passes bench; do check "$c --help" 0 "usage: strata $c" -- "$strata" "$c" --help; done
check "no command" 2 "usage" -- "$strata"
check "unknown command" 2 "unknown command 'fly'" -- "$strata" fly
check "unknown flag" 2 "unknown flag '--bogus'" -- "$strata" summary lenet --bogus
check "bad int" 2 "--batch must be an integer" -- "$strata" summary lenet --batch abc
check "missing value" 2 "--input needs a value" -- "$strata" run lenet --input
check "unknown model" 2 "unknown model 'nosuch'" -- "$strata" summary nosuch
check "bad target" 2 "bad Halide target" -- "$strata" run lenet --input x.npy --output y.npy --target wat
check "bad backend" 2 "unknown backend" -- "$strata" run lenet --input x.npy --output y.npy --backend tpu
check "summary" 0 "Total params: 61,706" -- "$strata" summary lenet
check "summary batch" 0 "\[4, 10\]" -- "$strata" summary lenet --batch 4
check "zoo lists resnet50 with torchvision's count" 0 "resnet50 +25557032 " -- "$strata" zoo
check "print" 0 "^graph small_resnet" -- "$strata" print small_resnet
"$strata" print lenet > lenet.ir
check "summary of a text-IR file" 0 "Total params: 61,706" -- "$strata" summary lenet.ir
check "dot" 0 "digraph" -- "$strata" dot lenet
# --train: the training step `bench --train` compiles, which reads back from its text form.
check "print --train" 0 "optimizer_update\(%conv1.weight" -- "$strata" print lenet --train --batch 4
check "print --train -O2 shows siblings" 0 "_sibling = 1" -- "$strata" print small_resnet --train -O2
"$strata" print lenet --train --batch 4 > lenet-step.ir
check "a training step's text form reads back" 0 "input %hyper : f32\[2\]" -- "$strata" print lenet-step.ir
check "a text-IR file keeps its batch" 0 "input %image : f32\[4, 1, 28, 28\]" -- "$strata" print lenet-step.ir
check "print --train --optimizer" 0 'optimizer = "adam"' -- "$strata" print lenet --train --optimizer adam
check "an unknown optimizer" 2 "strata print: --optimizer: unknown optimizer 'bogus'" -- "$strata" print lenet --train --optimizer bogus
check "bench --optimizer needs --train" 2 "strata bench: --optimizer needs --train" -- "$strata" bench lenet --optimizer adam
# Re-batched, a printed step reads as the step printed at that batch (its backward's
# attributes follow), byte for byte.
"$strata" print lenet --train --batch 3 > lenet-step3.ir
"$strata" print lenet-step.ir --batch 3 > lenet-step-rebatched.ir
cmp -s lenet-step3.ir lenet-step-rebatched.ir && pass=$((pass+1)) \
  || { echo "FAIL: a training step printed at batch 4 and re-batched to 3 differs from one printed at 3"; fail=$((fail+1)); }
# A batch the step's shape rules refuse: Inception v3's auxiliary batch norm at 1x1 has one
# value per channel at batch 1.
"$strata" print inception_v3 --train --batch 2 > iv3-step.ir
# bench, as print: a text-IR file keeps its batch unless --batch is given.
"$strata" print lenet --batch 4 > lenet4.ir
check "bench of a text-IR file keeps its batch" 0 "^lenet inference, batch 4," -- "$strata" bench lenet4.ir --runs 1 --warmup 0 --output b4
check "bench of a text-IR file at --batch" 0 "^lenet inference, batch 2," -- "$strata" bench lenet4.ir --batch 2 --runs 1 --warmup 0 --output b2
# bench feeds every input of a text-IR graph (0.5), not only the first.
printf 'graph two_inputs {\n  input %%a : f32[2, 8]\n  input %%b : f32[2, 8]\n  %%s = add(%%a, %%b) : f32[2, 8]\n  output "s" = %%s\n}\n' > two-inputs.ir
check "bench of a graph with two inputs" 0 "^-O2 " -- "$strata" bench two-inputs.ir --runs 1 --warmup 0 --output ti
# A printed training step benches as the step `--train` builds (its target, learning rate and
# seed fed, its updates written back: the same kernels), and is not made a step again.
check "bench of a printed training step" 0 "^lenet.train training step \(momentum\), batch 4," -- "$strata" bench lenet-step.ir --runs 1 --warmup 0 --output bs
check "bench json of a printed training step" 0 '"mode": "train", "optimizer": "momentum", "batch": 4' -- cat bs.json
k_file=$("$strata" bench lenet-step.ir --runs 1 --warmup 0 --output bs 2>&1 | awk '$1 == "-O2" {print $4, $5, $6}')
k_built=$("$strata" bench lenet --train --batch 4 --runs 1 --warmup 0 --output bt 2>&1 | awk '$1 == "-O2" {print $4, $5, $6}')
[ -n "$k_file" ] && [ "$k_file" = "$k_built" ] && pass=$((pass+1)) \
  || { echo "FAIL: a printed step's kernels, fused groups, Winograd ($k_file) differ from --train's ($k_built)"; fail=$((fail+1)); }
check "train of a printed training step" 2 "strata train: 'lenet-step.ir' is a training step \(printed with --train\); give the model it was printed from" -- "$strata" train lenet-step.ir
check "run of a printed training step" 2 "strata run: 'lenet-step.ir' is a training step" -- "$strata" run lenet-step.ir --input x.npy --output y.npy
check "--train on a printed step" 2 "strata bench: 'lenet-step.ir' is a training step already \(printed with --train\): run it without --train" -- "$strata" bench lenet-step.ir --train
check "a re-batch the shape rules refuse" 1 "cannot re-batch 'iv3-step.ir' to 1: node 'update/AuxLogits.conv1.bn.running_var'.*unbiased variance" -- "$strata" print iv3-step.ir --batch 1
check "summary --train" 0 "Activation memory: .* with the memory plan" -- "$strata" summary small_resnet --train -O2
check "dot --train" 0 "digraph \"lenet.train\"" -- "$strata" dot lenet --train
# A 2x1x28x28 input in .npy (format 1.0, little-endian float32, zeros).
python_free_npy() {
  local hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }"
  local pad=$(( 64 - (10 + ${#hdr} + 1) % 64 ))
  { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(( (${#hdr} + pad + 1) % 256 )))\\x$(printf %02x $(( (${#hdr} + pad + 1) / 256 )))";
    printf '%s' "$hdr"; printf '%*s' "$pad" ''; printf '\n'; head -c $((2*28*28*4)) /dev/zero; } > x.npy
}
python_free_npy
check "run (halide)" 0 "compiled" -- "$strata" run lenet --input x.npy --output y.npy
[ -s y.npy ] && pass=$((pass+1)) || { echo "FAIL: y.npy not written"; fail=$((fail+1)); }
check "run (reference)" 0 "ran in" -- "$strata" run lenet.ir --input x.npy --output yr.npy --backend reference
cmp -s <(tail -c 80 y.npy) <(tail -c 80 yr.npy) && pass=$((pass+1)) || echo "note: halide and reference bytes differ (rounding); values are compared by the C++ tests"
check "run with a wrong shape" 1 "expects N x \[1, 28, 28\]" -- "$strata" run small_resnet --input y.npy --output z.npy
printf 'junk' > bad.npy
check "run with a corrupt input" 1 "bad magic" -- "$strata" run lenet --input bad.npy --output z.npy
check "run with corrupt weights" 1 "not a Strata weights file" -- "$strata" run lenet --input x.npy --output z.npy --weights bad.npy
[ ! -e z.npy ] && pass=$((pass+1)) || { echo "FAIL: z.npy written after an error"; fail=$((fail+1)); }
# Training and evaluation on a slice of Fashion-MNIST.
check "train: unknown optimizer" 2 "unknown optimizer 'adagrad'" -- "$strata" train lenet --optimizer adagrad
check "train: bad schedule" 2 "unknown learning-rate schedule 'linear'" -- "$strata" train lenet --schedule linear
check "train: bad log name" 2 "--log must end in .csv or .jsonl" -- "$strata" train lenet --log m.txt
check "train: bad lr" 2 "--lr must be a number" -- "$strata" train lenet --lr fast
check "train lenet" 0 "test accuracy after 1 epoch" -- "$strata" train lenet --train-limit 256 --test-limit 100 --batch 32 --epochs 1 --checkpoint ck --log ck/m.jsonl
for f in ck/weights.strataw ck/checkpoint.strataw ck/m.jsonl ck/curves.svg; do
  [ -s "$f" ] && pass=$((pass+1)) || { echo "FAIL: $f not written"; fail=$((fail+1)); }
done
check "eval" 0 "accuracy [0-9.]+%" -- "$strata" eval lenet --weights ck/weights.strataw --limit 100
check "eval needs weights" 2 "--weights FILE is required" -- "$strata" eval lenet
check "run applies the stored normalisation" 0 "normalis" -- "$strata" run lenet --input x.npy --output yt.npy --weights ck/weights.strataw
head -c 100 ck/checkpoint.strataw > ck/cut && mv ck/cut ck/checkpoint.strataw
check "resume from a truncated checkpoint" 1 "corrupt or truncated" -- "$strata" train lenet --train-limit 256 --test-limit 100 --batch 32 --epochs 2 --checkpoint ck --resume
# Passes and fusion.
check "passes lists the presets" 0 "-O2 +simplify" -- "$strata" passes
check "print -O2 shows fusion groups" 0 "_group = 0" -- "$strata" print small_resnet -O2
check "print-after" 0 "// after bn-fold" -- "$strata" print small_resnet --passes=bn-fold,fuse-conv-bn-act --print-after=bn-fold
check "time-passes" 0 "pass timing \(2 passes" -- "$strata" print lenet --passes=cse,dce --time-passes
check "unknown pass" 2 "unknown pass 'fuse-all'" -- "$strata" print lenet --passes=cse,fuse-all
check "--passes -O0 (preset as the option's value)" 0 "^-O0 " -- "$strata" bench lenet --passes -O0 --runs 1 --warmup 0 --output po0
check "unknown preset" 2 "unknown optimization preset '-O7'" -- "$strata" print lenet -O7
check "unknown disabled pass" 2 "unknown pass 'nope'" -- "$strata" run lenet --input x.npy --output y.npy --disable-pass=nope
check "summary reports activation memory" 0 "Activation memory: .* with the memory plan" -- "$strata" summary small_resnet -O2
check "run -O0 and -O2 agree" 0 "" -- "$strata" run lenet --input x.npy --output o0.npy -O0
check "run -O2" 0 "" -- "$strata" run lenet --input x.npy --output o2.npy
cmp -s <(tail -c 80 o0.npy | od -An -tf4 | tr -s ' ' | cut -c1-30) <(tail -c 80 o2.npy | od -An -tf4 | tr -s ' ' | cut -c1-30) \
  && pass=$((pass+1)) || { echo "FAIL: -O0 and -O2 outputs differ in their leading digits"; fail=$((fail+1)); }
# --profile: the timed runs only (3 of 5 here), each kernel's calls counted over them.
check "bench --profile covers the timed runs" 0 "time per op kind over the 3 timed runs \(mean\); all kernels [0-9.]+ ms/run" -- "$strata" bench lenet --profile --runs 3 --warmup 2 --output pr
check "bench --profile counts calls over the timed runs" 0 "^  linear +[0-9.]+ ms/run +[0-9.]+% +3 calls" -- "$strata" bench lenet --profile --runs 3 --warmup 2 --output pr
check "bench --profile-nodes" 0 "^  linear fc3 f32\[1, 10\] +[0-9.]+ ms/run" -- "$strata" bench lenet --profile-nodes --runs 2 --warmup 1 --output pr
check "bench --compare-fusion" 0 "fused / unfused: [0-9.]+x images/s" -- "$strata" bench lenet --compare-fusion --runs 3 --warmup 1 --output cf
for f in cf.json cf.svg cf.memory.svg; do
  [ -s "$f" ] && pass=$((pass+1)) || { echo "FAIL: $f not written"; fail=$((fail+1)); }
done
check "bench json has the speedup" 0 "\"speedup\"" -- cat cf.json
check "bench json names the host CPU" 0 "\"host_cpu\": \"[^\"]*family [0-9A-F]+h model [0-9A-F]+h[^\"]*\", \"hardware_threads\": [0-9]+" -- cat cf.json
check "bench json has each run and each pair's ratio" 0 "\"speedup_pairs\": \[[0-9.]+, [0-9.]+, [0-9.]+\]" -- cat cf.json
check "bench --compare-fusion prints the pairs' spread" 0 "run pairs \(unfused / fused, run k of each\): median [0-9.]+x, middle half [0-9.]+-[0-9.]+x" -- "$strata" bench lenet --compare-fusion --runs 4 --warmup 0 --output cf2
check "demo runs the example models" 0 "lenet" -- "$strata" demo --images 64 --batch 64
# small_resnet: 16 of its 3x3 stride-1 convolutions, the 7x7 ones included (F(2x2), small weights); the stem has one input channel
check "bench: Winograd convolutions counted" 0 "-O2 +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+ +16 " -- "$strata" bench small_resnet --runs 1 --warmup 0
check "bench --no-winograd" 0 "-O2 +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+ +0 " -- "$strata" bench small_resnet --runs 1 --warmup 0 --no-winograd
check "bench: reference backend refused" 2 "--backend must be halide" -- "$strata" bench lenet --backend reference
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
