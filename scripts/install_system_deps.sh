#!/usr/bin/env bash
# System packages the kit needs beyond Python, installed with apt-get when we
# are root on Debian/Ubuntu; otherwise this says how to get them and carries on.
#   bubblewrap (bwrap): the sandbox that student code runs in during grading.
#     Without it, grading refuses to run unless --no-sandbox is given.
#   chromium: the real browser the tests drive (the student's notebook in
#     JupyterLab, the feedback page). Without it, those browser tests fail
#     with a message that names the package.
set -u
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get (sandbox for student code; browser for the tests)"
  apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null && exit 0
  echo "warning: apt-get could not install ${missing[*]}" >&2
fi
echo "warning: missing system packages: ${missing[*]}" >&2
echo "         Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
echo "         Without bubblewrap, grading refuses to run student code unless you pass --no-sandbox." >&2
exit 0
