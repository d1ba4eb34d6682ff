/// Why a list that came over HTTP cannot be used: the message names the URL.
public struct ListTransportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
