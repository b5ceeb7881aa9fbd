#!/usr/bin/env bash
# System packages the kit needs beyond Python: bubblewrap (bwrap), the sandbox
# that student code runs in during grading. Installs it with apt-get when we are
# root on Debian/Ubuntu; otherwise says how to get it and carries on (grading
# then refuses to run unsandboxed unless --no-sandbox is given).
set -u
if command -v bwrap >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bubblewrap (sandbox for student code) with apt-get"
  apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null && exit 0
  echo "warning: apt-get could not install bubblewrap" >&2
fi
echo "warning: bubblewrap (bwrap) is missing: install it (Debian/Ubuntu: sudo apt-get install bubblewrap)." >&2
echo "         Without it, grading refuses to run student code unless you pass --no-sandbox." >&2
exit 0
