import Hummingbird

/// `hummingbird-floor PORT`: a Hummingbird application set up as filelistd's is (same
/// router, same server name) whose one route answers every GET with a 304 and an ETag,
/// doing nothing else. Its rate under wrk is the most filelistd's polls can reach.
@main
struct HummingbirdFloor {
    static func main() async throws {
        let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8081
        let router = Router()
        router.get("/**") { _, _ in
            Response(status: .notModified, headers: [.eTag: "\"floor\"", .cacheControl: "no-cache"])
        }
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port), serverName: "floor"))
        try await application.runService()
    }
}
