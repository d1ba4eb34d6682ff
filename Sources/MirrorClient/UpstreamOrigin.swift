import Foundation
import ListProtocol
import ListTransport

/// Which origin generation a run's lists are, and how far behind that left the mirror,
/// asked of the upstream filelistd after the run: its announcement that carries the very
/// ETags fetched (even when a newer one came meanwhile), and its `/status`. Two small
/// requests; an upstream that is not a filelistd, or an older one, answers neither, and
/// the run's figures then leave the origin out.
struct UpstreamOrigin: Sendable {
    /// The upstream's announcement of these lists: its hops go on to the local relay.
    var announcement: Announcement
    var origin: ServerStatus.Origin
    /// 0 when the upstream had heard of nothing newer; nil when its /status did not say.
    var lag: Double?

    static func look(base: String, etags: [String: String], timeout: Double) -> UpstreamOrigin? {
        let digests = etags.sorted { $0.key < $1.key }.compactMap { path, etag in
            EntityTag(etag)?.listDigest.map { (path: path, digest: $0) }
        }
        guard !digests.isEmpty else { return nil }
        let asked = StatusFetch.start(ListURL.announcement(base: base, carrying: digests), timeout: timeout)
        let status = StatusFetch.start(ListURL.status(base: base), timeout: timeout)
        guard case .success(let bytes)? = try? asked.wait(),
            let announcement = try? JSONDecoder().decode(Announcement.self, from: Data(bytes)),
            digests.allSatisfy({ wanted in
                announcement.lists[wanted.path].flatMap { EntityTag($0)?.listDigest } == wanted.digest
            }),
            let first = announcement.hops.first, first.generation >= 0,
            let published = InternetTime.seconds(from: first.announced)
        else { return nil }
        let origin = ServerStatus.Origin(name: first.host, generation: first.generation, published: first.announced)
        var lag: Double?
        if case .success(let bytes)? = try? status.wait(), let upstream = try? ServerStatus(validating: bytes),
            let now = InternetTime.seconds(from: upstream.now)
        {
            let sameOrigin = (upstream.origin?.name ?? upstream.route.first?.host) == first.host
            let lacking = upstream.recent.compactMap { InternetTime.seconds(from: $0.published) }.filter {
                $0 > published + 0.0005
            }
            lag = sameOrigin ? lacking.min().map { max(0, now - $0) } ?? 0 : nil
        }
        return UpstreamOrigin(announcement: announcement, origin: origin, lag: lag)
    }
}
