#!/usr/bin/env bash
# One command from a fresh checkout: gets Node >= 22.12 and pnpm 10 if this
# machine lacks them (into .ci/.tools, nothing global), installs the workspace,
# builds it and runs the demo: a head, two nodes and a pool with a progress bar.
# Needs only a Node (any version npm runs on, e.g. Debian's Node 20) and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.ci/.tools # the same folder .ci/run installs into; ignored by git
export PATH="$PWD/$TOOLS/node_modules/.bin:$PATH"

node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'
}

pnpm_ok() {
  command -v pnpm >/dev/null 2>&1 && [[ "$(pnpm -v 2>/dev/null)" == 1[0-9].* ]]
}

missing=()
node_ok || missing+=(node@22 pnpm@10) # a pnpm beside an old Node may be old too: take both
node_ok && ! pnpm_ok && missing+=(pnpm@10)
if ((${#missing[@]} > 0)); then
  if ! command -v npm >/dev/null 2>&1; then
    echo "quickstart: needs npm to fetch ${missing[*]}; install Node.js and npm first (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
  echo "quickstart: installing ${missing[*]} into $TOOLS"
  npm i --prefix "$TOOLS" --no-audit --no-fund "${missing[@]}"
  hash -r
  node_ok && pnpm_ok || { echo "quickstart: still no Node >= 22.12 and pnpm 10 on PATH after installing into $TOOLS" >&2; exit 1; }
fi
echo "quickstart: node $(node -v), pnpm $(pnpm -v)"

pnpm install --frozen-lockfile
pnpm demo
