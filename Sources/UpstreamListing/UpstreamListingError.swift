/// A configuration the listing cannot work with; the message names the option.
public struct UpstreamListingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
