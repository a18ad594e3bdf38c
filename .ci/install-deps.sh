#!/bin/sh
# Installs what the tests need where it is missing: php-cli (the relay's PHP
# backend test), curl and python3 (the other backend tests). Uses apt as root;
# where that is impossible it says so and the affected tests say they skipped.
set -u
missing=""
command -v php >/dev/null 2>&1 || missing="$missing php-cli"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing:$missing"
  # An install cut off earlier leaves dpkg needing --configure first.
  (apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
    { dpkg --configure -a >/dev/null 2>&1; apt-get update -q >/dev/null 2>&1 &&
      apt-get install -y -q --no-install-recommends $missing >/dev/null; }) ||
    echo "WARNING: could not install$missing; tests that need them will say they skipped"
else
  echo "WARNING: missing$missing and not root with apt; tests that need them will say they skipped"
fi
exit 0
