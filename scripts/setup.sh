#!/usr/bin/env bash
# Installs Strata's build and test dependencies from Debian's packages.
# Does nothing (and needs no network) when everything is already present.
# --peer also installs PyTorch 1.13 and torchvision (python3-torch, python3-torchvision), the
# peer that bench/zoo_vs_torch.py and bench/torch_train.py compare with; the build and the
# tests never need them.
set -euo pipefail
pkgs=(cmake g++ make libhalide14-0-dev libfmt-dev catch2 libbenchmark-dev zlib1g-dev
      libopenblas-dev dataset-fashion-mnist libonnx-testdata)
for arg in "$@"; do
  case "$arg" in
    --peer) pkgs+=(python3 python3-numpy python3-torch python3-torchvision) ;;
    -h|--help) echo "usage: scripts/setup.sh [--peer]"; exit 0 ;;
    *) echo "setup: unknown flag '$arg' (usage: scripts/setup.sh [--peer])" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all dependencies present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
