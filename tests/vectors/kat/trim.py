#!/usr/bin/env python3
"""Trims the NIST CAVP AES-GCM response files to the groups tripki's
AEAD can take (256-bit key, 96-bit IV, 128-bit tag) and copies the RSA-OAEP
SHA-256/MGF1-SHA-256 file.  Source: Debian's python3-cryptography-vectors
(/usr/lib/python3/dist-packages/cryptography_vectors).  See README.md.

    python3 tests/vectors/kat/trim.py [SOURCE_DIR]
"""
import os
import shutil
import sys

SRC = (sys.argv[1] if len(sys.argv) > 1 else
       "/usr/lib/python3/dist-packages/cryptography_vectors")
HERE = os.path.dirname(os.path.abspath(__file__))


def trim(name):
    with open(os.path.join(SRC, "ciphers/AES/GCM", name)) as f:
        lines = f.read().splitlines()
    out, hdr, group, keep = [], [], [], False
    i = 0
    # Leading comment lines.
    while i < len(lines) and not lines[i].startswith("["):
        if lines[i].startswith("#"):
            out.append(lines[i])
        i += 1
    out.append("# Trimmed for tripki: Keylen = 256, IVlen = 96, Taglen = 128 only.")
    out.append("")
    params = {}
    while i < len(lines):
        l = lines[i]
        if l.startswith("["):
            if not hdr:
                params = {}
            hdr.append(l)
            k, v = l.strip("[]").split("=")
            params[k.strip()] = v.strip()
            i += 1
            continue
        if hdr:
            keep = (params.get("Keylen") == "256" and
                    params.get("IVlen") == "96" and
                    params.get("Taglen") == "128")
            if keep:
                out.extend(hdr)
                out.append("")
            hdr = []
        if keep:
            out.append(l)
        i += 1
    while out and out[-1] == "":
        out.pop()
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(out) + "\n")


trim("gcmEncryptExtIV256.rsp")
trim("gcmDecrypt256.rsp")
shutil.copy(os.path.join(SRC, "asymmetric/RSA/oaep-custom/oaep-sha256-sha256.txt"),
            os.path.join(HERE, "oaep-sha256-sha256.txt"))
