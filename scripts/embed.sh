#!/bin/sh
# embed.sh NAME FILE: print a C file defining `const char NAME[]` holding
# FILE's text, so data files (the SQL schema) are compiled into the binary.
set -eu
name=$1 file=$2
echo "/* generated from $file by scripts/embed.sh; do not edit */"
echo "extern const char $name[];"
echo "const char $name[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$file"
echo "    ;"
