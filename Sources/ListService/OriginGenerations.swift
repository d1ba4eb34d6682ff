import ListProtocol

/// The origin generations a server has heard announced (a relay, from its upstream's
/// change stream) or installed (its own announcements), oldest first: what `/status`
/// reports and its lag is taken from.
///
/// Each record is made when its announcement arrives, under the catalog's lock, and costs
/// an append; nothing is formatted here.
struct OriginGenerations {
    struct Record {
        var generation: Int
        /// When the origin announced it, as its hop says, and as seconds since the epoch.
        var published: String
        var publishedSeconds: Double
        /// When this server installed it (its own hop's time), if it did.
        var installed: String?
        /// The hops that brought it: as heard from upstream, or as this server announced it.
        var hops: [Hop]
        /// The ETags of the lists it announced: a relay finds which generation its lists
        /// are by them, as it passes its upstream's lists on byte for byte.
        var etags: Set<String>
    }

    /// The window kept: as long as the announcements kept for `Last-Event-ID` resume.
    let capacity: Int
    /// The origin's name; nil before the first announcement.
    private(set) var origin: String?
    private(set) var records: [Record] = []
    /// The origin generation this server holds; nil when it is not known.
    private(set) var held: Int?

    init(capacity: Int) { self.capacity = capacity }

    var heldRecord: Record? { held.flatMap { held in records.last { $0.generation == held } } }

    /// The oldest generation newer than the one held: the lag runs from its publishing.
    /// With nothing held, every generation heard of is lacking.
    var oldestLacking: Record? { records.first { $0.generation > held ?? Int.min } }

    /// A generation announced upstream (not installed here yet).
    mutating func heard(_ announcement: Announcement) {
        _ = record(announcement.hops, etags: Set(announcement.lists.values))
    }

    /// This server's own announcement: it holds the generation its first hop names, since
    /// its last hop's time.
    mutating func installed(_ announcement: Announcement) {
        guard let index = record(announcement.hops, etags: Set(announcement.lists.values)) else { return }
        records[index].installed = announcement.hops.last?.announced
        records[index].hops = announcement.hops
        held = records[index].generation
    }

    /// This server installed lists whose origin generation it does not know (a relay
    /// told nothing by quick-mirror, before its upstream's stream said anything).
    mutating func heldUnknown() {
        held = nil
    }

    /// The newest generation heard of whose lists include every one of `etags`.
    func newest(carrying etags: Set<String>) -> Record? {
        guard !etags.isEmpty else { return nil }
        return records.last { etags.isSubset(of: $0.etags) }
    }

    /// Marks a generation heard of as held, installed at `time`: a relay's lists turned
    /// out to be that generation's.
    mutating func hold(_ generation: Int, installed time: String) {
        guard let index = records.lastIndex(where: { $0.generation == generation }) else { return }
        if records[index].installed == nil { records[index].installed = time }
        held = generation
    }

    /// Adds or updates the record of the origin generation `hops` start with; returns its
    /// index. An origin that restarted counts from 1 again, and another origin is
    /// another count: either starts the records afresh.
    private mutating func record(_ hops: [Hop], etags: Set<String>) -> Int? {
        guard let first = hops.first, let seconds = InternetTime.seconds(from: first.announced) else { return nil }
        let restarted =
            first.host != origin
            || records.contains { $0.generation == first.generation && $0.published != first.announced }
            || records.last.map { first.generation < $0.generation && seconds > $0.publishedSeconds } ?? false
        if restarted {
            origin = first.host
            records = []
            held = nil
        }
        if let index = records.lastIndex(where: { $0.generation == first.generation }) {
            records[index].etags.formUnion(etags)
            return index
        }
        let record = Record(
            generation: first.generation, published: first.announced, publishedSeconds: seconds, installed: nil,
            hops: hops, etags: etags)
        let index = records.firstIndex { $0.generation > first.generation } ?? records.endIndex
        records.insert(record, at: index)
        if records.count > capacity {
            records.removeFirst(records.count - capacity)
            return records.lastIndex { $0.generation == first.generation }
        }
        return index
    }
}
