#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the browser tests of the HTML reports.
# Already there: nothing to do. Cannot install (not root, no apt): the browser tests skip with a reason.
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
     (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1)) && exit 0
fi
echo "chromium/chromedriver not installed: the browser tests will be skipped" >&2
exit 0
