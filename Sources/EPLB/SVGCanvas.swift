import Foundation

/// A minimal SVG text builder: shapes are appended as elements with CSS classes (styled by the
/// report's stylesheet), optional `<title>` tooltips, and coordinates rounded to 0.1 px.
struct SVGCanvas {
    private(set) var body = ""

    mutating func rect(
        x: Double, y: Double, width: Double, height: Double, class name: String? = nil, title: String? = nil,
        fillOpacity: Double? = nil
    ) {
        var open = "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\""
        if let name { open += " class=\"\(name)\"" }
        if let fillOpacity { open += " fill-opacity=\"\(Self.fixed(fillOpacity, 2))\"" }
        if let title {
            body += open + "><title>\(Self.escape(title))</title></rect>\n"
        } else {
            body += open + "/>\n"
        }
    }

    /// Opens a `<g>`; its `<title>` is the tooltip of everything inside.
    mutating func beginGroup(class name: String? = nil, title: String? = nil) {
        body += "<g" + (name.map { " class=\"\($0)\"" } ?? "") + ">"
        if let title { body += "<title>\(Self.escape(title))</title>" }
    }

    mutating func endGroup() {
        body += "</g>\n"
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, class name: String) {
        body += "<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" class=\"\(name)\"/>\n"
    }

    /// A text element; `class` and `anchor` are omitted when nil (then CSS decides).
    mutating func text(_ string: String, x: Double, y: Double, class name: String? = nil, anchor: String? = "start") {
        var open = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\""
        if let name { open += " class=\"\(name)\"" }
        if let anchor, anchor != "start" { open += " text-anchor=\"\(anchor)\"" }
        body += open + ">\(Self.escape(string))</text>\n"
    }

    mutating func polyline(_ points: [(Double, Double)], class name: String) {
        let list = points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        body += "<polyline points=\"\(list)\" class=\"\(name)\"/>\n"
    }

    mutating func raw(_ markup: String) {
        body += markup
    }

    /// A complete `<svg>` element of the given size around the body; `attributes` (already escaped,
    /// with a leading space) go into the start tag.
    func svg(width: Double, height: Double, id: String? = nil, standalone: Bool = false, attributes: String = "") -> String {
        let xmlns = standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : ""
        let idAttribute = id.map { " id=\"\($0)\"" } ?? ""
        return "<svg\(xmlns)\(idAttribute)\(attributes) width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" role=\"img\">\n\(body)</svg>\n"
    }

    static func n(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A number with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int = 3) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// A load in a short form (12345 → "12.3k", 3614.5 → "3615", 2.25 → "2.3").
    static func short(_ value: Double) -> String {
        switch value {
        case 1e9...: fixed(value / 1e9, 1) + "G"
        case 1e6...: fixed(value / 1e6, 1) + "M"
        case 1e4...: fixed(value / 1e3, 1) + "k"
        case _ where value >= 100 || value == value.rounded(): String(Int(value.rounded()))
        default: fixed(value, 1)
        }
    }
}
