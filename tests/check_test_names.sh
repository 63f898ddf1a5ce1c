#!/usr/bin/env bash
# Fails, listing them, on Catch2 test names that ctest cannot pass back to the test binary:
# a name starting with '-' is read as an option ("Unrecognised token"), and a ';' splits the
# name into two ctest entries that run nothing. Both have happened.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if bad=$(grep -rnE 'TEST_CASE\("(-|[^"]*;)' unit integration native); then
  echo "test names ctest cannot pass to Catch2 (leading '-' or a ';'):"
  echo "$bad"
  exit 1
fi
echo "every test name can be passed by ctest"
