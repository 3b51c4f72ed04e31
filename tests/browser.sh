#!/bin/sh
# The page tests (tests/cli/serve/test_page.py) drive Debian's headless Chromium. Install it
# and its driver where this can (root with apt-get, not installed yet); elsewhere say how, and
# those tests skip. Never fails the test command: the rest of the suite runs either way.
command -v chromium >/dev/null && command -v chromedriver >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    # Bounded: a registry that does not answer must not hold up the rest of the suite.
    if timeout 300 apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
        { timeout 300 apt-get update -qq >/dev/null 2>&1 &&
            timeout 300 apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; }; then
        exit 0
    fi
fi
echo "tests/browser.sh: no chromium/chromedriver; the page tests will skip" \
    "(apt-get install chromium chromium-driver)" >&2
exit 0
