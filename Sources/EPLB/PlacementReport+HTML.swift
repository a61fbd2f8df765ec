/// The self-contained HTML page: inline CSS, SVG, the placement data as JSON and a small script that
/// draws the selected layer from it; no network.
extension PlacementReport {
    /// The page: summary, balancedness overview (click a layer to select it), a layer selector
    /// (also ←/→ keys, or `#layer=N` in the URL) and the selected layer's GPU load bars and placement
    /// grid.
    ///
    /// The per-layer data (loads, slot → expert map, balancedness) is embedded once, as numbers, in a
    /// `<script type="application/json" id="eplb-data">` element (see `embeddedData(initialLayer:)`);
    /// the page's script draws a layer when it is shown. The least balanced layer is also drawn in
    /// the page itself, so it shows without JavaScript. When the script has drawn a layer, the root
    /// element carries `data-eplb-ready` = that layer and the layer's `<svg>` carries
    /// `data-layer` = the layer and `data-rendered="script"`.
    public func html(title: String = "EPLB placement") -> String {
        let initial = leastBalancedLayer
        var overview = SVGCanvas()
        let overviewHeight = drawOverview(&overview, top: 0, selected: initial, clickable: true)
        var fallback = SVGCanvas()
        let layerHeight = drawLayer(&fallback, initial, top: 0)
        let options = (0..<placement.numLayers).map { layer in
            let b = "\(Self.f(balancedness.perLayerBefore[layer], 3)) → \(Self.f(balancedness.perLayerAfter[layer], 3))"
            return "<option value=\"\(layer)\"\(layer == initial ? " selected" : "")>layer \(layer): \(b)</option>"
        }.joined(separator: "\n")
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(SVGCanvas.escape(title))</title>
            <style>
            body{margin:16px 20px;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;background:#fff}
            h1{font-size:19px;margin:0 0 4px}.sub{margin:0 0 8px;color:#555;font-size:13px}
            pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:8px 10px;font-size:12px;white-space:pre-wrap;margin:0 0 10px}
            .controls{margin:6px 0;font-size:13px}select,button{font-size:13px;margin-right:4px}svg{display:block}
            \(Self.stylesheet)
            </style>
            </head>
            <body>
            <h1>\(SVGCanvas.escape(title))</h1>
            <p class="sub">\(SVGCanvas.escape(headline))</p>
            <pre>\(SVGCanvas.escape(summary()))</pre>
            \(overview.svg(width: Self.width, height: overviewHeight, id: "overview"))
            <div class="controls"><button id="prev" title="previous layer (←)">◀</button><label>Layer
            <select id="layer">
            \(options)
            </select></label><button id="next" title="next layer (→)">▶</button></div>
            <noscript><p class="sub">Without JavaScript only layer \(initial) is shown.</p></noscript>
            <div id="layer-view">
            \(fallback.svg(width: Self.width, height: layerHeight + 4, attributes: " data-layer=\"\(initial)\""))</div>
            <script type="application/json" id="eplb-data">
            \(embeddedData(initialLayer: initial))
            </script>
            <script>
            \(Self.script)
            </script>
            </body>
            </html>

            """
    }

    /// The data the page's script draws from, as compact JSON with one row per line: the shape
    /// (`num_layers`, `num_experts`, `num_replicas`, `num_gpus`, `num_nodes`), `initial_layer`,
    /// per-layer `balancedness_before` / `balancedness_after`, `weight` (L × E loads) and `phy2log`
    /// (L × R). Replica counts, GPU loads and the axes are derived from these by the script.
    /// Numbers only (no strings), so the JSON can sit inside a `<script>` element as it is.
    func embeddedData(initialLayer: Int) -> String {
        let c = placement.configuration
        func row<S: Sequence>(_ values: S, _ format: (S.Element) -> String) -> String {
            "[" + values.map(format).joined(separator: ",") + "]"
        }
        let weightRows = (0..<weight.numLayers).map { row(weight.row($0), ExpertLoadMatrix.jsonNumber) }
        let placementRows = (0..<placement.numLayers).map { row(placement.physicalToLogical(layer: $0)) { String($0) } }
        let header = [
            ("num_layers", placement.numLayers), ("num_experts", placement.numExperts), ("num_replicas", c.numReplicas),
            ("num_gpus", c.numGPUs), ("num_nodes", c.numNodes), ("initial_layer", initialLayer),
        ].map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
        return "{" + header + ",\n"
            + "\"balancedness_before\":" + row(balancedness.perLayerBefore, ExpertLoadMatrix.jsonNumber) + ",\n"
            + "\"balancedness_after\":" + row(balancedness.perLayerAfter, ExpertLoadMatrix.jsonNumber) + ",\n"
            + "\"weight\":[\n" + weightRows.joined(separator: ",\n") + "],\n"
            + "\"phy2log\":[\n" + placementRows.joined(separator: ",\n") + "]}"
    }

    /// The page's script. `drawLayer` and its helpers mirror the Swift drawing
    /// (``drawLayer(_:_:top:)``, ``drawGPULoads(_:_:top:)``, ``drawPlacementGrid(_:_:top:)``,
    /// ``loadAxis(maximum:)``, ``tickLabel(_:axis:)``, `SVGCanvas`): change them together.
    static let script = #"""
        (function () {
          'use strict';
          var data = JSON.parse(document.getElementById('eplb-data').textContent);
          var select = document.getElementById('layer'), view = document.getElementById('layer-view');
          var marker = document.getElementById('overview-selected');
          var WIDTH = 1200, LEFT = 64, RIGHT = 16, PLOT = WIDTH - LEFT - RIGHT, LOAD_HEIGHT = 170;

          // SVGCanvas
          function n(v) { return String(Math.round(v * 10) / 10); }
          function esc(s) {
            return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
          }
          function short(v) {
            if (v >= 1e9) return (v / 1e9).toFixed(1) + 'G';
            if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
            if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
            if (v >= 100 || v === Math.round(v)) return String(Math.round(v));
            return v.toFixed(1);
          }
          function rect(out, x, y, w, h, cls, title, opacity) {
            var s = '<rect x="' + n(x) + '" y="' + n(y) + '" width="' + n(w) + '" height="' + n(h) + '"';
            if (cls) s += ' class="' + cls + '"';
            if (opacity !== undefined) s += ' fill-opacity="' + opacity.toFixed(2) + '"';
            out.push(title ? s + '><title>' + esc(title) + '</title></rect>\n' : s + '/>\n');
          }
          function line(out, x1, y1, x2, y2, cls) {
            out.push('<line x1="' + n(x1) + '" y1="' + n(y1) + '" x2="' + n(x2) + '" y2="' + n(y2) + '" class="' + cls + '"/>\n');
          }
          function text(out, str, x, y, cls, anchor) {
            var s = '<text x="' + n(x) + '" y="' + n(y) + '"';
            if (cls) s += ' class="' + cls + '"';
            if (anchor) s += ' text-anchor="' + anchor + '"';
            out.push(s + '>' + esc(str) + '</text>\n');
          }

          // PlacementReport.loadAxis and tickLabel
          function loadAxis(maximum) {
            if (!(maximum > 0) || !isFinite(maximum)) return { top: 1, step: 1 };
            var magnitude = Math.pow(10, Math.floor(Math.log10(maximum / 5))), multiples = [1, 2, 2.5, 5, 10];
            for (var i = 0; i < multiples.length; i++) {
              var step = multiples[i] * magnitude, intervals = Math.ceil(maximum / step);
              if (intervals * step < maximum) intervals += 1;
              if (intervals <= 5) return { top: intervals * step, step: step };
            }
            return { top: 50 * magnitude, step: 10 * magnitude };
          }
          function tickLabel(value, axis) {
            if (value === 0) return '0';
            var scale = 1, suffix = '';
            if (axis.top >= 1e9) { scale = 1e9; suffix = 'G'; }
            else if (axis.top >= 1e6) { scale = 1e6; suffix = 'M'; }
            else if (axis.top >= 1e4) { scale = 1e3; suffix = 'k'; }
            var step = axis.step / scale, decimals = 0;
            while (decimals < 6) {
              var shifted = step * Math.pow(10, decimals);
              if (Math.abs(shifted - Math.round(shifted)) <= 1e-9 * Math.max(1, shifted)) break;
              decimals += 1;
            }
            return (value / scale).toFixed(decimals) + suffix;
          }

          // ExpertLoadMatrix.gpuLoadsWithoutReplication and ExpertPlacement.gpuLoads
          function loadsBefore(weight, p) {
            var base = Math.floor(weight.length / p), extra = weight.length % p, loads = [], k = 0;
            for (var gpu = 0; gpu < p; gpu++) {
              var size = base + (gpu < extra ? 1 : 0), sum = 0;
              for (var j = 0; j < size; j++) sum += weight[k++];
              loads.push(sum);
            }
            return loads;
          }
          function loadsAfter(weight, experts, counts, p) {
            var perGPU = experts.length / p, loads = [], slot = 0;
            for (var gpu = 0; gpu < p; gpu++) {
              var sum = 0;
              for (var j = 0; j < perGPU; j++, slot++) sum += weight[experts[slot]] / counts[experts[slot]];
              loads.push(sum);
            }
            return loads;
          }

          // PlacementReport.drawGPULoads
          function drawLoads(out, weight, experts, counts, top) {
            var p = data.num_gpus, nodes = data.num_nodes, height = LOAD_HEIGHT;
            var before = loadsBefore(weight, p), after = loadsAfter(weight, experts, counts, p);
            var axis = loadAxis(Math.max(Math.max.apply(null, before), Math.max.apply(null, after)));
            var mean = after.reduce(function (a, b) { return a + b; }, 0) / p;
            var y0 = top + 30, step = PLOT / p, barWidth = Math.max(step / 2 - (step > 6 ? 1 : 0), 0.4), legend = top + 8;
            rect(out, LEFT, legend - 8, 10, 10, 'before');
            text(out, 'before: experts split contiguously, no replicas', LEFT + 14, legend + 1, 'legend');
            rect(out, LEFT + 290, legend - 8, 10, 10, 'after');
            text(out, 'after: EPLB placement', LEFT + 304, legend + 1, 'legend');
            line(out, LEFT + 440, legend - 3, LEFT + 470, legend - 3, 'mean');
            text(out, 'mean GPU load', LEFT + 476, legend + 1, 'legend');
            rect(out, LEFT, y0, PLOT, height, 'plot');
            var intervals = Math.round(axis.top / axis.step);
            for (var tick = 0; tick <= intervals; tick++) {
              var value = tick === intervals ? axis.top : tick * axis.step, y = y0 + height * (1 - value / axis.top);
              line(out, LEFT, y, LEFT + PLOT, y, 'grid');
              text(out, tickLabel(value, axis), LEFT - 6, y + 4, 'axis', 'end');
            }
            for (var gpu = 0; gpu < p; gpu++) {
              var x = LEFT + gpu * step, hb = height * before[gpu] / axis.top, ha = height * after[gpu] / axis.top;
              out.push('<g><title>' + esc('GPU ' + gpu + ': ' + short(before[gpu]) + ' → ' + short(after[gpu])) + '</title>');
              rect(out, x + 0.5, y0 + height - hb, barWidth, hb, 'before bar');
              rect(out, x + 0.5 + barWidth, y0 + height - ha, barWidth, ha, 'after bar');
              out.push('</g>\n');
            }
            var meanY = y0 + height * (1 - mean / axis.top);
            line(out, LEFT, meanY, LEFT + PLOT, meanY, 'mean');
            if (nodes > 1 && p % nodes === 0) {
              var perNode = p / nodes, node;
              for (node = 1; node < nodes; node++) line(out, LEFT + node * perNode * step, y0, LEFT + node * perNode * step, y0 + height, 'node');
              if (nodes <= 16) {
                for (node = 0; node < nodes; node++) text(out, 'node ' + node, LEFT + (node * perNode + 0.5 * perNode) * step, y0 - 4, 'axis', 'middle');
              }
            }
            var labelEvery = Math.max(1, Math.ceil(p / 32));
            for (gpu = 0; gpu < p; gpu += labelEvery) text(out, String(gpu), LEFT + (gpu + 0.5) * step, y0 + height + 13, 'axis', 'middle');
            text(out, 'GPU', LEFT + PLOT, y0 + height + 27, 'axis', 'end');
            return y0 + height + 30;
          }

          // PlacementReport.drawPlacementGrid
          function drawGrid(out, weight, experts, counts, top) {
            var p = data.num_gpus, perGPU = data.num_replicas / p, nodes = data.num_nodes;
            var perNode = p % nodes === 0 ? p / nodes : p;
            var gap = 3, nodeGap = perNode < p ? 6 : 0, cellHeight = 15;
            var fit = Math.max(1, Math.floor(PLOT / (30 + gap)));
            var columns = fit >= p ? p : (fit >= perNode ? Math.floor(fit / perNode) * perNode : fit);
            var nodeGaps = Math.max(Math.floor((columns - 1) / perNode), 0) * nodeGap;
            var cellWidth = Math.min(44, (PLOT - nodeGaps) / columns - gap);
            var slotLoads = experts.map(function (e) { return weight[e] / counts[e]; });
            var maximum = Math.max(Math.max.apply(null, slotLoads), 1e-300);
            text(out, 'Placement: slot → expert id per GPU (shade = load carried by the slot; orange = replicated expert, ×k = its replica count)', LEFT, top + 10, 'legend');
            var y0 = top + 18, blockHeight = perGPU * cellHeight + 16;
            out.push('<g class="cells">');
            for (var gpu = 0; gpu < p; gpu++) {
              var column = gpu % columns;
              var x = LEFT + column * (cellWidth + gap) + Math.floor(column / perNode) * nodeGap;
              var y = y0 + Math.floor(gpu / columns) * blockHeight;
              text(out, String(gpu), x + cellWidth / 2, y + 9, 'axis');
              for (var rank = 0; rank < perGPU; rank++) {
                var slot = gpu * perGPU + rank, expert = experts[slot], count = counts[expert];
                var title = 'GPU ' + gpu + ' · slot ' + slot + ' · expert ' + expert + (count > 1 ? ' (' + count + ' replicas)' : '') + ' · load ' + short(slotLoads[slot]);
                var cy = y + 12 + rank * cellHeight;
                rect(out, x, cy, cellWidth, cellHeight - 1, count > 1 ? 'replica' : 'single', title, 0.15 + 0.85 * slotLoads[slot] / maximum);
                text(out, count > 1 ? expert + '×' + count : String(expert), x + cellWidth / 2, cy + 10.5);
              }
            }
            out.push('</g>\n');
            return y0 + Math.ceil(p / columns) * blockHeight;
          }

          // PlacementReport.drawLayer
          function drawLayer(layer) {
            var weight = data.weight[layer], experts = data.phy2log[layer], counts = [], e;
            for (e = 0; e < data.num_experts; e++) counts.push(0);
            for (e = 0; e < experts.length; e++) counts[experts[e]] += 1;
            var out = [];
            text(out, 'Layer ' + layer + ': balancedness ' + data.balancedness_before[layer].toFixed(3) + ' → ' +
              data.balancedness_after[layer].toFixed(3) + '; most replicas of one expert: ' + Math.max.apply(null, counts), LEFT, 16, 'heading');
            var y = drawLoads(out, weight, experts, counts, 24);
            var h = n(drawGrid(out, weight, experts, counts, y + 8) + 4);
            return '<svg data-layer="' + layer + '" data-rendered="script" width="' + WIDTH + '" height="' + h +
              '" viewBox="0 0 ' + WIDTH + ' ' + h + '" role="img">\n' + out.join('') + '</svg>\n';
          }

          function show(layer) {
            if (isNaN(layer)) return;
            layer = Math.max(0, Math.min(data.num_layers - 1, layer));
            view.innerHTML = drawLayer(layer);
            select.value = String(layer);
            if (marker) marker.setAttribute('x', Number(marker.dataset.left) + layer * Number(marker.dataset.step));
            document.documentElement.setAttribute('data-eplb-ready', String(layer));
          }
          function fromHash() {
            var hash = /^#layer=(\d+)$/.exec(location.hash);
            return hash ? Number(hash[1]) : NaN;
          }
          select.addEventListener('change', function () { show(Number(select.value)); });
          document.getElementById('prev').addEventListener('click', function () { show(Number(select.value) - 1); });
          document.getElementById('next').addEventListener('click', function () { show(Number(select.value) + 1); });
          document.querySelectorAll('#overview .hit').forEach(function (r) {
            r.addEventListener('click', function () { show(Number(r.dataset.layer)); });
          });
          document.addEventListener('keydown', function (e) {
            if (e.target === select) return;
            if (e.key === 'ArrowLeft') show(Number(select.value) - 1);
            if (e.key === 'ArrowRight') show(Number(select.value) + 1);
          });
          window.addEventListener('hashchange', function () { show(fromHash()); });
          var wanted = fromHash();
          show(isNaN(wanted) ? data.initial_layer : wanted);
        })();
        """#
}
