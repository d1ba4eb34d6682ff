import Foundation
import ListProtocol

/// `/status`, the status page and the origin figures of `/metrics`: what the catalog
/// recorded as announcements arrived, read per request. The answer's body is rendered
/// once per change and reused; a request formats only its time, its lag and the
/// subscriber count.
extension ListCatalog {
    /// A relay's upstream announced a generation (its change stream): it is recorded as
    /// heard of, so the lag runs until the relay holds it. When the lists the relay
    /// serves are that generation's (it started after quick-mirror installed them), the
    /// relay holds it from now.
    public func heard(_ announcement: Announcement) {
        state.withLock { state in
            state.origins.heard(announcement)
            state.statusChanges += 1
            let etags = Set(state.current.values.map(\.etag))
            guard let first = announcement.hops.first, !etags.isEmpty,
                etags.isSubset(of: Set(announcement.lists.values)), first.generation > state.origins.held ?? Int.min
            else { return }
            let installed = state.current.values.map(\.installed).max() ?? InternetTime.format(Date().timeIntervalSince1970)
            state.origins.hold(first.generation, installed: installed)
        }
    }

    /// Names the upstream a relay follows, for `/status`; `connected` says whether its
    /// change stream is up.
    public func follow(upstream url: String, connected: @escaping @Sendable () -> Bool) {
        upstream.withLock { $0 = (url, connected) }
    }

    /// The origin generation held and the lag, for `/metrics`.
    public var originFigures: (generation: Int?, lag: Double) {
        let now = Date().timeIntervalSince1970
        return state.withLock { state in
            (state.origins.heldRecord?.generation, Self.lag(state.origins, now: now))
        }
    }

    static func lag(_ origins: OriginGenerations, now: Double) -> Double {
        guard let lacking = origins.oldestLacking else { return 0 }
        return max(0, now - lacking.publishedSeconds)
    }

    /// The body of `GET /status` at `now` (seconds since the epoch).
    func statusBody(now: Double) -> [UInt8] {
        let (rendered, lag) = state.withLock { state -> ([UInt8]?, Double) in
            let lag = Self.lag(state.origins, now: now)
            guard let rendered = state.renderedStatus, rendered.changes == state.statusChanges else {
                return (nil, lag)
            }
            return (rendered.body, lag)
        }
        let tail = rendered ?? renderStatus()
        var head = "{\"now\":\"\(InternetTime.format(now))\",\"lag_seconds\":\(Self.decimal(lag)),"
        head += "\"subscribers\":\(subscriberCount),"
        if let upstream = upstream.withLock({ $0 }) {
            head += "\"upstream\":{\"url\":\(Self.jsonString(upstream.url)),\"connected\":\(upstream.connected())},"
        } else {
            head += "\"upstream\":null,"
        }
        // `tail` is a whole object: its opening brace gives way to the fields above.
        return Array(head.utf8) + tail.dropFirst()
    }

    /// The part of `/status` that changes only with announcements and versions, as a JSON
    /// object; kept until the next change.
    private func renderStatus() -> [UInt8] {
        let (snapshot, changes) = state.withLock { state in
            (statusSnapshot(state), state.statusChanges)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = [UInt8]((try? encoder.encode(snapshot)) ?? Data("{}".utf8))
        state.withLock { state in
            if state.statusChanges == changes { state.renderedStatus = (changes, body) }
        }
        return body
    }

    /// The fields of `ServerStatus` that do not change per request.
    struct StatusSnapshot: Encodable {
        var server: String
        var role: String
        var generation: Int
        var origin: ServerStatus.Origin?
        var installed: String?
        var route: [Hop]
        var lists: [ServerStatus.List]
        var recent: [ServerStatus.Seen]
    }

    private func statusSnapshot(_ state: State) -> StatusSnapshot {
        let held = state.origins.heldRecord
        return StatusSnapshot(
            server: host, role: publisher == nil ? "relay" : "origin", generation: state.announcement?.generation ?? 0,
            origin: held.map {
                ServerStatus.Origin(name: state.origins.origin ?? "", generation: $0.generation, published: $0.published)
            },
            installed: held?.installed, route: held?.hops ?? [],
            lists: lists.compactMap { path in
                state.current[path].map {
                    ServerStatus.List(
                        path: path, etag: $0.etag, generation: $0.generation, installed: $0.installed, size: $0.size,
                        entries: $0.entries)
                }
            },
            recent: state.origins.records.map {
                ServerStatus.Seen(generation: $0.generation, published: $0.published, installed: $0.installed)
            })
    }

    /// What the status page shows, read in one look at the state.
    struct PageFacts {
        var status: StatusSnapshot
        var lag: Double
        var subscribers: Int
        var upstream: ServerStatus.Upstream?
        /// The last generations' hops, newest first.
        var chains: [(generation: Int, installed: Bool, hops: [Hop])]
        var nowSeconds: Double
        var now: String { InternetTime.format(nowSeconds) }
    }

    func pageFacts(now: Double, chains: Int) -> PageFacts {
        let upstream = upstream.withLock { $0 }.map { ServerStatus.Upstream(url: $0.url, connected: $0.connected()) }
        let subscribers = subscriberCount
        return state.withLock { state in
            PageFacts(
                status: statusSnapshot(state), lag: Self.lag(state.origins, now: now), subscribers: subscribers,
                upstream: upstream,
                chains: state.origins.records.suffix(chains).reversed().map {
                    ($0.generation, $0.installed != nil, $0.hops)
                },
                nowSeconds: now)
        }
    }

    /// The newest announcement this server still has (the last 256) in which each list
    /// named has the ETag given; with none given, the current one. How a client that
    /// fetched lists learns which generation it holds, even when a newer one came
    /// meanwhile.
    public func announcement(carrying etags: [(path: String, etag: String)]) -> Announcement? {
        state.withLock { state in
            guard !etags.isEmpty else { return state.announcement }
            return state.recent.last { announcement in
                etags.allSatisfy { wanted in
                    announcement.lists[wanted.path].map { Self.sameDigest($0, wanted.etag) } ?? false
                }
            }
        }
    }

    /// Two ETags of one content: of the plain or the gzip form, quoted or the bare digest
    /// (`EntityTag` owns how a tag names a list digest).
    static func sameDigest(_ one: String, _ other: String) -> Bool {
        guard let digest = EntityTag.listDigest(named: one) else { return false }
        return digest == EntityTag.listDigest(named: other)
    }

    /// Seconds to the millisecond, as JSON writes a number.
    static func decimal(_ value: Double) -> String {
        let milliseconds = Int((value * 1000).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    static func jsonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
