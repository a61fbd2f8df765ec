import Foundation
import HummingbirdTesting
import Server
import Testing

/// `GET /openapi.json` describes every route the router serves, with the schemas it references.
@Suite struct OpenAPIDocumentTests {
    @Test func everyRouteIsDocumented() async throws {
        let server = try TestServer.make()
        let routes = server.makeRouter().routes.map { ($0.method.rawValue.lowercased(), $0.path.description) }
        #expect(routes.count >= 9)
        try await TestServer.withServer(server) { client in
            let r = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(r.status == .ok)
            // Every served path, called with a method it does not serve: 405 and the methods it does.
            for (method, path) in routes {
                let wrong = try await client.execute(uri: path, method: method == "get" ? .delete : .get)
                #expect(wrong.status == .methodNotAllowed && wrong.headers[.allow] == method.uppercased(), "\(path)")
            }
            let document = try #require(try JSONSerialization.jsonObject(with: Data(r.text.utf8)) as? [String: Any])
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            for (method, path) in routes {
                #expect(paths[path]?[method] != nil, "\(method.uppercased()) \(path) is not in /openapi.json")
            }
            #expect(Set(paths.keys).count == Set(routes.map(\.1)).count, "the document has paths the router does not serve")
            // Every $ref names a schema the document defines.
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            let refs = r.text.matches(of: /"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/).map { String($0.1) }
            #expect(!refs.isEmpty)
            for name in Set(refs) { #expect(schemas[name] != nil, "\(name) is referenced but not defined") }
        }
    }
}
