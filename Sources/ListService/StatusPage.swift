import Foundation
import ListProtocol

/// The page a browser gets at `/`: the lists, how far behind the origin this server is,
/// the hops the last generations took to reach it, and its followers. One document, no
/// script, no external asset; every name that came over the network is escaped.
enum StatusPage {
    static func render(_ facts: ListCatalog.PageFacts) -> String {
        let status = facts.status
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="refresh" content="10">
            <title>\(escape(status.server)): list server status</title>
            <style>
            body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; padding: 0 1em; color: #1d232a; }
            h1 { font-size: 1.45em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.6em 0 .5em; }
            .sub { color: #5a6470; margin: 0 0 1em; }
            .cards { display: flex; flex-wrap: wrap; gap: .8em; }
            .card { border: 1px solid #d5dbe1; border-radius: 6px; padding: .55em .9em; min-width: 9em; }
            .card b { display: block; font-size: 1.35em; }
            .card small { display: block; color: #5a6470; font-size: .85em; }
            .ok { color: #17753a; } .late { color: #b3261e; }
            table { border-collapse: collapse; width: 100%; }
            th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e4e8ec; vertical-align: middle; }
            th { font-size: .85em; color: #5a6470; font-weight: 600; }
            td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
            code { font-size: .85em; }
            .hop { white-space: nowrap; font-size: .9em; }
            td.when, th.num { white-space: nowrap; }
            .pending { color: #b3261e; }
            footer { margin-top: 2em; color: #5a6470; font-size: .85em; }
            </style></head><body>

            """
        let role = status.role == "origin" ? "origin" : "relay"
        html += "<h1>\(escape(status.server))</h1>\n<p class=\"sub\">filelistd \(role)"
        if let upstream = facts.upstream {
            html += ", following <code>\(escape(upstream.url))</code> "
            html += upstream.connected ? "(connected)" : "<span class=\"late\">(not connected)</span>"
        }
        html += " &middot; as of \(escape(facts.now))</p>\n<div class=\"cards\">\n"
        html += card("\(status.generation)", "this server's generation")
        if let origin = status.origin {
            html += card(
                "\(escape(origin.name)) #\(origin.generation)", "origin generation held,<br>published \(time(origin.published))")
        } else {
            html += card("none", "origin generation held")
        }
        let lagClass = facts.lag > 0 ? "late" : "ok"
        html += card(
            "<span class=\"\(lagClass)\">\(seconds(facts.lag))</span>",
            facts.lag > 0 ? "behind the origin" : "behind the origin: current")
        html += card("\(facts.subscribers)", "/events subscribers")
        html += "</div>\n"

        html += "<h2>Lists</h2>\n<table><tr><th>list</th><th class=\"num\">generation</th><th class=\"num\">size</th>"
        html += "<th class=\"num\">entries</th><th>last change</th><th>ETag</th></tr>\n"
        for list in status.lists {
            html += "<tr><td><code>\(escape(list.path))</code></td><td class=\"num\">\(list.generation)</td>"
            html += "<td class=\"num\">\(bytes(list.size))</td>"
            html += "<td class=\"num\">\(list.entries.map(grouped) ?? "&hellip;")</td>"
            html += "<td>\(time(list.installed))</td><td><code>\(escape(String(list.etag.prefix(14))))&hellip;</code></td></tr>\n"
        }
        if status.lists.isEmpty { html += "<tr><td colspan=\"6\">no list served yet</td></tr>\n" }
        html += "</table>\n"

        html += "<h2>The last generations down the tiers</h2>\n"
        html += chainTable(facts.chains, held: status.origin?.generation, now: facts.nowSeconds)
        html += "<footer>The same as JSON: <a href=\"/status\">/status</a> &middot; "
        html += "<a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a></footer>\n"
        html += "</body></html>\n"
        return html
    }

    /// One row per origin generation, newest first: when each tier announced it, after the
    /// origin, as text and on a timeline shared by the rows.
    static func chainTable(_ chains: [(generation: Int, installed: Bool, hops: [Hop])], held: Int?, now: Double?)
        -> String
    {
        guard !chains.isEmpty else { return "<p>No generation announced yet.</p>\n" }
        // Each row: its hops with their delays after the origin, and for a generation still
        // pending here, how long it has waited so far (drawn on the same scale).
        let rows = chains.map { chain -> (Int, Bool, [(Hop, Double)], Double?) in
            let origin = chain.hops.first.flatMap { InternetTime.seconds(from: $0.announced) } ?? 0
            let pending = !chain.installed && chain.generation > held ?? Int.min
            return (
                chain.generation, chain.installed,
                chain.hops.map { ($0, max(0, (InternetTime.seconds(from: $0.announced) ?? origin) - origin)) },
                pending ? now.map { max(0, $0 - origin) } : nil
            )
        }
        let widest = max(0.001, rows.flatMap { $0.2.map(\.1) + ($0.3.map { [$0] } ?? []) }.max() ?? 0)
        var html = "<table><tr><th class=\"num\">origin generation</th><th>published</th><th>hops (delay after the origin)</th>"
        html += "<th>timeline, 0 to \(seconds(widest))</th></tr>\n"
        for (generation, installed, hops, waiting) in rows {
            let published = hops.first.map { time($0.0.announced) } ?? ""
            html += "<tr><td class=\"num\">\(generation)\(generation == held ? " (held)" : "")</td><td class=\"when\">\(published)</td><td>"
            html += hops.enumerated().map { index, hop in
                let label = "\(escape(hop.0.host))&nbsp;#\(hop.0.generation)"
                return index == 0 ? "<span class=\"hop\">\(label)</span>" : "<span class=\"hop\">\(label) +\(seconds(hop.1))</span>"
            }.joined(separator: " &rarr; ")
            if let waiting {
                html += " &rarr; <span class=\"pending hop\">here: not yet (\(seconds(waiting)))</span>"
            } else if !installed {
                html += " &rarr; <span class=\"hop\">here: skipped for a newer one</span>"
            }
            html += "</td><td>\(timeline(hops.map(\.1), widest: widest, waiting: waiting))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// A small inline SVG: a line from the origin's publishing to the last hop, a dot per hop;
    /// for a generation not here yet, a dashed line on to an open circle at its wait so far.
    static func timeline(_ delays: [Double], widest: Double, waiting: Double?) -> String {
        let width = 220.0
        let x = { (delay: Double) in 6 + (width - 12) * delay / widest }
        var svg = "<svg width=\"\(Int(width))\" height=\"16\" viewBox=\"0 0 \(Int(width)) 16\" role=\"img\">"
        svg += "<line x1=\"6\" y1=\"8\" x2=\"\(Int(width - 6))\" y2=\"8\" stroke=\"#e4e8ec\" stroke-width=\"2\"/>"
        if let last = delays.last {
            svg += "<line x1=\"6\" y1=\"8\" x2=\"\(format(x(last)))\" y2=\"8\" stroke=\"#4a7fb5\" stroke-width=\"3\"/>"
        }
        for (index, delay) in delays.enumerated() {
            let color = index == 0 ? "#1d232a" : "#4a7fb5"
            svg += "<circle cx=\"\(format(x(delay)))\" cy=\"8\" r=\"4\" fill=\"\(color)\"/>"
        }
        if let waiting {
            let from = format(x(delays.last ?? 0))
            svg += "<line x1=\"\(from)\" y1=\"8\" x2=\"\(format(x(waiting)))\" y2=\"8\" stroke=\"#b3261e\" "
            svg += "stroke-width=\"2\" stroke-dasharray=\"3 3\"/>"
            svg += "<circle cx=\"\(format(x(waiting)))\" cy=\"8\" r=\"4\" fill=\"#fff\" stroke=\"#b3261e\" stroke-width=\"1.5\"/>"
        }
        return svg + "</svg>"
    }

    static func card(_ value: String, _ label: String) -> String {
        "<div class=\"card\"><b>\(value)</b><small>\(label)</small></div>\n"
    }

    /// `2026-12-01 10:00:00.123 UTC` from an RFC 3339 time.
    static func time(_ text: String) -> String {
        guard let seconds = InternetTime.seconds(from: text) else { return escape(text) }
        let formatted = InternetTime.format(seconds)
        return formatted.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    static func seconds(_ value: Double) -> String {
        if value >= 3600 { return "\(Int(value / 3600)) h \(Int(value.truncatingRemainder(dividingBy: 3600) / 60)) min" }
        if value >= 120 { return "\(Int(value / 60)) min \(Int(value.truncatingRemainder(dividingBy: 60))) s" }
        return "\(format(value, places: value < 10 ? 2 : 1)) s"
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(format(value, places: 1)) \(units[unit])"
    }

    static func grouped(_ count: Int) -> String {
        var text = String(count)
        var index = text.count - 3
        while index > 0 {
            text.insert(",", at: text.index(text.startIndex, offsetBy: index))
            index -= 3
        }
        return text
    }

    static func format(_ value: Double, places: Int = 1) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        let whole = scaled / Int(scale)
        let fraction = String(scaled % Int(scale))
        guard places > 0 else { return "\(whole)" }
        return "\(whole).\(String(repeating: "0", count: places - fraction.count))\(fraction)"
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}
