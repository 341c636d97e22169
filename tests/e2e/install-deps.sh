#!/usr/bin/env bash
# What the browser tests (tests/e2e) need, on a Debian machine: Debian's Chromium at
# /usr/bin/chromium (apt, as root) and axe-core, vnu-jar and oidc-provider (the OpenID provider
# tests/web/test_oidc.py signs in through) from the npm registry, pinned by
# tests/e2e/package-lock.json, in .venv/e2e-node (git-ignored). Idempotent: a second run with
# both present does nothing. Playwright never downloads a browser.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export DEBIAN_FRONTEND=noninteractive
NODE_DIR=${BTI_E2E_NODE_DIR:-.venv/e2e-node}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "install-deps: need root for: $*" >&2; return 1; fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
command -v java >/dev/null || missing+=(default-jre-headless)  # runs vnu.jar (Nu HTML Checker)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$NODE_DIR/node_modules/axe-core/axe.min.js" ] \
    || [ ! -f "$NODE_DIR/node_modules/vnu-jar/build/dist/vnu.jar" ] \
    || [ ! -f "$NODE_DIR/node_modules/oidc-provider/lib/index.js" ] \
    || ! cmp -s tests/e2e/package-lock.json "$NODE_DIR/package-lock.json"; then
  echo "install-deps: npm ci axe-core, vnu-jar and oidc-provider into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  cp tests/e2e/package.json tests/e2e/package-lock.json "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: $(/usr/bin/chromium --version 2>/dev/null | head -1);" \
  "axe-core $(node -p "require('./$NODE_DIR/node_modules/axe-core/package.json').version");" \
  "vnu-jar $(node -p "require('./$NODE_DIR/node_modules/vnu-jar/package.json').version");" \
  "oidc-provider $(node -p "require('./$NODE_DIR/node_modules/oidc-provider/package.json').version")"
