#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every setting pollux-dp knows is documented in docs/configuration.md
with its default. usage: check_docs.py POLLUX_DP DOC"""
import re
import subprocess
import sys

out = subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True).stdout
doc = open(sys.argv[2]).read()
missing = []
for line in out.splitlines():
    m = re.match(r"  (\w+)\s+default (\S+)", line)
    if not m:
        continue
    key, default = m.group(1), m.group(2)
    row = [l for l in doc.splitlines() if l.startswith("|") and "`%s`" % key in l]
    if not row:
        missing.append("%s: not in the table" % key)
    elif default != '""' and default not in row[0]:
        missing.append("%s: default %s not in its row" % (key, default))
for m in missing:
    print("docs/configuration.md:", m)
print("%d settings checked, %d problems" % (len(re.findall(r"^  \w+\s+default", out, re.M)), len(missing)))
sys.exit(1 if missing else 0)
