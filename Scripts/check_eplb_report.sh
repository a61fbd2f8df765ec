#!/usr/bin/env bash
# Renders an EPLB HTML report in headless Chromium and checks what the page's script draws.
#
#   Scripts/check_eplb_report.sh [output-dir]
#
# 1. `peregrine eplb synth` writes a synthetic load (8 layers x 64 experts, zipf:1.1);
# 2. `peregrine eplb --preset prefill --html` writes the report (the per-layer data is embedded once
#    as JSON; the page's script draws the selected layer from it);
# 3. Chromium (--dump-dom) runs the page's script: it must mark the root element ready and draw the
#    default layer, and the layer asked for in the URL (#layer=N) instead of the default one. The
#    script runs inline while the page loads, so the dumped DOM already holds its drawing. Then
#    (Python, standard library only):
#    - the script's drawing of the default layer equals the one the page carries pre-drawn (the
#      Swift drawing, shown without JavaScript), element by element;
#    - the script's drawing of layer N shows every slot with the expert the mapping (--out) gives it;
#    - no GPU-load bar reaches outside its plot area (the axis is scaled to the data);
# 4. Chromium takes a 1280x900 screenshot; the PNG must have many distinct colours and enough
#    non-white pixels.
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
dump() {  # the DOM after the page's script ran: dump URL FILE
    "${chrome[@]}" --dump-dom "$1" > "$2" 2>> "$out/chromium-dom.log" || true
}
ready_layer() {  # the layer the page's script says it shows, after it ran to the end
    grep -o 'data-eplb-ready="[0-9]*"' "$1" | grep -o '[0-9]\+' || true
}
dump "file://$out/report.html" "$out/dom-default.html"
initial=$(ready_layer "$out/dom-default.html")
wanted=$(( (${initial:-0} + 3) % 8 ))
dump "file://$out/report.html#layer=$wanted" "$out/dom-wanted.html"
if [[ -z "$initial" || "$(ready_layer "$out/dom-wanted.html")" != "$wanted" ]]; then
    echo "check_eplb_report: the report's script did not run, or did not switch layers (see $out/chromium-dom.log)" >&2
    exit 1
fi

python3 - "$out" "$initial" "$wanted" <<'PY'
import json, re, sys
from html.parser import HTMLParser

out, initial, wanted = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class LayerSVG(HTMLParser):
    """The elements of the <svg data-layer=...> drawings of a page: (tag, attributes, text) in order."""
    def __init__(self):
        super().__init__()
        self.drawings, self.current = [], None
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "data-layer" in attrs:
            self.current = {"layer": int(attrs["data-layer"]), "script": attrs.get("data-rendered") == "script", "items": []}
            self.drawings.append(self.current)
        elif self.current is not None:
            self.current["items"].append([tag, attrs, ""])
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
    def handle_endtag(self, tag):
        if tag == "svg":
            self.current = None
    def handle_data(self, data):
        if self.current is not None and self.current["items"] and data.strip():
            self.current["items"][-1][2] += data

def drawings(path):
    parser = LayerSVG()
    parser.feed(open(path, encoding="utf-8").read())
    return parser.drawings

def fail(message):
    sys.exit(f"check_eplb_report: {message}")

def scripted(path, layer):
    found = [d for d in drawings(path) if d["script"]]
    if len(found) != 1 or found[0]["layer"] != layer:
        fail(f"{path}: expected one drawing of layer {layer} by the page's script, found {[(d['layer'], d['script']) for d in found]}")
    return found[0]["items"]

def bars_inside_plot(items, where):
    plots = [a for t, a, _ in items if t == "rect" and a.get("class") == "plot"]
    bars = [a for t, a, _ in items if t == "rect" and "bar" in a.get("class", "").split()]
    if len(plots) != 1 or not bars:
        fail(f"{where}: expected one plot area and some bars, found {len(plots)} and {len(bars)}")
    top, bottom = float(plots[0]["y"]), float(plots[0]["y"]) + float(plots[0]["height"])
    for bar in bars:
        y, h = float(bar["y"]), float(bar["height"])
        # Coordinates are rounded to 0.1 px one by one, so y + height may pass the bottom by 0.1.
        if y < top - 1e-6 or y + h > bottom + 0.1 + 1e-6:
            fail(f"{where}: a bar spans {y}..{y + h}, outside the plot area {top}..{bottom}")
    return len(bars)

# The page's script draws the default layer exactly as the page's pre-drawn (Swift) copy.
predrawn = [d for d in drawings(f"{out}/report.html") if d["layer"] == initial and not d["script"]]
if len(predrawn) != 1:
    fail(f"report.html carries no pre-drawn layer {initial}")
default = scripted(f"{out}/dom-default.html", initial)
if default != predrawn[0]["items"]:
    diff = next(i for i, (a, b) in enumerate(zip(default + [None], predrawn[0]["items"] + [None])) if a != b)
    fail(f"the script's drawing of layer {initial} differs from the pre-drawn one at element {diff}: "
         f"{(default + [None])[diff]} vs {(predrawn[0]['items'] + [None])[diff]}")

# Layer N: every slot, in slot order, with the expert the mapping file gives it.
items = scripted(f"{out}/dom-wanted.html", wanted)
phy2log = json.load(open(f"{out}/mapping.json"))["phy2log"][wanted]
cells = [a for t, a, _ in items if t == "rect" and a.get("class") in ("single", "replica")]
labels = [text for t, a, text in items if t == "text" and "class" not in a and re.fullmatch(r"\d+(×\d+)?", text)]
experts = [int(label.split("×")[0]) for label in labels]
if len(cells) != len(phy2log) or experts != phy2log:
    fail(f"layer {wanted}: the script drew {len(cells)} slots with experts {experts[:12]}..., "
         f"the mapping has {len(phy2log)} slots with {phy2log[:12]}...")

bars = bars_inside_plot(default, f"layer {initial}") + bars_inside_plot(items, f"layer {wanted}")
print(f"check_eplb_report: the script drew layers {initial} (same as pre-drawn) and {wanted} "
      f"({len(cells)} slots as in the mapping); {bars} bars inside their plot areas")
PY
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
