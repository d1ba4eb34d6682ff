import FileList

extension ListSegmentRule {
    /// The segments of the list made from `old` by `splices` (in order, apart), from
    /// `old`'s segments (`oldSegments`, which must be its own): only the segments around
    /// each splice are read and hashed again, the others are reused at their new
    /// offsets. So a client that holds a list and its segments checks the digest of the
    /// next version at the cost of the change, not of the list.
    ///
    /// A splice can move the boundary after the line before it, so hashing starts at
    /// the segment holding that line. After the last splice it goes on until a
    /// segment ends where one of the old list ended: a cut depends only on a line and the
    /// next, so from there on the two versions cut alike.
    public static func segments(
        of old: UnsafeRawBufferPointer, oldSegments: [ListSegment], after splices: [ListSplice]
    ) -> [ListSegment] {
        guard !splices.isEmpty else { return oldSegments }
        var result: [ListSegment] = []
        result.reserveCapacity(oldSegments.count + 2 * splices.count)
        var shift = 0
        var next = 0
        var pending = 0
        func shifted(_ segment: ListSegment) -> ListSegment {
            ListSegment(offset: segment.offset + shift, length: segment.length, digest: segment.digest)
        }
        func end(_ index: Int) -> Int { oldSegments[index].offset + oldSegments[index].length }
        while pending < splices.count {
            let anchor = max(splices[pending].range.lowerBound - 1, 0)
            while next < oldSegments.count && end(next) <= anchor {
                result.append(shifted(oldSegments[next]))
                next += 1
            }
            var position = next < oldSegments.count ? oldSegments[next].offset : old.count
            var digester = ListDigester(offset: position + shift)
            var changedUpTo = position
            var taken = 0
            var synced = false
            while !synced {
                // A splice whose line-before lies in what is read next joins this run.
                let limit = next < oldSegments.count ? end(next) : old.count
                if pending < splices.count, max(splices[pending].range.lowerBound - 1, 0) < limit
                    || splices[pending].range.lowerBound == position
                {
                    let splice = splices[pending]
                    digester.update(UnsafeRawBufferPointer(rebasing: old[position..<splice.range.lowerBound]))
                    splice.bytes.withUnsafeBytes { digester.update($0) }
                    position = splice.range.upperBound
                    changedUpTo = position
                    shift += splice.bytes.count - splice.range.count
                    pending += 1
                    while next < oldSegments.count && end(next) <= position { next += 1 }
                    continue
                }
                guard next < oldSegments.count else { break }
                digester.update(UnsafeRawBufferPointer(rebasing: old[position..<limit]))
                position = limit
                next += 1
                // A cut at an old segment's end, past every change so far: the rest is
                // the old list's, segment for segment.
                while taken < digester.segments.count {
                    let segment = digester.segments[taken]
                    taken += 1
                    let oldEnd = segment.offset + segment.length - shift
                    guard oldEnd >= changedUpTo,
                        let index = Self.segment(startingAt: oldEnd, in: oldSegments, from: next - 1)
                    else { continue }
                    result.append(contentsOf: digester.segments[..<taken])
                    next = index
                    synced = true
                    break
                }
            }
            if !synced {
                result.append(contentsOf: digester.finish().segments)
                next = oldSegments.count
            }
        }
        while next < oldSegments.count {
            result.append(shifted(oldSegments[next]))
            next += 1
        }
        return result
    }

    /// The index of the old segment that starts at `offset`, looking from `from` on
    /// (segments are in order); nil when none does.
    private static func segment(startingAt offset: Int, in segments: [ListSegment], from: Int) -> Int? {
        var index = max(from - 1, 0)
        while index < segments.count && segments[index].offset < offset { index += 1 }
        return index < segments.count && segments[index].offset == offset ? index : nil
    }
}
