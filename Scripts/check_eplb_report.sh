#!/usr/bin/env bash
# Renders an EPLB HTML report in headless Chromium and checks that it is not blank.
#
#   Scripts/check_eplb_report.sh [output-dir]
#
# 1. `peregrine eplb synth` writes a synthetic load (8 layers x 64 experts, zipf:1.1);
# 2. `peregrine eplb --preset prefill --html` writes the report;
# 3. Chromium (--dump-dom) runs the page's script: it must mark the root element ready, and show
#    the layer asked for in the URL (#layer=N) instead of the default one;
# 4. Chromium takes a 1280x900 screenshot; the PNG must have many distinct colours and enough
#    non-white pixels (checked with Python's standard library only).
#
# Environment: EPLB   the eplb command (default: "<swift bin path>/peregrine eplb", built if missing)
#              CHROMIUM  the browser (default: chromium, chromium-browser or google-chrome on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [[ -z "${EPLB:-}" ]]; then
    bin=$(swift build --show-bin-path)
    [[ -x "$bin/peregrine" ]] || swift build --product peregrine
    EPLB="$bin/peregrine eplb"
fi
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [[ -z "$browser" ]]; then
    echo "check_eplb_report: no Chromium found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 2
fi

$EPLB synth --layers 8 --experts 64 --skew zipf:1.1 --seed 3 --out "$out/load.json"
$EPLB --load "$out/load.json" --preset prefill --out "$out/mapping.json" --html "$out/report.html" --svg "$out/report.svg"

chrome=("$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900)
ready_layer() {  # the layer the page's script says it shows, after it ran to the end
    "${chrome[@]}" --dump-dom "$1" 2>> "$out/chromium-dom.log" | grep -o 'data-eplb-ready="[0-9]*"' | grep -o '[0-9]\+' || true
}
initial=$(ready_layer "file://$out/report.html")
wanted=$(( (${initial:-0} + 3) % 8 ))
if [[ -z "$initial" || "$(ready_layer "file://$out/report.html#layer=$wanted")" != "$wanted" ]]; then
    echo "check_eplb_report: the report's script did not run, or did not switch layers (see $out/chromium-dom.log)" >&2
    exit 1
fi
"${chrome[@]}" --screenshot="$out/report.png" "file://$out/report.html" 2> "$out/chromium-shot.log"

python3 - "$out/report.png" <<'PY'
import struct, sys, zlib

def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG (depth {depth}, colour {colour})"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1: line[i] = (line[i] + a) & 255
            elif kind == 2: line[i] = (line[i] + b) & 255
            elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, bpp, rows

width, height, bpp, rows = pixels(sys.argv[1])
colours, ink = set(), 0
for row in rows:
    for x in range(0, width * bpp, bpp):
        rgb = row[x:x + 3]
        colours.add(rgb)
        if rgb != b"\xff\xff\xff":
            ink += 1
share = ink / (width * height)
print(f"check_eplb_report: {width}x{height} screenshot, {len(colours)} distinct colours, {share:.1%} non-white")
if len(colours) < 16 or share < 0.05:
    sys.exit("check_eplb_report: the screenshot looks blank")
PY
echo "check_eplb_report: OK ($out/report.png)"
