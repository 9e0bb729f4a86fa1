#!/usr/bin/env bash
# Debian packages the test suite needs, installed only when missing (root, or sudo).
# Called by the README's test command and so by .ci/run; safe to run again.
set -euo pipefail
needed=()
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
# WeasyPrint (the tumour-board PDF) loads Pango through cffi; Liberation Sans is the summary's font.
# Orthanc with its DICOMweb plugin is the PACS of tests/orthanc.py (SPECT from a PACS, issue 14).
for package in libpango-1.0-0 libpangoft2-1.0-0 fonts-liberation orthanc orthanc-dicomweb; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || needed+=("$package")
done
if [ ! -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] && [[ ! " ${needed[*]} " == *" orthanc-dicomweb "* ]]; then
  needed+=(orthanc-dicomweb)
fi
if [ ${#needed[@]} -eq 0 ]; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian packages: ${needed[*]}" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq "${needed[@]}" >/dev/null
