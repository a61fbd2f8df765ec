/// The self-contained HTML page: inline CSS, SVG and a few lines of JavaScript, no network.
extension PlacementReport {
    /// The page: summary, balancedness overview (click a layer to select it), a layer selector
    /// (also ←/→ keys, or `#layer=N` in the URL) and, per layer, the GPU load bars and the placement
    /// grid. When the script has run, the root element carries `data-eplb-ready` = the layer shown.
    public func html(title: String = "EPLB placement") -> String {
        let initial = leastBalancedLayer
        var overview = SVGCanvas()
        let overviewHeight = drawOverview(&overview, top: 0, selected: initial, clickable: true)
        var layers = ""
        for layer in 0..<placement.numLayers {
            var canvas = SVGCanvas()
            let height = drawLayer(&canvas, layer, top: 0)
            let shown = layer == initial ? " shown" : ""
            layers += "<div class=\"layer\(shown)\" id=\"layer-\(layer)\">\n" + canvas.svg(width: Self.width, height: height + 4) + "</div>\n"
        }
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
            .controls{margin:6px 0;font-size:13px}select,button{font-size:13px;margin-right:4px}
            .layer{display:none}.layer.shown{display:block}svg{display:block}
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
            \(layers)
            <script>
            (function () {
              var select = document.getElementById('layer'), marker = document.getElementById('overview-selected');
              var count = select.options.length;
              function show(layer) {
                layer = Math.max(0, Math.min(count - 1, layer));
                var current = document.querySelector('.layer.shown');
                if (current) current.classList.remove('shown');
                document.getElementById('layer-' + layer).classList.add('shown');
                select.value = String(layer);
                if (marker) marker.setAttribute('x', Number(marker.dataset.left) + layer * Number(marker.dataset.step));
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
              var hash = /^#layer=(\\d+)$/.exec(location.hash);
              if (hash) show(Number(hash[1]));
              document.documentElement.setAttribute('data-eplb-ready', select.value);
            })();
            </script>
            </body>
            </html>

            """
    }
}
