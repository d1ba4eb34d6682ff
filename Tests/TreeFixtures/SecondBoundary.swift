#if canImport(Glibc)
    import Glibc
#endif

/// List times are whole seconds: a change made in the same second as the scan before it
/// may not show. Tests that must see a change (a new ctime on a hard link, a chmod)
/// sleep past the next second boundary first.
public func sleepPastNextSecond() {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    usleep(useconds_t((1_000_000_000 - now.tv_nsec) / 1000 + 50_000))
}
