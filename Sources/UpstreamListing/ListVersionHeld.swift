/// The version of a list the listing holds, with what the server said about it.
struct ListVersionHeld: Sendable {
    var bytes: [UInt8]
    var etag: String?
    var lastModified: String?
}
