import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a non-blocking kernel event queue (inotify or fanotify) until it is empty,
/// handing each chunk of records to `body`.
enum EventQueue {
    static func drain(
        _ descriptor: FileDescriptor, name: String, body: (_ records: UnsafeMutableRawPointer, _ count: Int) -> Void
    ) throws(WatchError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let count: Int
            do {
                count = try Linux.read(descriptor, into: buffer, displayPath: name)
            } catch {
                if error.errno == .wouldBlock { return }
                throw WatchError(error.description)
            }
            if count == 0 { return }
            body(buffer.baseAddress!, count)
        }
    }
}
