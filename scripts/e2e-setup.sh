#!/usr/bin/env bash
# Installs what the end-to-end tests need, idempotently: Debian's chromium, fonts and ripgrep (apt),
# and code-server@4.100.3 (a real VS Code 1.100.3) into .cache/code-server, outside git.
# Called by .ci/run and by test/e2e's `before`. Prints the code-server entry script path last.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CS_VERSION=4.100.3
CS_DIR="$ROOT/.cache/code-server"
CS_BIN="$CS_DIR/node_modules/code-server/out/node/entry.js"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
# argon2 (a code-server dependency) builds from source against Debian's node headers.
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
[ -d /usr/share/fonts/truetype/liberation ] || need_apt+=(fonts-liberation)
[ -e /usr/include/gssapi/gssapi.h ] || [ -e /usr/include/krb5.h ] || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "e2e-setup: apt-get install ${need_apt[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends "${need_apt[@]}" >&2
fi

if [ ! -f "$CS_BIN" ] || [ ! -f "$CS_DIR/.installed-$CS_VERSION" ]; then
  echo "e2e-setup: installing code-server@$CS_VERSION into $CS_DIR" >&2
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  # @vscode/ripgrep's postinstall downloads rg from the internet: pre-seed its cache with Debian's rg.
  mkdir -p "$TMP/vscode-ripgrep-cache-1.15.11"
  tar czf "$TMP/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
  mkdir -p "$CS_DIR"
  [ -f "$CS_DIR/package.json" ] || echo '{"name":"ql-code-server-cache","private":true}' > "$CS_DIR/package.json"
  # Home/XDG dirs in the temp folder: installs and code-server write there.
  (cd "$CS_DIR" && HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data" XDG_CACHE_HOME="$TMP/cache" \
    TMPDIR="$TMP" npm_config_yes=true npm_config_unsafe_perm=true npm_config_cache="$TMP/npm-cache" npm_config_nodedir="${npm_config_nodedir:-/usr}" \
    npm install "code-server@$CS_VERSION" --no-audit --no-fund --no-save --loglevel=error >&2)
  [ -f "$CS_BIN" ] || { echo "e2e-setup: code-server entry not found at $CS_BIN" >&2; exit 1; }
  touch "$CS_DIR/.installed-$CS_VERSION"
fi
echo "$CS_BIN"
